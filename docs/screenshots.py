"""Makes the pictures of the real GUI in docs/images/, in a window on an Xvfb screen:

- editor_parameters.png: the Python Processor's editor running the threshold detector template, whose
  parameters get the GUI's own controls;
- lfp_viewer_derived.png: the LFP Viewer during acquisition, drawing the band_power template's derived
  channels (envelope, threshold) under the four channels of a recording with spikes on its second.

    .venv/bin/python docs/screenshots.py      (needs Debian's xvfb, imagemagick and xdotool)
"""
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402

from conftest import write_recording  # noqa: E402
from gui_session import GuiSession, JackServer, build_plugin, find_gui  # noqa: E402
from oe_pyproc.host import current_python_home  # noqa: E402

DISPLAY = ":97"
IMAGES = REPO / "docs" / "images"


@contextlib.contextmanager
def gui_on_screen():
    """The real GUI in a window filling a 1400 x 900 Xvfb screen, with the plugin installed."""
    executable, reason = find_gui()
    if executable is None:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        screen = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1400x900x24"])
        jack = JackServer(root / "jackd.log")
        gui = None
        try:
            time.sleep(1)
            jack.start()
            gui = GuiSession(executable, root / "gui", jack)
            gui.install(build_plugin(), current_python_home())
            gui.start(display=DISPLAY)
            time.sleep(2)
            # The first start offers a default configuration in a dialog: closed, as a user would.
            subprocess.run(["xdotool", "key", "--clearmodifiers", "Escape"], env={"DISPLAY": DISPLAY}, check=False)
            yield gui, root
        finally:
            if gui is not None:
                gui.stop()
            jack.stop()
            screen.terminate()


def capture(name: str, crop: str = "") -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    output = IMAGES / name
    subprocess.run(["import", "-display", DISPLAY, "-window", "root", *(["-crop", crop, "+repage"] if crop else []),
                    str(output)], check=True)
    print(f"written {output}")


def editor_parameters() -> None:
    with gui_on_screen() as (gui, _):
        reader = gui.add("File Reader")
        python = gui.add("Python Processor", reader)
        gui.set(python, "script_path", str(REPO / "templates" / "threshold_detector.py"))
        gui.add("Record Node", python)
        time.sleep(3)  # the editor widens and is laid out again
        assert gui.python_status(python)["state"] == "ready", gui.python_status(python)
        capture("editor_parameters.png", "1200x160+100+645")  # the signal chain, where the editors are


def lfp_viewer_derived() -> None:
    with gui_on_screen() as (gui, root):
        reader = gui.add("File Reader")
        gui.set(reader, "selected_file", str(next(spiky_recording(root / "input").rglob("structure.oebin"))))
        python = gui.add("Python Processor", reader)
        gui.set(python, "script_path", str(REPO / "templates" / "band_power.py"))
        gui.set(python, "channel", 1)
        viewer = gui.add("LFP Viewer", python)
        deadline = time.monotonic() + 20
        while gui.get(f"/api/processors/{viewer}")["streams"][0]["channel_count"] < 4 + 2:
            if time.monotonic() > deadline:
                sys.exit("the derived channels did not reach the LFP Viewer")
            time.sleep(0.2)
        gui.put("/api/status", {"mode": "ACQUIRE"})
        time.sleep(6)  # a few screens of data
        capture("lfp_viewer_derived.png")
        gui.put("/api/status", {"mode": "IDLE"})


def spiky_recording(folder: Path) -> Path:
    """4 channels of noise, 10 s, with a spike every 0.2 s on the second."""
    rng = np.random.default_rng(3)
    samples = rng.normal(0.0, 8.0, size=(300000, 4))
    for peak in range(3000, 300000 - 20, 6000):
        samples[peak - 5:peak + 10, 1] += -140.0 * np.hanning(15)
    return write_recording(folder, samples, 30000.0)


if __name__ == "__main__":
    editor_parameters()
    lfp_viewer_derived()
