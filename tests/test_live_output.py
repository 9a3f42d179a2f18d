"""pyproc-host --output writes what modules publish (published/<node>_<script>/*.npy), --realtime paces the
blocks, and oe-pyproc run --plot draws the published values under the traces."""
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import BIT_VOLTS, continuous_int16

RATE = 30000
BLOCK = 1000
BLOCKS = 9
INPUT = f"synthetic:channels=4,rate={RATE},seconds={BLOCKS * BLOCK / RATE},block={BLOCK}"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

PUBLISHER = '''
import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.rate = sample_rate
        self.first = 0  # the first sample number of the buffer being processed

    def process(self, data):
        p, first = self.processor, self.first
        p.publish("sine", float(np.sin(2 * np.pi * 5 * first / self.rate)))
        p.publish("spectrum/psd", np.arange(16, dtype=np.float32) + first, x=np.linspace(0.0, 1.5, 16))
        p.publish("image", np.full((3, 5), first, dtype=np.float32) + np.arange(5, dtype=np.float32))
        p.publish("picture", np.full((4, 6, 3), first // 1000, dtype=np.uint8))
        p.publish("Power", 1.0)
        p.publish("power", 2.0)
        p.publish("growing", np.zeros(2 if first < 3000 else 3))
        self.first += data.shape[1]

    def stop_acquisition(self):
        self.processor.publish("final", 42.0)
'''


def folders(output: Path):
    return sorted(path.name for path in (output / "published").iterdir())


def load(folder: Path, stem: str):
    return np.load(folder / f"{stem}.npy"), np.load(folder / f"{stem}.sample_numbers.npy")


def test_published_values_are_stacked_per_name_with_their_sample_numbers(pyhost):
    script = pyhost.script("publisher.py", PUBLISHER)
    result = pyhost.run(script, input_source=INPUT)
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["published"] == {"sine": BLOCKS, "spectrum/psd": BLOCKS, "image": BLOCKS, "picture": BLOCKS,
                                     "Power": BLOCKS, "power": BLOCKS, "growing": 3, "final": 1}
    assert instance["published_other_shape"] == {"growing": BLOCKS - 3}
    assert instance["published_lost"] == 0

    folder = result.output_dir / "published" / "101_publisher"
    assert folders(result.output_dir) == ["101_publisher"]
    assert Path(instance["published_dir"]) == folder.resolve()
    names = json.loads((folder / "names.json").read_text())
    assert names == {"sine": "sine", "spectrum_psd": "spectrum/psd", "image": "image", "picture": "picture",
                     "Power": "Power", "power-2": "power", "growing": "growing", "final": "final"}
    firsts = np.arange(BLOCKS, dtype=np.int64) * BLOCK

    sine, samples = load(folder, "sine")
    assert sine.dtype == np.float64 and sine.shape == (BLOCKS,)
    assert samples.dtype == np.int64 and samples.tolist() == firsts.tolist()
    np.testing.assert_array_equal(sine, np.sin(2 * np.pi * 5 * firsts / RATE))

    curve, samples = load(folder, "spectrum_psd")
    assert curve.dtype == np.float32 and curve.shape == (BLOCKS, 16) and samples.tolist() == firsts.tolist()
    np.testing.assert_array_equal(curve, np.arange(16, dtype=np.float32) + firsts[:, None].astype(np.float32))
    x = np.load(folder / "spectrum_psd.x.npy")
    np.testing.assert_array_equal(x, np.linspace(0.0, 1.5, 16).astype(np.float32))

    image, samples = load(folder, "image")
    assert image.dtype == np.float32 and image.shape == (BLOCKS, 3, 5) and samples.tolist() == firsts.tolist()
    np.testing.assert_array_equal(image[4], np.full((3, 5), 4 * BLOCK) + np.arange(5))

    picture, _ = load(folder, "picture")
    assert picture.dtype == np.uint8 and picture.shape == (BLOCKS, 4, 6, 4)
    assert (picture[..., :3] == np.arange(BLOCKS, dtype=np.uint8)[:, None, None, None]).all()
    assert (picture[..., 3] == 255).all(), "RGB pictures are stored as RGBA"

    assert load(folder, "Power")[0].tolist() == [1.0] * BLOCKS
    assert load(folder, "power-2")[0].tolist() == [2.0] * BLOCKS

    growing, samples = load(folder, "growing")  # the first shape is kept; the others only counted
    assert growing.shape == (3, 2) and samples.tolist() == [0, BLOCK, 2 * BLOCK]

    final, samples = load(folder, "final")  # published in stop_acquisition(): drained after the run
    assert final.tolist() == [42.0] and samples.tolist() == [(BLOCKS - 1) * BLOCK]


def test_the_npy_headers_hold_the_final_count(pyhost):
    result = pyhost.run(pyhost.script("publisher.py", PUBLISHER), input_source=INPUT)
    path = result.output_dir / "published" / "101_publisher" / "image.npy"
    raw = path.read_bytes()
    header_length = struct.unpack_from("<H", raw, 8)[0]
    header = raw[10:10 + header_length].decode("latin1")
    assert "'shape': (9, 3, 5)" in header and "'descr': '<f4'" in header
    assert len(raw) == 10 + header_length + BLOCKS * 3 * 5 * 4


def test_two_instances_of_one_script_write_to_folders_of_their_own(pyhost):
    result = pyhost.run(pyhost.script("publisher.py", PUBLISHER), input_source=INPUT, instances=2)
    assert result.returncode == 0, result.stderr
    assert folders(result.output_dir) == ["101_publisher", "102_publisher"]
    first, second = (result.output_dir / "published" / name for name in folders(result.output_dir))
    for stem in ("sine", "spectrum_psd", "image", "final"):
        np.testing.assert_array_equal(load(first, stem)[0], load(second, stem)[0])
        np.testing.assert_array_equal(load(first, stem)[1], load(second, stem)[1])
    assert [i["published_dir"] for i in result.summary["instances"]] == [str(first.resolve()), str(second.resolve())]


