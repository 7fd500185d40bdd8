"""Shared helpers for the controller-side checks (no lab hosts needed)."""

import os
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def ansible_env():
    """Environment for running ansible-* from the checkout, as the README does."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    return env


def run(cmd, env, cwd=ROOT, timeout=300):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """A moto server on 127.0.0.1 (a free port) for the whole session: a real HTTP
    endpoint for boto3 and amazon.aws. Tests that need a clean account call
    moto_server.reset(endpoint) themselves."""
    import sys  # pylint: disable=import-outside-toplevel
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import moto_server  # pylint: disable=import-outside-toplevel,import-error
    log = str(tmp_path_factory.mktemp("moto") / "moto.log")
    proc, endpoint = moto_server.start(log=log)
    yield endpoint
    moto_server.stop(proc)


@pytest.fixture()
def aws_env(ansible_env, moto_endpoint):
    """ansible_env plus fake credentials and the moto endpoint for boto3."""
    env = dict(ansible_env)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
               AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_ENDPOINT_URL", None)
    return env
