"""A small HTTP(S) load generator (stdlib only, so it also runs on lab hosts).

    python3 loadgen.py URL [--concurrency C | --rate R] [--duration S] [--max-requests N]
                       [--record FILE] [--insecure]

Closed loop (--concurrency): C workers send requests back to back (throughput).
Open loop (--rate): requests start at a fixed rate, whatever the latency
(steady load during a deploy). Every request is bounded by --timeout; the run is
bounded by --duration and --max-requests and stops by itself. Prints one JSON
summary: requests, failures (connection errors and non-2xx/3xx), requests/s,
p50/p90/p99/max latency in ms, and the count of responses per X-Served-By and
X-Release header. --record writes one line per request (start, latency, status,
served-by, release).
"""

import argparse
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def percentile(values, pct):
    if not values:
        return None
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[idx]


class Client:
    def __init__(self, url, timeout, insecure):
        self.url = urllib.parse.urlsplit(url)
        self.path = self.url.path or "/"
        if self.url.query:
            self.path += "?" + self.url.query
        self.timeout = timeout
        self.context = ssl.create_default_context()
        if insecure:  # lab certificates are self-signed
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.conn = None

    def _connect(self):
        host, port = self.url.hostname, self.url.port
        if self.url.scheme == "https":
            return http.client.HTTPSConnection(host, port or 443, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(host, port or 80, timeout=self.timeout)

    def get(self):
        """One request; returns (status or error string, headers dict)."""
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request("GET", self.path, headers={"Connection": "keep-alive"})
                resp = self.conn.getresponse()
                resp.read()
                headers = {"served_by": resp.getheader("X-Served-By"), "release": resp.getheader("X-Release")}
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, headers
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    return "error: %s" % exc.__class__.__name__, {}
            except (OSError, http.client.HTTPException) as exc:
                if self.conn:
                    self.conn.close()
                self.conn = None
                return "error: %s" % exc.__class__.__name__, {}
        return "error: unreachable", {}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--concurrency", type=int, default=0)
    mode.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=100000)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--record")
    parser.add_argument("--stop-file", help="stop early once this file exists")
    args = parser.parse_args()
    if not args.concurrency and not args.rate:
        args.concurrency = 4
    if args.duration <= 0 or args.max_requests <= 0 or args.timeout <= 0:
        sys.exit("duration, max-requests and timeout must be positive")

    results = []
    lock = threading.Lock()
    started = time.time()
    deadline = started + args.duration
    issued = [0]

    def take_ticket():
        with lock:
            if issued[0] >= args.max_requests or time.time() >= deadline:
                return False
            if args.stop_file and issued[0] % 20 == 0:
                try:
                    open(args.stop_file).close()
                    return False
                except OSError:
                    pass
            issued[0] += 1
            return True

    def record(t0, status, headers):
        latency = time.time() - t0
        with lock:
            results.append((t0 - started, latency, status, headers.get("served_by"), headers.get("release")))

    def closed_worker():
        client = Client(args.url, args.timeout, args.insecure)
        while take_ticket():
            t0 = time.time()
            status, headers = client.get()
            record(t0, status, headers)

    def open_worker(queue, cond):
        client = Client(args.url, args.timeout, args.insecure)
        while True:
            with cond:
                while not queue and not done[0]:
                    cond.wait(0.5)
                if not queue:
                    return
                t0 = queue.pop(0)
            status, headers = client.get()
            record(t0, status, headers)

    done = [False]
    threads = []
    if args.concurrency:
        threads = [threading.Thread(target=closed_worker, daemon=True) for dummy in range(args.concurrency)]
        for t in threads:
            t.start()
    else:
        queue, cond = [], threading.Condition()
        pool = max(4, int(args.rate * 2))
        threads = [threading.Thread(target=open_worker, args=(queue, cond), daemon=True) for dummy in range(pool)]
        for t in threads:
            t.start()
        interval = 1.0 / args.rate
        next_at = started
        while take_ticket():
            now = time.time()
            if next_at > now:
                time.sleep(next_at - now)
            with cond:
                queue.append(time.time())
                cond.notify()
            next_at += interval
        with cond:
            done[0] = True
            cond.notify_all()
    for t in threads:
        t.join(args.timeout + args.duration + 5)
    elapsed = time.time() - started

    ok = [r for r in results if isinstance(r[2], int) and r[2] < 400]
    failures = [r for r in results if not (isinstance(r[2], int) and r[2] < 400)]
    latencies = [r[1] * 1000 for r in ok]
    by = {}
    for key, idx in (("served_by", 3), ("release", 4)):
        counts = {}
        for r in ok:
            counts[str(r[idx])] = counts.get(str(r[idx]), 0) + 1
        by[key] = counts
    statuses = {}
    for r in failures:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    summary = {
        "url": args.url, "mode": "rate %.1f/s" % args.rate if args.rate else "concurrency %d" % args.concurrency,
        "requests": len(results), "failed": len(failures), "failures_by_status": statuses,
        "seconds": round(elapsed, 2), "rps": round(len(results) / elapsed, 1) if elapsed else 0,
        "p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99), "max_ms": max(latencies) if latencies else None,
        "served_by": by["served_by"], "release": by["release"],
    }
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        if summary[key] is not None:
            summary[key] = round(summary[key], 2)
    if args.record:
        with open(args.record, "w") as f:
            for r in sorted(results):
                f.write(json.dumps({"t": round(r[0], 4), "latency_ms": round(r[1] * 1000, 2), "status": r[2],
                                    "served_by": r[3], "release": r[4]}) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
