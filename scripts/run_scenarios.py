"""Run `molecule test` for several scenarios, side by side where their lab hosts allow.

    python scripts/run_scenarios.py --out DIR [--jobs N] [SCENARIO...]

Scenarios whose platforms share no lab host run at the same time (at most --jobs
at once); two that share a host never overlap. The longest ones (by the
durations of earlier runs, kept in $ULTRAAI_CACHE/scenario-durations.json) start
first. Each scenario's output goes to DIR/molecule-<name>.log; a summary line per
scenario is printed as it ends, and the tail of the log of any that failed.
Exit status 0 only when every scenario passed.

A scenario whose directory holds a RUN_ALONE file (saying why) measures something
under load, so its measuring steps never share the machine with another
scenario. Its test sequence is split at `converge`: `--select shared` runs the
other scenarios and the steps of the alone ones up to and including converge
(side by side with the rest); `--select alone` then runs the remaining steps of
each alone scenario (verify, destroy, ...) one at a time. scripts/test.sh calls
`shared`, waits for the static gates, then calls `alone`. `--select all` (the
default) runs every scenario whole, the alone ones by themselves.
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


DEFAULT_SEQUENCE = ["destroy", "syntax", "create", "prepare", "converge", "idempotence", "side_effect", "verify",
                    "destroy"]


def sequence_of(name):
    with open(os.path.join(ROOT, "molecule", name, "molecule.yml"), encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return (data.get("scenario") or {}).get("test_sequence") or DEFAULT_SEQUENCE


def unit_command(name, kind, out_dir):
    """The shell command for one unit of work: a whole `molecule test` ("test"),
    the steps up to converge ("prep") or the steps after it ("rest")."""
    if kind == "test":
        return "molecule test -s %s" % name
    seq = sequence_of(name)
    cut = seq.index("converge") + 1 if "converge" in seq else len(seq)
    marker = os.path.join(out_dir, ".prep-%s" % name)
    if kind == "prep":
        steps = " && ".join("molecule %s -s %s" % (a, name) for a in seq[:cut])
        return "rm -f %s; if %s; then echo ok > %s; else echo failed > %s; exit 1; fi" % (
            marker, steps, marker, marker)
    rest = seq[cut:]
    final_destroy = bool(rest) and rest[-1] == "destroy"
    body = " && ".join("molecule %s -s %s" % (a, name) for a in (rest[:-1] if final_destroy else rest)) or "true"
    prep = unit_command(name, "prep", out_dir)
    # Prepared in the shared phase (or, when only the alone steps were asked for, now).
    cmd = ("{ [ -e %s ] || ( %s ); } && if [ \"$(cat %s)\" = ok ]; then %s; else "
           "echo 'the steps up to converge failed (see above)'; false; fi; rc=$?") % (marker, prep, marker, body)
    if final_destroy:
        cmd += "; molecule destroy -s %s || rc=1" % name
    return cmd + "; exit $rc"


# Durations (seconds) measured by CI on its 2-core machine with three scenarios
# and the static gates side by side, for a machine with no record yet, so the
# long scenarios still start first.
FIRST_GUESS = {"backup:test": 2340, "monitoring:test": 2050, "failover:test": 1420, "stack:test": 1050,
               "deploy:prep": 550, "deploy:rest": 630, "deploy:test": 1300, "loadbalancer:test": 500,
               "postgresql:test": 490, "redis:test": 420, "aws:test": 270, "base:test": 270}


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
    units = []
    for name in todo:
        alone = runs_alone(name)
        if args.select == "all":
            units.append((name, "test", alone))
        elif args.select == "shared":
            units.append((name, "prep" if alone else "test", False))
        elif alone:
            units.append((name, "rest", True))
    jobs = max(1, args.jobs)
    known = load_durations()
    units.sort(key=lambda u: -known.get("%s:%s" % u[:2], FIRST_GUESS.get("%s:%s" % u[:2], 600)))
    hosts = {u[0]: hosts_of(u[0]) for u in units}
    os.makedirs(args.out, exist_ok=True)
    running = {}  # unit -> (Popen, start, log file)
    failed = []
    while units or running:
        busy = set().union(*(hosts[u[0]] for u in running)) if running else set()
        for unit in list(units):
            name, kind, alone = unit
            if len(running) >= jobs:
                break
            if (running and alone) or hosts[name] & busy or any(u[2] for u in running):
                continue
            path = os.path.join(args.out, "molecule-%s.log" % name)
            out = open(path, "a" if kind == "rest" else "w", encoding="utf-8")  # pylint: disable=consider-using-with
            cmd = unit_command(name, kind, args.out)
            what = cmd if kind == "test" else "molecule -s %s: %s steps" % (name, kind)
            log("%s (log: %s)" % (what, os.path.relpath(path, ROOT)))
            proc = subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, stdout=out,  # pylint: disable=consider-using-with
                                    stderr=subprocess.STDOUT)
            running[unit] = (proc, time.time(), out)
            busy |= hosts[name]
            units.remove(unit)
        time.sleep(2)
        for unit, (proc, start, out) in list(running.items()):
            if proc.poll() is None:
                continue
            name, kind = unit[:2]
            out.close()
            del running[unit]
            took = time.time() - start
            path = os.path.join(args.out, "molecule-%s.log" % name)
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
            what = "molecule test -s %s" % name if kind == "test" else "molecule -s %s (%s steps)" % (name, kind)
            if proc.returncode == 0:
                save_duration("%s:%s" % (name, kind), took)
                log("%s passed in %ds" % (what, took))
                if kind != "prep":
                    for line in lines:
                        if SUMMARY.match(line):
                            print("  %s: %s" % (name, line.strip()))
            else:
                failed.append(name)
                log("%s FAILED after %ds; the end of its log:" % (what, took))
                print("\n".join(lines[-150:]))
            sys.stdout.flush()
    if failed:
        log("failed scenarios: %s" % " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
