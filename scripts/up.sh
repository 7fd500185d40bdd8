#!/usr/bin/env bash
# Bring up the stack on the local lab hosts: install the toolchain, start the
# hosts named in inventories/local, and run site.yml against them.
# Extra arguments go to ansible-playbook (for example --check --diff, or -t base).
# ULTRAAI_VERSION picks the release (default 1.0.0); it is built into dist/ if missing.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
"$ROOT/scripts/bootstrap.sh"
version=${ULTRAAI_VERSION:-1.0.0}
if [ ! -f "$ROOT/dist/ultraai-$version.manifest.json" ]; then
  log "building release $version (scripts/build_release.py)"
  python scripts/build_release.py --version "$version" --output "$ROOT/dist"
fi
mapfile -t hosts < <(ansible-inventory -i inventories/local --list |
                     python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin)["_meta"]["hostvars"])))')
"$ROOT/scripts/lab.sh" up "${hosts[@]}"
ansible-playbook -i inventories/local site.yml -e "ultraai_version=$version" "$@"
log "lab hosts converged: ${hosts[*]} (ssh -i $ULTRAAI_CACHE/lab/id_ed25519 ops@<address>; addresses in inventories/local/hosts.yml)"
