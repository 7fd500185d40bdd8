#!/usr/bin/env bash
# The static half of the suite: ansible-lint (production profile), ansible-test
# sanity (Python 3.11, and 3.12 with the newest ansible-core where present),
# ansible-test units, and pytest tests/integration. scripts/test.sh runs it in
# the background while Molecule runs; it is safe to run alone (it touches no
# lab host). ULTRAAI_STATIC_TREE picks where the collection tree is copied.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1

# The collection tree ansible-lint and ansible-test need:
# <dir>/ansible_collections/ultraai/platform, with this checkout's files.
COLL_ROOT=${ULTRAAI_STATIC_TREE:-$ULTRAAI_CACHE/collection-tree}
COLL=$COLL_ROOT/ansible_collections/ultraai/platform
rm -rf "$COLL"; mkdir -p "$COLL"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$COLL/"

rc=0
log "ansible-lint --offline --profile production"
# A HOME of its own: ansible-lint also looks in ~/.ansible/collections, where a
# stale installed copy of this collection would shadow the tree under test.
mkdir -p "$COLL_ROOT/home"
(cd "$COLL" && HOME="$COLL_ROOT/home" ANSIBLE_COLLECTIONS_PATH=$COLL_ROOT ansible-lint --offline --profile production) || rc=1
log "ansible-test sanity (ansible-core $(ansible --version 2>/dev/null | head -1 | grep -o 'core [0-9.]*'), Python 3.11)"
(cd "$COLL" && ansible-test sanity --venv --python 3.11 --color no) || rc=1
if [ -x "$ROOT/.venv312/bin/ansible-test" ]; then
  log "ansible-test sanity (ansible-core $("$ROOT/.venv312/bin/ansible" --version 2>/dev/null | head -1 | grep -o 'core [0-9.]*'), Python 3.12)"
  (cd "$COLL" && "$ROOT/.venv312/bin/ansible-test" sanity --venv --python 3.12 --color no) || rc=1
else
  log "python3.12 not present: sanity with the newest ansible-core skipped"
fi
if [ -d "$COLL/tests/unit" ] && find "$COLL/tests/unit" -name 'test_*.py' | grep -q .; then
  log "ansible-test units"
  (cd "$COLL" && ansible-test units --venv --python 3.11 --color no) || rc=1
fi
log "pytest tests/integration"
pytest -q -p no:cacheprovider tests/integration || rc=1
log "static checks finished: rc=$rc"
exit $rc
