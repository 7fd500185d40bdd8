"""The AWX report template (molecule/_shared/awxjobs.py), run through
ansible-runner against this scenario's hosts and Prometheus on mon."""

import pytest

from awxjobs import moto, run_template  # noqa: F401  pylint: disable=unused-import

testinfra_hosts = ["mon"]


@pytest.mark.parametrize("name", ["UltraAI report"])
def test_job_template_runs_successfully(name, tmp_path, moto):  # pylint: disable=redefined-outer-name
    run_template(name, tmp_path, moto)
