"""Makes docs/images/editor_parameters.png: the Python Processor's editor in the real GUI, in a window on
an Xvfb screen, running the threshold detector template, whose parameters get the GUI's own controls.

    .venv/bin/python docs/editor_screenshot.py      (needs Debian's xvfb and imagemagick)
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from gui_session import GuiSession, JackServer, build_plugin, find_gui  # noqa: E402
from oe_pyproc.host import current_python_home  # noqa: E402

DISPLAY = ":97"
OUTPUT = REPO / "docs" / "images" / "editor_parameters.png"


def main() -> None:
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
            reader = gui.add("File Reader")
            python = gui.add("Python Processor", reader)
            gui.set(python, "script_path", str(REPO / "templates" / "threshold_detector.py"))
            gui.add("Record Node", python)
            time.sleep(3)  # the editor widens and is laid out again
            assert gui.python_status(python)["state"] == "ready", gui.python_status(python)
            OUTPUT.parent.mkdir(parents=True, exist_ok=True)
            # The signal chain, where the editors are (the window fills the 1400 x 900 screen).
            subprocess.run(["import", "-display", DISPLAY, "-window", "root", "-crop", "1200x160+100+645", "+repage",
                            str(OUTPUT)], check=True)
            print(f"written {OUTPUT}")
        finally:
            if gui is not None:
                gui.stop()
            jack.stop()
            screen.terminate()


if __name__ == "__main__":
    main()
