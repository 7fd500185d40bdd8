#!/usr/bin/env bash
# Install what the controller needs, from Debian's packages and PyPI only:
# podman and debootstrap for the lab, and a pinned Python venv with Ansible,
# Molecule, ansible-lint, pytest/testinfra, moto and boto3.
# Running it again is quick and changes nothing.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (the lab needs podman as root)"

APT_PACKAGES=(python3 python3-venv python3-dev gcc podman runc netavark aardvark-dns iptables
              debootstrap rsync git openssh-client curl ca-certificates shellcheck
              chromium   # chromium: headless screenshots of the monitoring report
              restic)    # restic: tests/integration/test_backup_wrapper.py runs the backup wrapper with it
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# promtool (for `promtool check/test rules` in the suite) from Debian's
# prometheus package, unpacked into the cache: no Prometheus service on the controller.
if [ ! -x "$ULTRAAI_CACHE/tools/prometheus/usr/bin/promtool" ]; then
  log "unpacking promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || { apt-get update -qq && (cd "$tmp" && apt-get download prometheus >/dev/null); }
  mkdir -p "$ULTRAAI_CACHE/tools/prometheus"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$ULTRAAI_CACHE/tools/prometheus"
  rm -rf "$tmp"
fi

# make_venv NAME PYTHON REQUIREMENTS CONSTRAINTS: a venv in the cache, keyed by the pins.
make_venv() {
  local name=$1 python=$2 req=$3 cons=$4 key dir
  key=$( (cat "$req" "$cons"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)
  dir=$ULTRAAI_CACHE/venv/$name-$key
  if [ ! -f "$dir/.complete" ]; then
    log "building the $name venv in $dir (once per set of pins)"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q -r "$req" -c "$cons"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

venv=$(make_venv controller /usr/bin/python3 "$ROOT/requirements/controller.txt" "$ROOT/requirements/constraints-py311.txt")
[ "$(readlink "$VENV" 2>/dev/null)" = "$venv" ] || ln -sfn "$venv" "$VENV"

# Python 3.12, where present, runs sanity with the newest ansible-core too.
py312=""
for cand in "$(command -v python3.12 || true)" /usr/bin/python3.12 /usr/local/bin/python3.12 \
            "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import venv, ssl' >/dev/null 2>&1; then
    py312=$(make_venv sanity312 "$cand" "$ROOT/requirements/sanity-py312.txt" "$ROOT/requirements/constraints-py312.txt")
    ln -sfn "$py312" "$ROOT/.venv312"
    break
  fi
done

# The collection, from this checkout, where ansible.cfg's collections_path looks.
mkdir -p "$ROOT/.ansible/collections/ansible_collections/ultraai"
link=$ROOT/.ansible/collections/ansible_collections/ultraai/platform
[ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] || ln -sfn "$ROOT" "$link"

# ansible-test fetches a get-pip script from the web; give each ansible-test
# a local stand-in that runs pip from the pip wheel on PyPI instead.
for at in "$VENV" "$ROOT/.venv312"; do
  [ -d "$at" ] || continue
  pipv=$(grep -ho "pip='[0-9.]*'" "$at"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | cut -d"'" -f2)
  [ -n "$pipv" ] || die "cannot tell which pip $at's ansible-test wants"
  getpip=$HOME/.ansible/test/cache/get_pip_${pipv//./_}.py
  if ! ls "$ULTRAAI_CACHE/wheels/pip-$pipv-"*.whl >/dev/null 2>&1; then
    "$VENV/bin/pip" download -q --no-deps -d "$ULTRAAI_CACHE/wheels" "pip==$pipv"
  fi
  if ! cmp -s "$ROOT/scripts/get_pip_standin.py" "$getpip"; then
    mkdir -p "$(dirname "$getpip")"
    cp "$ROOT/scripts/get_pip_standin.py" "$getpip"
  fi
done
log "bootstrap done: $(ansible --version 2>/dev/null | sed -n 1p)${py312:+; python3.12 sanity venv ready}"
