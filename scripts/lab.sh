#!/usr/bin/env bash
# The lab hosts: scripts/lab.sh image | up [--recreate] HOST... | down [HOST...] | clean | status | key
# `scripts/lab.sh down` removes every container, the network and the package
# cache process the lab made; `clean` also removes the image and its tarball.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
[ -x "$VENV/bin/python" ] || "$ROOT/scripts/bootstrap.sh"
exec "$VENV/bin/python" "$ROOT/lab/lab.py" "$@"
