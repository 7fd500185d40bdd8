"""Run `molecule test` for several scenarios, side by side where their lab hosts allow.

    python scripts/run_scenarios.py --out DIR [--jobs N] [SCENARIO...]

    python scripts/run_scenarios.py --out DIR --table [--total S] [--static S]

Scenarios whose platforms share no lab host run at the same time (at most --jobs
at once); two that share a host never overlap. Each Molecule step is timed
from the line Molecule prints as it starts the step, into DIR/steps.tsv; --table
prints those times as a table per scenario and step (and keeps it in
DIR/time-table.txt). The longest ones (by the
durations of earlier runs, kept in $ULTRAAI_CACHE/scenario-durations.json) start
first. Each scenario's output goes to DIR/molecule-<name>.log; a summary line per
scenario is printed as it ends, and the tail of the log of any that failed.
Exit status 0 only when every scenario passed. A unit of work still running after
--unit-timeout seconds (default $ULTRAAI_UNIT_TIMEOUT or 2000) is killed, with
its process group, and counts as failed: a hung step ends the suite with its log
instead of running into CI's limit with no word of where it hung.

A scenario whose directory holds a RUN_ALONE file (saying why) measures something
under load, so its measuring steps never share the machine with another
scenario. Its test sequence is split before `verify`: `--select shared` runs the
other scenarios and the steps of the alone ones up to verify (converge,
idempotence, the check-mode pass; side by side with the rest); `--select alone`
then runs the remaining steps of each alone scenario (verify, destroy) one at a
time. scripts/test.sh calls
`shared`, then `alone` with the static gates beside it at nice 19. `--select all` (the
default) runs every scenario whole, the alone ones by themselves.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")
DURATIONS = os.path.join(CACHE, "scenario-durations.json")
SUMMARY = re.compile(r"^=+ .* in [0-9.]+s( \([0-9:]+\))? =+$")  # pytest's summary line of a verify


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


STEPS_FILE = "steps.tsv"  # one line per molecule step: scenario, step, milliseconds
STEP_LINE = re.compile(r"^\S+\s+\[([\w.-]+) > (\w+)\] Executing\s*$")  # Molecule starting a step


def cli(action):
    """The molecule subcommand for a test_sequence action (side_effect is `molecule side-effect`)."""
    return action.replace("_", "-")


def unit_command(name, kind, out_dir):
    """The shell command for one unit of work: a whole `molecule test` ("test"),
    the steps before verify ("prep") or verify and the steps after it ("rest")."""
    if kind == "test":
        return "molecule test -s %s" % name
    seq = sequence_of(name)
    cut = seq.index("verify") if "verify" in seq else len(seq)
    marker = os.path.join(out_dir, ".prep-%s" % name)
    if kind == "prep":
        steps = " && ".join("molecule %s -s %s" % (cli(a), name) for a in seq[:cut])
        return "rm -f %s; if %s; then echo ok > %s; else echo failed > %s; exit 1; fi" % (
            marker, steps, marker, marker)
    rest = seq[cut:]
    final_destroy = bool(rest) and rest[-1] == "destroy"
    body = " && ".join("molecule %s -s %s" % (cli(a), name) for a in (rest[:-1] if final_destroy else rest)) or "true"
    prep = unit_command(name, "prep", out_dir)
    # Prepared in the shared phase (or, when only the alone steps were asked for, now).
    cmd = ("{ [ -e %s ] || ( %s ); } && if [ \"$(cat %s)\" = ok ]; then %s; else "
           "echo 'the steps before verify failed (see above)'; false; fi; rc=$?") % (marker, prep, marker, body)
    if final_destroy:
        cmd += "; molecule destroy -s %s || rc=1" % name
    return cmd + "; exit $rc"


class StepClock:
    """Copies a unit's output into its log and times Molecule's steps: a step
    lasts from its "[scenario > step] Executing" line to the next step's (or to
    the end of the output). The times go to DIR/steps.tsv."""

    def __init__(self, proc, log_file, tsv):
        self.proc, self.log_file, self.tsv = proc, log_file, tsv
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        current = None  # (scenario, step, started)
        for line in iter(self.proc.stdout.readline, ""):
            self.log_file.write(line)
            self.log_file.flush()
            match = STEP_LINE.match(line)
            if match and (current is None or current[:2] != match.groups()):
                self.close(current)
                current = match.groups() + (time.monotonic(),)
        self.close(current)

    def close(self, current):
        if current is not None:
            with open(self.tsv, "a", encoding="utf-8") as fh:
                fh.write("%s\t%s\t%d\n" % (current[0], current[1], (time.monotonic() - current[2]) * 1000))


STEP_COLUMNS = [("syntax", "syntax"), ("create", "create"), ("prepare", "prepare"), ("converge", "converge"),
                ("idempotence", "idempotence"), ("side_effect", "check mode"), ("verify", "verify"),
                ("destroy", "destroy")]
STEP_FOLD = {"cleanup": "destroy", "dependency": "destroy"}  # counted in the destroy column


def time_table(out_dir, total=None, static=None):
    """The suite's wall time per scenario and per step, from DIR/steps.tsv, as text."""
    per = {}
    try:
        with open(os.path.join(out_dir, STEPS_FILE), encoding="utf-8") as fh:
            for line in fh:
                name, step, millis = line.rstrip("\n").split("\t")
                step = STEP_FOLD.get(step, step)
                per.setdefault(name, {}).setdefault(step, [0.0])[0] += int(millis) / 1000.0
    except OSError:
        pass
    header = ["scenario"] + [label for dummy, label in STEP_COLUMNS] + ["total"]
    rows = []
    for name in sorted(per, key=lambda n: -sum(c[0] for c in per[n].values())):
        cells = [name]
        for step, dummy in STEP_COLUMNS:
            cell = per[name].get(step)
            cells.append("-" if cell is None else "%d" % round(cell[0]))
        cells.append("%d" % round(sum(c[0] for c in per[name].values())))
        rows.append(cells)
    sums = ["all scenarios"] + ["%d" % round(sum(per[n].get(step, [0])[0] for n in per)) for step, dummy in STEP_COLUMNS]
    rows.append(sums + ["%d" % round(sum(c[0] for n in per for c in per[n].values()))])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def fmt(row):
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))

    lines = ["Wall time in seconds per scenario and Molecule step (destroy includes the cleanup and dependency",
             "steps; scenarios run side by side, so their sum exceeds the suite's wall time):",
             fmt(header)] + [fmt(r) for r in rows]
    if static is not None:
        lines.append("static gates (lint, sanity, units, pytest; niced, beside the alone steps): %d s" % static)
    if total is not None:
        lines.append("suite total (wall): %d s" % total)
    return "\n".join(lines) + "\n"


