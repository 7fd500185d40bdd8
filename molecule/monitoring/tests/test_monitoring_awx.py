"""The AWX report template (molecule/_shared/awxjobs.py), run through
ansible-runner against this scenario's hosts and Prometheus on mon."""

import pytest

from awxjobs import moto, run_template  # noqa: F401  pylint: disable=unused-import

# The templates this scenario proves; the stack scenario checks that, with the
# other scenarios, they cover every template (test_every_template_is_proved_somewhere).
PROVED = ["UltraAI monitoring report"]
testinfra_hosts = ["mon"]


@pytest.mark.parametrize("name", PROVED)
def test_job_template_runs_successfully(name, tmp_path, moto):  # pylint: disable=redefined-outer-name
    run_template(name, tmp_path, moto)
