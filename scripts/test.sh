#!/usr/bin/env bash
# The whole test suite. Installs what it needs (scripts/bootstrap.sh), then runs:
#   static:   ansible-lint (production profile), ansible-test sanity (+ Python 3.12
#             with the newest ansible-core, where present), ansible-test units,
#             and the pytest checks under tests/ (role specs, bad input, build);
#   molecule: every scenario under molecule/ on lab hosts (or those named in
#             ULTRAAI_SCENARIOS, space separated).
# The static gates run once the side-by-side scenarios are done, at the lowest
# CPU priority, beside the RUN_ALONE scenarios: those leave more than half of
# the machine idle, and the static gates take only what they leave.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
"$ROOT/scripts/bootstrap.sh"

OUT=$ROOT/tests/output/suite
rm -rf "$OUT" "$ROOT/tests/output/molecule"; mkdir -p "$OUT"
start=$(date +%s)

# The release the stack scenarios deploy (wheels are cached between runs).
log "building release 1.0.0 (scripts/build_release.py)"
python scripts/build_release.py --version 1.0.0 --output "$ROOT/dist" >"$OUT/build-release.log" 2>&1 \
  || { cat "$OUT/build-release.log"; die "building the release failed"; }

# Every scenario (or those named in ULTRAAI_SCENARIOS; " " runs none). Those
# with disjoint lab hosts run side by side, ULTRAAI_JOBS at a time (default 3);
# those marked RUN_ALONE (they measure under load) run afterwards, alone but
# for the niced static gates.
molecule_rc=0
read -r -a scenarios <<<"${ULTRAAI_SCENARIOS-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort | tr '\n' ' ')}"
if [ ${#scenarios[@]} -gt 0 ]; then
  python scripts/run_scenarios.py --out "$OUT" --select shared "${scenarios[@]}" || molecule_rc=1
fi
# A hung gate is stopped after ULTRAAI_STATIC_TIMEOUT seconds (default 1800; they take about 500).
( s=$(date +%s); rc=0
  timeout -k 30 "${ULTRAAI_STATIC_TIMEOUT:-1800}" nice -n 19 "$ROOT/scripts/static.sh" > "$OUT/static.log" 2>&1 || rc=$?
  [ $rc = 124 ] && echo "static checks: stopped after ${ULTRAAI_STATIC_TIMEOUT:-1800}s" >> "$OUT/static.log"
  echo $(( $(date +%s) - s )) > "$OUT/static.seconds"; exit $rc ) &
static_pid=$!
if [ ${#scenarios[@]} -gt 0 ]; then
  python scripts/run_scenarios.py --out "$OUT" --select alone "${scenarios[@]}" || molecule_rc=1
fi
static_rc=0
wait "$static_pid" || static_rc=1
# The deploy scenario's figures (requests, failures, latency against steady state, rollback time).
if [ -f "$ROOT/tests/output/molecule/deploy-figures.json" ]; then
  log "deploy figures (tests/output/molecule/deploy-figures.json):"
  cat "$ROOT/tests/output/molecule/deploy-figures.json"
fi

# The stack ran every Ansible command at -vvv: no secret may be in those logs.
if [ -f "$OUT/molecule-stack.log" ]; then
  log "pytest tests/logs (no secrets in the -vvv logs of the stack)"
  pytest -q -p no:cacheprovider tests/logs || molecule_rc=1
fi

cat "$OUT/static.log"
# ULTRAAI_KEEP_LAB=1 leaves the lab network and package cache up (for debugging).
[ "${ULTRAAI_KEEP_LAB:-0}" = 1 ] || "$ROOT/scripts/lab.sh" down >/dev/null 2>&1 || true

# The wall time per scenario and step, and the total (kept in $OUT/time-table.txt).
total=$(( $(date +%s) - start ))
python scripts/run_scenarios.py --out "$OUT" --table --total "$total" --static "$(cat "$OUT/static.seconds" 2>/dev/null || echo 0)"
log "suite finished in ${total}s: static rc=$static_rc, molecule rc=$molecule_rc"
[ $static_rc = 0 ] && [ $molecule_rc = 0 ]