# Durations (seconds) measured on the 2-core machine on 2026-12-05 (Mitogen,
# baked tier images, three scenarios and the static gates side by side), for a
# machine with no record yet, so the long scenarios still start first.
# monitoring's is a guess: that run stopped it at idempotence.
FIRST_GUESS = {"backup:test": 2140, "monitoring:test": 1500, "failover:test": 1310, "stack:test": 1060,
               "deploy:prep": 360, "deploy:rest": 760, "deploy:test": 1120, "loadbalancer:test": 470,
               "postgresql:test": 440, "redis:test": 150, "aws:test": 180, "base:test": 170}


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


def kill_group(proc):
    """Stop a unit and everything it started (it leads its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def log(msg):
    sys.stderr.write("==> %s\n" % msg)
    sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("ULTRAAI_JOBS", "3")))
    parser.add_argument("--unit-timeout", type=int, default=int(os.environ.get("ULTRAAI_UNIT_TIMEOUT", "2000")))
    parser.add_argument("--select", choices=["all", "shared", "alone"], default="all")
    parser.add_argument("--table", action="store_true",
                        help="print the time table of DIR/steps.tsv (and keep it in DIR/time-table.txt); run nothing")
    parser.add_argument("--total", type=int, help="with --table: the suite's wall time in seconds")
    parser.add_argument("--static", type=int, help="with --table: the static gates' wall time in seconds")
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    if args.table:
        text = time_table(args.out, args.total, args.static)
        with open(os.path.join(args.out, "time-table.txt"), "w", encoding="utf-8") as fh:
            fh.write(text)
        sys.stdout.write(text)
        return 0
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
            proc = subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                    stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
            clock = StepClock(proc, out, os.path.join(args.out, STEPS_FILE))
            running[unit] = (proc, time.time(), out, clock)
            busy |= hosts[name]
            units.remove(unit)
        time.sleep(2)
        for unit, (proc, start, out, clock) in list(running.items()):
            if proc.poll() is None:
                if time.time() - start > args.unit_timeout:
                    log("%s: still running after %ds, killing it" % (unit[0], args.unit_timeout))
                    kill_group(proc)
                continue
            name, kind = unit[:2]
            clock.thread.join()
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