def test_without_output_published_values_are_counted_and_nothing_is_written(pyhost):
    result = pyhost.run(pyhost.script("publisher.py", PUBLISHER), input_source=INPUT, output=False)
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["published"]["sine"] == BLOCKS and instance["published_dir"] is None
    assert not list(pyhost.workdir.glob("out*"))


def test_a_module_that_publishes_nothing_writes_no_published_folder(pyhost):
    result = pyhost.run(pyhost.script("passthrough.py"), input_source=INPUT)
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["published"] == {} and instance["published_lost"] == 0 and instance["published_dir"] is None
    assert not (result.output_dir / "published").exists()


def test_realtime_paces_the_blocks_at_the_sample_rate(pyhost):
    script = pyhost.script("passthrough.py")
    started = time.monotonic()
    result = pyhost.run(script, input_source="synthetic:channels=4,rate=30000,seconds=1,block=1024", output=False,
                        extra=["--realtime"])
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.summary["input"]["samples"] == 30000
    assert elapsed >= 0.9, f"1 s of input took {elapsed:.3f} s with --realtime"


def test_the_threshold_template_publishes_its_peak_and_threshold(pyhost):
    script = pyhost.script("threshold_detector.py", (TEMPLATES / "threshold_detector.py").read_text())
    result = pyhost.run(script, input_source=INPUT, extra=["--param", "threshold_uv=-80"])
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["published"] == {"peak_uv": BLOCKS, "threshold_uv": BLOCKS}
    folder = result.output_dir / "published" / "101_threshold_detector"
    assert load(folder, "threshold_uv")[0].tolist() == [-80.0] * BLOCKS
    # A negative threshold: each buffer's minimum of the watched channel (the data pass through unchanged).
    channel = (continuous_int16(result.output_dir)[:, 0] * BIT_VOLTS).astype(np.float32)
    np.testing.assert_allclose(load(folder, "peak_uv")[0], channel.reshape(BLOCKS, BLOCK).min(axis=1), rtol=1e-6)


# --- oe-pyproc run --plot / --view ---------------------------------------------------------------------------


def test_run_figure_draws_a_row_per_published_name(pyhost, python_home):
    pytest.importorskip("matplotlib")
    from oe_pyproc.plot import read_published, run_figure

    published = pyhost.run(pyhost.script("publisher.py", PUBLISHER), input_source=INPUT)
    plain = pyhost.run(pyhost.script("passthrough.py"), input_source=INPUT)
    assert read_published(plain.output_dir) == []
    found = read_published(published.output_dir)
    assert [item.name for item in found] == ["sine", "spectrum/psd", "image", "picture", "Power", "power",
                                             "growing", "final"]
    assert [item.kind for item in found][:4] == ["scalar", "curve", "image", "picture"]
    with_values = run_figure(INPUT, published.output_dir, python_home, "publisher")
    without = run_figure(INPUT, plain.output_dir, python_home, "passthrough")
    titles = [axis.get_title() for axis in with_values.axes]
    assert len(without.axes) == 4  # the traces of 4 channels
    assert len(with_values.axes) >= 4 + len(found)
    assert any(title.startswith("sine: 9 values") for title in titles)
    assert any(title.startswith("spectrum/psd: the last of 9") for title in titles)


def png_size(path: Path):
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def oe_pyproc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "oe_pyproc", *args], capture_output=True, text=True, cwd=cwd)


def test_run_plot_without_output_adds_the_published_rows(tmp_path):
    pytest.importorskip("matplotlib")
    publisher = tmp_path / "publisher.py"
    publisher.write_text(PUBLISHER)
    passthrough = Path(__file__).parent / "scripts" / "passthrough.py"
    sizes = {}
    for script in (publisher, passthrough):
        png = tmp_path / f"{script.stem}.png"
        shown = oe_pyproc("run", str(script), "--input", INPUT, "--plot", str(png), cwd=tmp_path)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "plot written to" in shown.stdout and "recording written to" not in shown.stdout
        sizes[script.stem] = png_size(png)
    assert sizes["publisher"][1] > sizes["passthrough"][1] + 500, sizes
    left = sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("__"))
    assert left == ["passthrough.png", "publisher.png", "publisher.py"], "the recording went to a scratch folder"


def test_run_view_opens_the_viewer_and_runs_at_real_time(tmp_path, monkeypatch, capsys):
    from oe_pyproc import cli, host

    opened = []
    monkeypatch.setattr(host, "start_viewer", lambda: opened.append(True) or "http://127.0.0.1:5077/")
    script = Path(__file__).parent / "scripts" / "passthrough.py"
    started = time.monotonic()
    status = cli.main(["run", str(script), "--view", "--json",
                       "--input", "synthetic:channels=2,rate=10000,seconds=0.5,block=500"])
    elapsed = time.monotonic() - started
    assert status == 0 and opened == [True]
    assert json.loads(capsys.readouterr().out)["input"]["samples"] == 5000
    assert elapsed >= 0.45


def test_a_viewer_that_cannot_start_says_why(tmp_path, monkeypatch):
    from oe_pyproc import host

    broken = tmp_path / "python"  # an env whose python cannot run the viewer
    broken.write_text("#!/bin/sh\necho 'No module named bokeh' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(host.sys, "executable", str(broken))
    monkeypatch.setenv("OE_PYPROC_LIVE_DIR", str(tmp_path / "live"))
    with pytest.raises(host.ViewerNotStarted, match="did not start: No module named bokeh"):
        host.start_viewer(wait_seconds=30)
