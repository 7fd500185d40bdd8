"""Rolling deploys under load: a good release, every bad one, a rollback and an interrupted deploy.

The stack was converged on 1.0.0. Each test runs a playbook of the checkout while a steady load
(20 requests/s, bounded) goes through the balancer, and asserts that no request failed. The tests
run in file order and each starts from where the previous one left the stack.
"""

import json
import os
import sys

import pytest

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
sys.path.insert(0, os.path.join(PROJECT, "benchmarks"))

import deploy as bench  # noqa: E402  pylint: disable=wrong-import-position

from labtest import lab_host

INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
# User-shaped traffic: an API call that every release answers (with X-Release). Not /health:
# that opens a fresh TLS connection to PostgreSQL per call and is for the balancer and the gate;
# at 20 requests/s on the 2-core lab it starved PostgreSQL and failed untouched hosts' checks.
URL = "https://10.77.0.70/api/version"
APPS = ["dapp1", "dapp2", "dapp3"]
OLD = "1.0.0"
GOOD = "1.1.0"
# Small batches and short gates for the lab: canary, then the other two; the canary's soak
# outlasts the shortened late-unhealthy delay (6 s, host_vars).
EXTRA = ["-e", json.dumps({"deploy_serial": [1, 2], "deploy_canary_soak": 10, "deploy_gate_deadline": 30,
                           "deploy_drain_timeout": 30})]
testinfra_hosts = ["dlb"]
FIGURES = {}


def run(name, playbook, version=None, kill_after=None):
    more = ["-e", "ultraai_version=%s" % version] if version else []
    result = bench.run_under_load(playbook, INVENTORY, EXTRA + more, url=URL, kill_after=kill_after,
                                  workdir=os.path.join(EPHEMERAL, "load-" + name.replace(" ", "-")))
    fig = bench.figures(result)
    FIGURES[name] = fig
    # Kept beside the scenario's other logs (tests/output/molecule/), printed by the suite.
    out_dir = os.path.join(PROJECT, "tests", "output", "molecule")
    os.makedirs(out_dir, exist_ok=True)
    for path in (os.path.join(EPHEMERAL, "deploy-figures.json"), os.path.join(out_dir, "deploy-figures.json")):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(FIGURES, fh, indent=2, sort_keys=True)
    print(bench.line(name, fig))
    return result, fig


def live(host):
    """{app host: (API current, front-end current, releases on disk)}."""
    found = {}
    for name in APPS:
        h = lab_host(host, name)
        found[name] = (h.check_output("readlink /opt/ultraai/current").rsplit("/", 1)[-1],
                       h.check_output("readlink /opt/ultraai-frontend/current").rsplit("/", 1)[-1],
                       h.check_output("ls /opt/ultraai/releases").split())
    return found


def balancer_states(host):
    out = host.check_output("echo 'show stat' | socat -t 5 stdio unix-connect:/run/haproxy/admin.sock")
    states = {}
    for row in out.splitlines():
        cols = row.split(",")
        if len(cols) > 17 and cols[0] == "app" and cols[1] in APPS:
            states[cols[1]] = cols[17]
    return states


def served(result, after):
    """Releases that answered after the given time of the run."""
    return {r["release"] for r in result["records"] if r["t"] > after and r["status"] == 200}


def assert_all_on(host, result, version):
    for name, (api, front, dummy) in live(host).items():
        assert (api, front) == (version, version), "%s is on API %s, front end %s" % (name, api, front)
    assert set(balancer_states(host).values()) == {"UP"}, balancer_states(host)
    assert served(result, result["ended"]) == {version}


@pytest.fixture(scope="module", autouse=True)
def steady_before(host):
    assert INVENTORY, "run from Molecule (MOLECULE_INVENTORY_FILE)"
    assert_all_on_start = live(host)
    assert {v[0] for v in assert_all_on_start.values()} == {OLD}


def test_good_deploy_reaches_every_host_without_a_failed_request(host):
    result, fig = run("deploy " + GOOD, "deploy.yml", GOOD)
    assert result["rc"] == 0, result["output"][-3000:]
    assert fig["failed"] == 0, result["summary"]
    assert_all_on(host, result, GOOD)


def test_rollback_returns_every_host_to_the_previous_release(host):
    result, fig = run("rollback", "rollback.yml")
    assert result["rc"] == 0, result["output"][-3000:]
    assert fig["failed"] == 0, result["summary"]
    assert_all_on(host, result, OLD)


def test_rollback_refuses_a_release_that_does_not_exist(host):
    result = bench.run_under_load("rollback.yml", INVENTORY, EXTRA + ["-e", "rollback_version=9.9.9"], url=URL, steady=0.5,
                                  workdir=os.path.join(EPHEMERAL, "load-refuse"))
    assert result["rc"] != 0
    assert "Release 9.9.9 does not exist on dapp1" in result["output"]
    assert {v[0] for v in live(host).values()} == {OLD}


@pytest.mark.parametrize("version", ["1.1.1-crash", "1.1.2-unhealthy", "1.1.3-late"])
def test_bad_release_stops_at_the_canary_and_rolls_it_back(host, version):
    result, fig = run("bad " + version, "deploy.yml", version)
    assert result["rc"] != 0, result["output"][-3000:]
    assert "Rollout of %s stopped: batch dapp1 failed its gate and was rolled back" % version in result["output"]
    assert "dapp1=%s dapp2=%s dapp3=%s" % (OLD, OLD, OLD) in result["output"]
    assert fig["failed"] == 0, result["summary"]
    found = live(host)
    assert version in found["dapp1"][2]  # the canary was touched ...
    for name in ("dapp2", "dapp3"):  # ... and only the canary
        assert version not in found[name][2], found
    assert_all_on(host, result, OLD)


def test_slow_start_release_is_not_rolled_back(host):
    result, fig = run("slow 1.1.4-slow", "deploy.yml", "1.1.4-slow")
    assert result["rc"] == 0, result["output"][-3000:]
    assert fig["failed"] == 0, result["summary"]
    assert_all_on(host, result, "1.1.4-slow")


def test_interrupted_deploy_converges_on_a_rerun(host):
    # Killed two seconds after the second batch's drain started: dapp2 or dapp3 is left drained.
    first, fig = run("interrupted " + GOOD, "deploy.yml", GOOD, kill_after=("Drain the host on every balancer]", 2, 2.0))
    assert first["killed"], first["output"][-3000:]
    assert fig["failed"] == 0, first["summary"]
    result, fig = run("rerun " + GOOD, "deploy.yml", GOOD)
    assert result["rc"] == 0, result["output"][-3000:]
    assert fig["failed"] == 0, result["summary"]
    assert_all_on(host, result, GOOD)
