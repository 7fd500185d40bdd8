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
