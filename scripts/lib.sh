# shellcheck shell=bash
# Shared shell settings for scripts/*.sh. Source it; do not run it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ULTRAAI_CACHE=${ULTRAAI_CACHE:-/var/cache/ultraai-platform}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/lab/podman/containers.conf}
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$ROOT/lab/podman/storage.conf}
export VENV=$ROOT/.venv
export PATH=$VENV/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
# Molecule keeps its scenarios in the top-level molecule/ directory.
export MOLECULE_GLOB='molecule/*/molecule.yml'
export PY_COLORS=0

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
