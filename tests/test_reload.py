"""Reload re-imports the script and the helper modules beside it."""

from conftest import continuous_int16

SYNTHETIC = "synthetic:channels=4,rate=30000,seconds=0.3,block=1000"

MAIN = '''
import os
import offsets          # a helper module beside the script
import signal           # the stdlib module, not this folder's signal.py

HERE = os.path.dirname(os.path.abspath(__file__))


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.buffers = 0
        assert hasattr(signal, "SIGINT"), "stdlib signal was shadowed"

    def process(self, data):
        self.buffers += 1
        data += offsets.OFFSET
        if self.buffers == 2:   # edit the helper while running, as a user would
            with open(os.path.join(HERE, "offsets.py"), "w") as out:
                out.write("OFFSET = 19.5 * 2  # ten steps more\\n")
'''


def test_reload_picks_up_edited_helpers(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    pyhost.script("offsets.py", "OFFSET = 19.5\n")
    pyhost.script("signal.py", "raise RuntimeError('this folder\\'s signal.py must never be imported')\n")
    script = pyhost.script("filter.py", MAIN)
    result = pyhost.run(script, input_source=SYNTHETIC, extra=["--reload-at", "5"])
    assert result.returncode == 0, result.summary["instances"][0]["error"]
    steps = continuous_int16(result.output_dir) - continuous_int16(reference.output_dir)
    assert (steps[:4000] == 100).all(), "blocks 1-4 use the helper as first imported"
    assert (steps[4000:] == 200).all(), "after reload (before block 5) the edited helper applies"


def test_a_script_named_like_a_stdlib_module_loads(pyhost):
    script = pyhost.script("signal.py", "import signal\nimport threading\n\nclass PyProcessor:\n"
                                        "    def __init__(self, p, n, r):\n        assert signal.SIGINT\n"
                                        "    def process(self, data):\n        data *= 0\n")
    result = pyhost.run(script, input_source=SYNTHETIC)
    assert result.returncode == 0, result.summary["instances"][0]["error"]
    assert not continuous_int16(result.output_dir).any()
