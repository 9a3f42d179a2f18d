"""oe-pyproc new, bench and run --plot, as a user types them."""
import subprocess
import sys
from pathlib import Path

import pytest

from oe_pyproc.bench import measure
from oe_pyproc.host import current_python_home
from oe_pyproc.templates import TemplateError, available_templates, new_module

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def oe_pyproc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "oe_pyproc", *args], capture_output=True, text=True, cwd=cwd)


def test_new_writes_a_module_that_runs(tmp_path):
    shown = oe_pyproc("new", "my_filter", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout
    written = tmp_path / "my_filter.py"
    assert written.read_text() == available_templates()["processor_template"].read_text()
    ran = oe_pyproc("run", str(written), "--input", "synthetic:channels=4,rate=1000,seconds=0.2,block=100",
                    "--json", cwd=tmp_path)
    assert ran.returncode == 0 and '"state": "ready"' in ran.stdout


def test_new_never_overwrites_and_names_the_templates(tmp_path):
    (tmp_path / "taken.py").write_text("# mine\n")
    with pytest.raises(TemplateError, match="already exists; choose another name"):
        new_module("taken", folder=tmp_path)
    assert (tmp_path / "taken.py").read_text() == "# mine\n"
    with pytest.raises(TemplateError, match="no template called 'nope'; choose one of: .*processor_template"):
        new_module("other", template="nope", folder=tmp_path)
    with pytest.raises(TemplateError, match="not a valid Python module name"):
        new_module("my-filter", folder=tmp_path)


def test_bench_measures_every_buffer_against_the_budget():
    script = Path(__file__).parent / "scripts" / "double_in_place.py"
    run = measure(script, current_python_home(), channels=32, rate=30000, block=1024, blocks=40)
    assert len(run.latencies_us) == 40
    assert run.budget_us == pytest.approx(1e6 * 1024 / 30000)
    assert 0 < run.percentile(50) <= run.percentile(99)
    assert run.fits == (run.percentile(99) <= run.budget_us)  # the verdict follows the numbers, whatever the load


def test_bench_command_prints_the_distribution_and_writes_a_histogram(tmp_path):
    script = Path(__file__).parent / "scripts" / "passthrough.py"
    plot = tmp_path / "latency.png"
    shown = oe_pyproc("bench", str(script), "--channels", "16", "--blocks", "30", "--no-search",
                      "--plot", str(plot))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "16 ch: p50" in shown.stdout and "budget" in shown.stdout
    assert plot.read_bytes()[:8] == PNG_MAGIC


def test_run_plot_draws_input_against_output(tmp_path):
    script = Path(__file__).parent / "scripts" / "events_at_offsets.py"
    plot = tmp_path / "run.png"
    shown = oe_pyproc("run", str(script), "--input", "synthetic:channels=4,rate=30000,seconds=0.2,block=1000",
                      "--output", str(tmp_path / "out"), "--plot", str(plot))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "plot written to" in shown.stdout
    assert plot.read_bytes()[:8] == PNG_MAGIC


def test_run_on_a_recording_round_trips_through_session(tmp_path):
    from conftest import continuous_int16, recording

    synthetic = "synthetic:channels=4,rate=30000,seconds=0.3,block=1000"
    passthrough = Path(__file__).parent / "scripts" / "passthrough.py"
    first = oe_pyproc("run", str(passthrough), "--input", synthetic, "--output", str(tmp_path / "in"))
    assert first.returncode == 0, first.stdout
    doubled = Path(__file__).parent / "scripts" / "double_in_place.py"
    second = oe_pyproc("run", str(doubled), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert second.returncode == 0, second.stdout
    before = continuous_int16(tmp_path / "in").astype(int)
    after = continuous_int16(tmp_path / "out").astype(int)
    assert before.shape == after.shape == (9000, 4)
    assert (after == 2 * before).all()
    assert recording(tmp_path / "out").continuous[0].sample_numbers[0] == 0
