"""Recordings in and out: the host reads what it wrote, and oe-pyproc run wraps the host."""
import json
import subprocess
import sys

import numpy as np

from conftest import continuous_int16, events_of, read_log, recording

SYNTHETIC = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000,seed=7"


def test_a_recording_as_input_round_trips(pyhost):
    first = pyhost.run(pyhost.script("events_at_offsets.py"), input_source=SYNTHETIC)
    assert first.returncode == 0, first.stderr
    script = pyhost.script("record_callbacks.py")
    second = pyhost.run(script, input_source=str(first.output_dir), extra=["--block", "512"])
    assert second.returncode == 0, second.stderr

    np.testing.assert_array_equal(continuous_int16(second.output_dir), continuous_int16(first.output_dir))
    calls = read_log(script.parent / "calls.jsonl")
    assert [c["shape"] for c in calls if c["call"] == "process"][:2] == [[8, 512], [8, 512]]
    delivered = {(c["source_node"], c["sample_number"], c["line"], c["state"])
                 for c in calls if c["call"] == "handle_ttl_event"}
    python_events = events_of(first.output_dir, 101)
    # the first run's Python events (node 101) are TTL events of the recording now
    expected = {(101, int(s), int(line) - 1, int(state))
                for s, line, state in zip(python_events.sample_number, python_events.line, python_events.state)}
    assert expected <= delivered
    assert {c["sample_rate"] for c in calls if c["call"] == "__init__"} == {30000.0}


def test_seeded_synthetic_input_is_reproducible(pyhost):
    a = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    b = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    c = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC.replace("seed=7", "seed=8"))
    np.testing.assert_array_equal(continuous_int16(a.output_dir), continuous_int16(b.output_dir))
    assert (continuous_int16(a.output_dir) != continuous_int16(c.output_dir)).any()


def test_output_folder_holding_a_recording_is_never_overwritten(pyhost):
    first = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    before = (first.output_dir / "Record Node 200").stat().st_mtime_ns
    from oe_pyproc.host import host_command, run_host

    again = run_host(host_command([pyhost.script("double_in_place.py")], pyhost.python_home,
                                  input_source=SYNTHETIC, output=str(first.output_dir)), echo=lambda line: None)
    assert again.returncode == 2
    assert "nothing was overwritten" in again.reason
    assert (first.output_dir / "Record Node 200").stat().st_mtime_ns == before


def test_bad_input_is_explained(pyhost, tmp_path):
    from oe_pyproc.host import host_command, run_host

    script = pyhost.script("passthrough.py")
    for source, message in [
        (str(tmp_path / "missing"), "is neither synthetic:... nor an existing recording folder"),
        ("synthetic:colour=red", "unknown key 'colour'"),
        (str(tmp_path), "holds no Open Ephys binary recording"),
    ]:
        result = run_host(host_command([script], pyhost.python_home, input_source=source), echo=lambda line: None)
        assert result.returncode == 2 and message in result.reason, result.reason


def test_oe_pyproc_run_uses_the_current_env(pyhost):
    script = pyhost.script("events_at_offsets.py")
    out = pyhost.workdir / "cli-out"
    command = [sys.executable, "-m", "oe_pyproc", "run", str(script), "--input", SYNTHETIC, "--output", str(out)]
    shown = subprocess.run(command, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "ready" in shown.stdout and "recording written to" in shown.stdout
    assert len(recording(out).events) > 0

    as_json = subprocess.run(command[:-2] + ["--json"], capture_output=True, text=True)
    summary = json.loads(as_json.stdout)
    assert summary["python_home"] == sys.prefix and summary["instances"][0]["events_out"] == 45


def test_oe_pyproc_run_reports_a_bad_home(pyhost, tmp_path):
    script = pyhost.script("passthrough.py")
    shown = subprocess.run([sys.executable, "-m", "oe_pyproc", "run", str(script), "--python-home",
                            str(tmp_path / "gone")], capture_output=True, text=True)
    assert shown.returncode == 3
    assert "does not exist" in shown.stdout
