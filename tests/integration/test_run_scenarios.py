"""scripts/run_scenarios.py builds the shell commands the suite runs: the
steps a RUN_ALONE scenario runs in the shared phase and the ones it runs alone
must be commands Molecule knows."""

import importlib.util
import os
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load():
    spec = importlib.util.spec_from_file_location("run_scenarios", os.path.join(ROOT, "scripts", "run_scenarios.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_split_scenarios_run_the_check_mode_pass_as_side_effect(tmp_path):
    rs = load()
    prep = rs.unit_command("deploy", "prep", str(tmp_path))
    assert "molecule side-effect -s deploy" in prep
    assert "side_effect" not in prep
    rest = rs.unit_command("failover", "rest", str(tmp_path))
    assert "molecule verify -s failover" in rest


def test_every_split_step_is_a_molecule_command(tmp_path):
    rs = load()
    known = subprocess.run(["molecule", "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("deploy", "failover"):
        for action in rs.sequence_of(name):
            assert "  %s " % rs.cli(action) in known, "molecule has no command %r" % rs.cli(action)


def test_a_hung_unit_is_killed_and_fails(tmp_path, monkeypatch, capsys):
    """A step that never ends must fail the suite with its log, not run into CI's limit."""
    rs = load()
    monkeypatch.setattr(rs, "DURATIONS", str(tmp_path / "durations.json"))
    # The unit starts a child of its own: both must go.
    monkeypatch.setattr(rs, "unit_command", lambda *a: "echo started; sleep 300 & echo $! > %s; wait"
                        % (tmp_path / "child.pid"))
    monkeypatch.setattr("sys.argv", ["run_scenarios.py", "--out", str(tmp_path), "--unit-timeout", "3", "base"])
    started = time.monotonic()
    assert rs.main() == 1
    assert time.monotonic() - started < 60
    assert "still running after 3s, killing it" in capsys.readouterr().err
    child = int((tmp_path / "child.pid").read_text())
    with pytest.raises(ProcessLookupError):
        for dummy in range(20):  # reaped by init once killed; give it a moment
            os.kill(child, 0)
            time.sleep(0.5)
