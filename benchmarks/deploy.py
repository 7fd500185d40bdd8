"""Rolling deploys under a steady load: failed requests, latency during the deploy against steady state,
and, for bad releases, the time from the bad release's activation to the rollback being complete.

    .venv/bin/python benchmarks/deploy.py --inventory INVENTORY [--url https://10.77.0.70/api/version]
                                          [--good 1.1.0 --old 1.0.0] [--bad 1.1.1-crash ...]

Needs a stack built by site.yml on the old release and the releases built into ULTRAAI_RELEASE_DIR
(the deploy Molecule scenario's prepare does both: `molecule converge -s deploy`, then point
--inventory at its inventory file). For each release it starts benchmarks/loadgen.py at --rate
requests/s through the balancer, lets it run --steady seconds, runs playbooks/deploy.yml, lets it run
--steady seconds more and stops it. After a good deploy it rolls back (playbooks/rollback.yml,
measured too) so that every bad release starts from the old one. Prints one line per run and a
JSON document; asserts nothing.

The molecule/deploy verify step imports run_under_load() and figures() from here.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from loadgen import percentile  # same directory: python benchmarks/deploy.py

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
LOADGEN = os.path.join(HERE, "loadgen.py")

# Markers in ansible-playbook's output (task headers are printed when a task starts).
ACTIVATION_TASK = "Restart the API]"
ROLLBACK_DONE_TASK = "Read where every app host is after the rollback]"


def run_under_load(playbook, inventory, extra_args=(), url="https://10.77.0.70/api/version", rate=20.0, steady=6.0,
                   max_seconds=600, kill_after=None, workdir=None):
    """Run a playbook of this checkout while loadgen.py sends `rate` requests/s to `url`.

    kill_after: (marker, count, delay): SIGKILL the playbook's process group `delay` seconds after the
    count-th output line containing marker. Returns a dict: rc, output, killed, summary (loadgen's),
    records (one dict per request, t relative to the load's start), the playbook's start and end and
    the times of marker lines on the same clock, and per-line arrival times.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="ultraai-deploy-bench-")
    os.makedirs(workdir, exist_ok=True)
    stop_file = os.path.join(workdir, "stop")
    record = os.path.join(workdir, "requests.jsonl")
    if os.path.exists(stop_file):
        os.unlink(stop_file)
    load = subprocess.Popen(
        [sys.executable, LOADGEN, url, "--rate", str(rate), "--duration", str(max_seconds + 2 * steady + 30),
         "--max-requests", str(int(rate * (max_seconds + 2 * steady + 30))), "--timeout", "10", "--insecure",
         "--record", record, "--stop-file", stop_file],
        stdout=subprocess.PIPE, text=True)
    load_started = time.time()
    try:
        return _run_playbook(load, load_started, playbook, inventory, extra_args, steady, kill_after, workdir,
                             stop_file, record)
    except BaseException:
        load.kill()
        raise


def _run_playbook(load, load_started, playbook, inventory, extra_args, steady, kill_after, workdir, stop_file, record):
    time.sleep(steady)
    cmd = ["ansible-playbook", "-i", inventory, os.path.join(PROJECT, "playbooks", playbook)] + list(extra_args)
    log_path = os.path.join(workdir, "playbook.log")
    # Output goes to a file, read while the playbook runs: ssh's ControlPersist
    # masters inherit a pipe and would hold it open after the playbook ends.
    with open(log_path, "w", encoding="utf-8") as log:
        play = subprocess.Popen(cmd, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    started = time.time() - load_started
    lines = []
    killed = False
    seen = 0
    kill_at = None
    pending = ""
    with open(log_path, encoding="utf-8", errors="replace") as log:
        while True:
            running = play.poll() is None
            pending += log.read()
            now = time.time() - load_started
            while "\n" in pending:
                text, pending = pending.split("\n", 1)
                lines.append((now, text))
                if kill_after and kill_at is None and kill_after[0] in text:
                    seen += 1
                    if seen == kill_after[1]:
                        kill_at = now + kill_after[2]
            if kill_at is not None and not killed and now >= kill_at and running:
                os.killpg(play.pid, signal.SIGKILL)
                killed = True
            if not running:
                break
            time.sleep(0.1)
        if pending:
            lines.append((time.time() - load_started, pending))
    rc = play.wait()
    ended = time.time() - load_started
    time.sleep(steady)
    with open(stop_file, "w", encoding="utf-8"):
        pass
    out, dummy = load.communicate(timeout=60)
    summary = json.loads(out.strip().splitlines()[-1])
    with open(record, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    return {"rc": rc, "killed": killed, "output": "\n".join(text for dummy, text in lines), "lines": lines,
            "summary": summary, "records": records, "started": started, "ended": ended}


def marker_time(result, marker, last=False):
    hits = [at for at, text in result["lines"] if marker in text]
    if not hits:
        return None
    return hits[-1] if last else hits[0]


def figures(result):
    """Totals, failures and latency during the playbook against steady state (same run)."""
    records = result["records"]
    ok = [r for r in records if isinstance(r["status"], int) and r["status"] < 400]
    during = [r["latency_ms"] for r in ok if result["started"] <= r["t"] <= result["ended"]]
    steady = [r["latency_ms"] for r in ok if not result["started"] <= r["t"] <= result["ended"]]
    fig = {
        "requests": len(records),
        "failed": len(records) - len(ok),
        "p50_during_ms": percentile(during, 50), "p99_during_ms": percentile(during, 99),
        "p50_steady_ms": percentile(steady, 50), "p99_steady_ms": percentile(steady, 99),
        "playbook_s": round(result["ended"] - result["started"], 1),
        "rc": result["rc"],
    }
    for key in ("p50", "p99"):
        base = fig["%s_steady_ms" % key]
        fig["%s_ratio" % key] = round(fig["%s_during_ms" % key] / base, 2) if base and fig["%s_during_ms" % key] else None
    activated = marker_time(result, ACTIVATION_TASK)
    rolled_back = marker_time(result, ROLLBACK_DONE_TASK)
    failed = result["rc"] != 0 and not result["killed"]
    fig["activation_to_rollback_s"] = round(rolled_back - activated, 1) if failed and activated and rolled_back else None
    return fig


def line(name, fig):
    return ("%-18s rc=%-3s requests=%-5d failed=%-3d p50 %6.1f/%6.1f ms (x%s)  p99 %7.1f/%7.1f ms (x%s)  playbook %5.1f s"
            "  activation->rollback %s s" % (
                name, fig["rc"], fig["requests"], fig["failed"], fig["p50_during_ms"] or 0, fig["p50_steady_ms"] or 0,
                fig["p50_ratio"], fig["p99_during_ms"] or 0, fig["p99_steady_ms"] or 0, fig["p99_ratio"],
                fig["playbook_s"], fig["activation_to_rollback_s"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--url", default="https://10.77.0.70/api/version")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--old", default="1.0.0")
    parser.add_argument("--good", default="1.1.0")
    parser.add_argument("--bad", nargs="*", default=["1.1.1-crash", "1.1.2-unhealthy", "1.1.3-late"])
    parser.add_argument("--extra", default='{"deploy_serial": [1, 2], "deploy_canary_soak": 10, "deploy_gate_deadline": 30}',
                        help="extra vars (JSON) for every playbook run")
    args = parser.parse_args(argv)
    extra = ["-e", args.extra]
    report = {}
    runs = [("deploy " + args.good, "deploy.yml", ["-e", "ultraai_version=%s" % args.good]),
            ("rollback", "rollback.yml", [])]
    runs += [("bad " + bad, "deploy.yml", ["-e", "ultraai_version=%s" % bad]) for bad in args.bad]
    for name, playbook, more in runs:
        fig = figures(run_under_load(playbook, args.inventory, extra + more, url=args.url, rate=args.rate))
        report[name] = fig
        print(line(name, fig), flush=True)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
