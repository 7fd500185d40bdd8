"""Run `molecule test` for several scenarios, side by side where their lab hosts allow.

    python scripts/run_scenarios.py --out DIR [--jobs N] [SCENARIO...]

Scenarios whose platforms share no lab host run at the same time (at most --jobs
at once); two that share a host never overlap. The longest ones (by the
durations of earlier runs, kept in $ULTRAAI_CACHE/scenario-durations.json) start
first. Each scenario's output goes to DIR/molecule-<name>.log; a summary line per
scenario is printed as it ends, and the tail of the log of any that failed.
Exit status 0 only when every scenario passed.

A scenario whose directory holds a RUN_ALONE file (saying why) measures something
under load, so it never shares the machine with another scenario: `--select
shared` runs only the others, `--select alone` only those (one at a time), and
scripts/test.sh runs the alone ones after everything else has finished.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")
DURATIONS = os.path.join(CACHE, "scenario-durations.json")
SUMMARY = re.compile(r"^(=+ .* in [0-9.]+s =+|[a-z0-9_-]+ +: actions=)")


def all_scenarios():
    base = os.path.join(ROOT, "molecule")
    return sorted(d for d in os.listdir(base) if os.path.isfile(os.path.join(base, d, "molecule.yml")))


def runs_alone(name):
    return os.path.exists(os.path.join(ROOT, "molecule", name, "RUN_ALONE"))


def hosts_of(name):
    with open(os.path.join(ROOT, "molecule", name, "molecule.yml"), encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    names = {p["name"] for p in data.get("platforms") or []}
    # A scenario on the controller only (delegated) still gets a name of its own.
    return names or {"controller:" + name}


def load_durations():
    try:
        with open(DURATIONS, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def save_duration(name, seconds):
    data = load_durations()
    data[name] = round(seconds)
    os.makedirs(os.path.dirname(DURATIONS), exist_ok=True)
    tmp = DURATIONS + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, DURATIONS)


def log(msg):
    sys.stderr.write("==> %s\n" % msg)
    sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("ULTRAAI_JOBS", "3")))
    parser.add_argument("--select", choices=["all", "shared", "alone"], default="all")
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    todo = args.scenarios or all_scenarios()
    unknown = [s for s in todo if s not in all_scenarios()]
    if unknown:
        log("unknown scenario(s): %s" % ", ".join(unknown))
        return 2
    if args.select != "all":
        todo = [s for s in todo if runs_alone(s) == (args.select == "alone")]
    jobs = max(1, args.jobs)
    known = load_durations()
    todo.sort(key=lambda s: -known.get(s, 600))
    hosts = {s: hosts_of(s) for s in todo}
    os.makedirs(args.out, exist_ok=True)
    running = {}  # name -> (Popen, start, log file)
    failed = []
    while todo or running:
        busy = set().union(*(hosts[s] for s in running)) if running else set()
        for name in list(todo):
            if len(running) >= jobs:
                break
            if (running and runs_alone(name)) or hosts[name] & busy or any(runs_alone(r) for r in running):
                continue
            path = os.path.join(args.out, "molecule-%s.log" % name)
            out = open(path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
            log("molecule test -s %s (log: %s)" % (name, os.path.relpath(path, ROOT)))
            proc = subprocess.Popen(["molecule", "test", "-s", name], cwd=ROOT, stdout=out,  # pylint: disable=consider-using-with
                                    stderr=subprocess.STDOUT)
            running[name] = (proc, time.time(), out)
            busy |= hosts[name]
            todo.remove(name)
        time.sleep(2)
        for name, (proc, start, out) in list(running.items()):
            if proc.poll() is None:
                continue
            out.close()
            del running[name]
            took = time.time() - start
            path = os.path.join(args.out, "molecule-%s.log" % name)
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
            if proc.returncode == 0:
                save_duration(name, took)
                log("molecule test -s %s passed in %ds" % (name, took))
                for line in lines:
                    if SUMMARY.match(line):
                        print("  %s: %s" % (name, line.strip()))
            else:
                failed.append(name)
                log("molecule test -s %s FAILED after %ds; the end of its log:" % (name, took))
                print("\n".join(lines[-150:]))
            sys.stdout.flush()
    if failed:
        log("failed scenarios: %s" % " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
