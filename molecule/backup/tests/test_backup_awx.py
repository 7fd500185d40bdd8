"""The AWX job templates for backups (molecule/_shared/awxjobs.py), run through
ansible-runner against this scenario's hosts after the posix flow: backup and
restore as job_type check, the DR drill for real onto bscratch. Runs after
test_backup.py (file order), so the repository has backups."""

import pytest

from awxjobs import moto, run_template  # noqa: F401  pylint: disable=unused-import

# The templates this scenario proves; the stack scenario checks that, with the
# other scenarios, they cover every template (test_every_template_is_proved_somewhere).
PROVED = ["UltraAI backup", "UltraAI restore", "UltraAI DR drill"]
testinfra_hosts = ["blb"]


# Every test takes the (session-scoped, parametrized) host fixture, so pytest
# keeps them in file order instead of moving the ones without it to the end.
@pytest.fixture(autouse=True)
def on_the_lab(host):
    return host


@pytest.mark.parametrize("name", PROVED)
def test_job_template_runs_successfully(name, tmp_path, moto):  # pylint: disable=redefined-outer-name
    run_template(name, tmp_path, moto)
