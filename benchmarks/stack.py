"""Benchmark the stack on the lab; prints figures, asserts nothing.

    .venv/bin/python benchmarks/stack.py [--skip-converge] [--seconds 10] [--concurrency 8]

1. Converge timings: the lab hosts of inventories/local are recreated, then
   scripts/up.sh runs twice: a first converge and a no-op converge (wall time).
2. Throughput and latency of GET /api/version, through the balancer (HAProxy,
   TLS) and against one app host directly (nginx + gunicorn, plain HTTP), in the
   same run. The load generator (benchmarks/loadgen.py) runs on the balancer
   host, the only place that may reach an app host's port.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")
KEY = os.path.join(CACHE, "lab", "id_ed25519")
SSH = ["ssh", "-i", KEY, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
       "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]
LB, APP1 = "10.77.0.10", "10.77.0.11"


def timed(cmd):
    start = time.time()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(cmd), res.stdout[-3000:] + res.stderr[-2000:]))
    recap = [line for line in res.stdout.splitlines() if ": ok=" in line]
    return time.time() - start, recap


def loadgen(url, seconds, concurrency):
    cmd = SSH + ["root@%s" % LB, "python3", "/root/loadgen.py", url, "--insecure",
                 "--concurrency", str(concurrency), "--duration", str(seconds)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-converge", action="store_true", help="use the running lab as it is")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    if not args.skip_converge:
        subprocess.run([os.path.join(ROOT, "scripts", "lab.sh"), "up", "--recreate", "lb", "app1", "app2", "db"],
                       check=True, capture_output=True)
        first, dummy = timed([os.path.join(ROOT, "scripts", "up.sh")])
        noop, recap = timed([os.path.join(ROOT, "scripts", "up.sh")])
        print("first converge of the stack (4 hosts): %.1f s" % first)
        print("no-op converge of the stack (4 hosts): %.1f s" % noop)
        print("  " + "\n  ".join(recap))

    subprocess.run(["scp", "-q"] + SSH[1:] + [os.path.join(ROOT, "benchmarks", "loadgen.py"), "root@%s:/root/loadgen.py" % LB],
                   check=True)
    through = loadgen("https://127.0.0.1/api/version", args.seconds, args.concurrency)
    direct = loadgen("http://%s:8080/api/version" % APP1, args.seconds, args.concurrency)
    print("\n%-32s %8s %8s %8s %8s %8s" % ("target", "req/s", "failed", "p50 ms", "p99 ms", "max ms"))
    for name, res in (("balancer (HTTPS, 2 app hosts)", through), ("app1 directly (HTTP)", direct)):
        row = (name, res["rps"], res["failed"], res["p50_ms"], res["p99_ms"], res["max_ms"])
        print("%-32s %8.1f %8d %8.2f %8.2f %8.2f" % row)
    print("\nratio balancer / direct: req/s %.2f, p50 %.2f, p99 %.2f" % (
        through["rps"] / direct["rps"], through["p50_ms"] / direct["p50_ms"], through["p99_ms"] / direct["p99_ms"]))
    print("served by (through the balancer): %s" % through["served_by"])


if __name__ == "__main__":
    main()
