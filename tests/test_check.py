"""oe_pyproc.contract.check_script: each mistake in the contract is caught, at its exact line."""
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from oe_pyproc import contract
from oe_pyproc.contract import Finding, check_script, exit_status, findings_as_json, render

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).parent / "scripts"
VALID = sorted((ROOT / "templates").glob("*.py")) + [
    SCRIPTS / name for name in ("passthrough.py", "double_in_place.py", "negate_returned.py",
                                "events_at_offsets.py", "spike_echo.py")]


def write(tmp_path, source, name="module.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def summary(findings):
    return [(f.status, f.line) for f in findings]


# -- static checks (run=False: nothing is imported or run) -------------------------------

def test_a_syntax_error_fails_at_its_line(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                data[:] = (data * 2
    """)
    [finding] = check_script(path, run=False)
    assert (finding.status, finding.line, finding.path) == ("fail", 6, str(path))
    assert finding.message == "SyntaxError: '(' was never closed"
    assert "data[:] = (data * 2" in finding.detail


def test_a_syntax_error_stops_the_run_too(tmp_path):
    path = write(tmp_path, "import numpy\n\nclass PyProcessor(:\n    pass\n")
    assert summary(check_script(path, python_home=None, run=True)) == [("fail", 3)]


def test_a_missing_class_fails_at_line_1_naming_the_file(tmp_path):
    path = write(tmp_path, """
        import numpy as np

        class Processor:
            def process(self, data):
                pass
    """, name="my_filter.py")
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 1)
    assert finding.message == "my_filter.py defines no top-level class PyProcessor; the engine loads the class " \
                              "of that name"


def test_a_class_nested_elsewhere_does_not_count(tmp_path):
    path = write(tmp_path, """
        def make():
            class PyProcessor:
                pass
            return PyProcessor
    """)
    assert summary(check_script(path)) == [("fail", 1)]


def test_a_class_imported_from_a_helper_is_left_to_the_run(tmp_path):
    write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                data *= 2
    """, name="shared_filters.py")
    path = write(tmp_path, "from shared_filters import PyProcessor\n")
    assert check_script(path, run=False) == []
    assert summary(check_script(path)) == [("ok", None)]


def test_the_old_init_signature_fails_at_the_def(tmp_path):
    path = write(tmp_path, """
        import numpy as np


        class PyProcessor:
            def __init__(self, num_channels, sample_rate):
                self.num_channels = num_channels

            def process(self, data):
                pass
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 5)
    assert finding.message == (
        "def __init__(self, num_channels, sample_rate) is the 0.6-era signature, without processor: the engine "
        "constructs PyProcessor(processor, num_channels, sample_rate); write def __init__(self, processor, "
        "num_channels, sample_rate):")


def test_a_missing_init_fails_at_the_class(tmp_path):
    path = write(tmp_path, """
        # a comment

        class PyProcessor:
            def process(self, data):
                pass
    """)
    [finding] = check_script(path, run=False)
    assert (finding.status, finding.line) == ("fail", 3)
    assert "PyProcessor(processor, num_channels, sample_rate)" in finding.message


def test_signatures_with_defaults_or_varargs_are_accepted(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate, gain=2.0):
                pass

            def process(self, data, *rest):
                pass

            def handle_ttl_event(self, *args):
                pass

            def start_recording(self, recording_dir=None):
                pass
    """)
    assert check_script(path, run=False) == []


def test_a_missing_process_fails_at_the_class(tmp_path):
    path = write(tmp_path, """
        import numpy as np

        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 3)
    assert finding.message == ("PyProcessor has no process method; the engine calls it for every buffer: "
                               "write def process(self, data):")


def test_process_without_data_fails(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self):
                pass
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 5)
    assert finding.message.endswith("write def process(self, data):")


@pytest.mark.parametrize("method, parameters, expected", [
    ("handle_ttl_event", "self, sample_number, line, state",
     "handle_ttl_event(self, source_node, channel, sample_number, line, state)"),
    ("handle_spike", "self, sample_number, waveform",
     "handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id, "
     "spike_data)"),
    ("start_recording", "self", "start_recording(self, recording_dir)"),
    ("stop_recording", "self, recording_dir", "stop_recording(self)"),
    ("start_acquisition", "self, *, mode", "start_acquisition(self)"),
    ("stop_acquisition", "self, when", "stop_acquisition(self)"),
])
def test_a_wrong_optional_signature_fails_at_its_def(tmp_path, method, parameters, expected):
    path = write(tmp_path, f"""
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                pass

            def {method}({parameters}):
                pass
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 8)
    count = contract.ARGUMENT_COUNTS[method]
    assert finding.message == (f"def {method}({parameters}) does not match how the engine calls it: the engine "
                               f"calls {method} with {count} argument{'' if count == 1 else 's'}; "
                               f"write def {expected}:")


def test_misspelled_method_names_are_warnings(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                pass

            def handle_ttl(self, source_node, channel, sample_number, line, state):
                pass

            def start_aquisition(self):
                pass

            def handle_spike_event(self, *args):
                pass

            def _process_one_channel(self, row):
                pass

            def smooth(self, data):
                pass
    """)
    findings = check_script(path, run=False)
    assert summary(findings) == [("warn", 8), ("warn", 11), ("warn", 14)]
    assert [f.message for f in findings] == [
        "handle_ttl will never be called; did you mean handle_ttl_event(self, source_node, channel, "
        "sample_number, line, state)?",
        "start_aquisition will never be called; did you mean start_acquisition(self)?",
        "handle_spike_event will never be called; did you mean handle_spike(self, source_node, electrode_name, "
        "num_channels, num_samples, sample_number, sorted_id, spike_data)?",
    ]
    assert exit_status(findings) == 0


def test_a_helper_named_like_a_defined_method_is_not_a_misspelling(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                pass

            def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number,
                             sorted_id, spike_data):
                pass

            def handle_spikes(self, batch):
                pass
    """)
    assert check_script(path, run=False) == []


@pytest.mark.parametrize("statement", ["data = data * 2", "data = np.clip(data, -100, 100)",
                                       "data: np.ndarray = data - data.mean()", "data, scale = data / 2, 2"])
def test_rebinding_data_in_process_fails_at_that_line(tmp_path, statement):
    path = write(tmp_path, f"""
        import numpy as np


        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                self.gain = 2

            def process(self, data):
                self.gain += 0
                {statement}
                self.last = float(data[0, 0])
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 10)
    assert finding.message == ("`data = ...` in process() makes a new array that never reaches the chain: edit "
                               "the buffer in place (data[:] = ..., data *= ...) or return the new array")


def test_rebinding_is_found_inside_blocks_under_the_parameters_own_name(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, buffer):
                for _ in range(2):
                    if buffer.size:
                        buffer = buffer + 1
    """)
    findings = check_script(path)
    assert summary(findings) == [("fail", 8)]
    assert findings[0].message.startswith("`buffer = ...` in process()")


@pytest.mark.parametrize("body", [
    "data[:] = data * 2",
    "data *= 2",
    "data += 1",
    "data[0] = 0",
    "data = data * 2\nreturn data",
    "return data * 2",
    "def helper(data):\n    data = data + 1\n    return data\ndata[:] = helper(data)",
    "view = data.T\nview[0] = 1",
    "data = data.reshape(-1)\ndata[:] = 0",
])
def test_in_place_edits_and_returned_arrays_are_fine(tmp_path, body):
    source = ("class PyProcessor:\n    def __init__(self, processor, num_channels, sample_rate):\n        pass\n\n"
              "    def process(self, data):\n" + textwrap.indent(body, " " * 8) + "\n")
    assert check_script(write(tmp_path, source), run=False) == []


def test_every_static_check_is_listed():
    listed = {check.__name__ for check in contract.STATIC_CHECKS}
    defined = {name for name in dir(contract) if name.startswith("check_") and name != "check_script"}
    assert listed == defined


# -- the run through the engine ------------------------------------------------------

def test_an_exception_in_process_fails_at_the_deepest_line_of_the_users_file(tmp_path):
    path = write(tmp_path, """
        import numpy as np


        def peak(data):
            channel = data.shape[0] + 5
            return data[channel]


        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                self.buffers = 0

            def process(self, data):
                self.buffers += 1
                if self.buffers == 3:
                    peak(data)
    """)
    findings = check_script(path)
    [finding] = findings
    assert (finding.status, finding.line) == ("fail", 6)
    assert finding.message == "process() raised IndexError: index 13 is out of bounds for axis 0 with size 8"
    assert finding.detail.startswith("Error in process():\nTraceback (most recent call last):")
    assert f'File "{path}", line 16, in process' in finding.detail
    assert f'File "{path}", line 6, in peak' in finding.detail
    assert exit_status(findings) == 1


def test_an_exception_in_a_callback_fails_at_its_line(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                self.processor = processor

            def process(self, data):
                pass

            def stop_acquisition(self):
                self.processor.add_python_event(1.5, True)
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 9)
    assert finding.message == "stop_acquisition() raised TypeError: line must be an integer, got float 1.5"


def test_an_import_error_fails_at_the_import(tmp_path):
    path = write(tmp_path, """
        import numpy as np
        import no_such_module_here


        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                pass
    """)
    [finding] = check_script(path)
    assert (finding.status, finding.line) == ("fail", 2)
    assert finding.message == "loading the script raised ModuleNotFoundError: No module named 'no_such_module_here'"


def test_engine_warnings_become_warnings_at_process(tmp_path):
    findings = check_script(SCRIPTS / "keeps_data.py")
    assert summary(findings) == [("warn", 8)]
    assert findings[0].message.startswith("process() keeps `data` after returning, so each buffer is a fresh copy")
    assert exit_status(findings) == 0


def test_warnings_from_the_static_checks_do_not_stop_the_run(tmp_path):
    path = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                pass

            def start_aquisition(self):
                pass
    """)
    assert summary(check_script(path)) == [("warn", 8), ("ok", None)]


def test_the_modules_output_is_captured(tmp_path):
    lines = []
    findings = check_script(SCRIPTS / "prints.py", echo=lines.append)
    assert summary(findings) == [("ok", None)]
    assert lines[:3] == ["hello from the module", "constructed with 8 channels", "a buffer"]
    assert findings[0].detail.startswith("the module printed:\nhello from the module\n")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_scripts_pass(path):
    findings = check_script(path)
    assert summary(findings) == [("ok", None)], findings
    assert findings[0].path == str(path)
    assert "latency p99" in findings[0].message and "6 buffers of 8 channels" in findings[0].message
    assert exit_status(findings) == 0


def test_valid_scripts_pass_the_static_checks_alone():
    for path in VALID:
        assert check_script(path, run=False) == [], path


# -- output ------------------------------------------------------------------------------

FINDINGS = [
    Finding("fail", "a.py", 3, "process() raised ZeroDivisionError: division by zero",
            "Traceback (most recent call last):\n  File \"a.py\", line 3\nZeroDivisionError: division by zero"),
    Finding("warn", "a.py", 8, "start_aquisition will never be called; did you mean start_acquisition(self)?"),
    Finding("ok", "b.py", None, "ran through the engine: [fine]"),
]


def test_render_marks_each_finding_with_path_and_line():
    out = io.StringIO()
    render(FINDINGS, Console(file=out, width=200, color_system=None))
    assert out.getvalue().splitlines() == [
        "✗ a.py:3: process() raised ZeroDivisionError: division by zero",
        "    Traceback (most recent call last):",
        "      File \"a.py\", line 3",
        "    ZeroDivisionError: division by zero",
        "! a.py:8: start_aquisition will never be called; did you mean start_acquisition(self)?",
        "✓ b.py: ran through the engine: [fine]",
    ]


def test_findings_as_json_round_trips():
    data = json.loads(findings_as_json(FINDINGS))
    assert [Finding(**item) for item in data] == FINDINGS
    assert data[2] == {"status": "ok", "path": "b.py", "line": None, "message": "ran through the engine: [fine]",
                       "detail": None}


def test_exit_status():
    assert exit_status(FINDINGS) == 1
    assert exit_status(FINDINGS[1:]) == 0
    assert exit_status([]) == 0


# -- code that needs the published plugin's C-contiguous array -------------------------------

NEEDS_CONTIGUOUS = """
    import numba
    import zmq

    @numba.njit("void(float32[:, ::1])")
    def kernel(block):
        pass

    class PyProcessor:
        def __init__(self, processor, num_channels, sample_rate):
            self.socket = zmq.Context().socket(zmq.PUB)

        def process(self, data):
            data.shape = (-1,)
            view = memoryview(data)
            self.socket.send(data)
            address = data.ctypes.data
            kernel(data)
"""


def test_code_needing_a_c_contiguous_array_is_pointed_at_with_the_one_line_fix(tmp_path):
    findings = check_script(write(tmp_path, NEEDS_CONTIGUOUS), run=False)
    assert summary(findings) == [("warn", 4), ("warn", 13), ("warn", 14), ("warn", 15), ("warn", 16)]
    assert all("add `fresh_data = True` to PyProcessor" in f.message for f in findings)
    assert "`data.shape = ...`" in findings[1].message and "`memoryview(data)`" in findings[2].message
    assert "`send(data)`" in findings[3].message and "`data.ctypes`" in findings[4].message
    assert "`::1`" in findings[0].message
    assert exit_status(findings) == 0  # warnings: the module may never meet a strided view


@pytest.mark.parametrize("declaration", ["fresh_data = True", "def __init__(self, processor, n, rate):\n"
                                                              "            self.fresh_data = True"])
def test_asking_for_fresh_data_silences_them(tmp_path, declaration):
    source = NEEDS_CONTIGUOUS.replace("    class PyProcessor:\n", "    class PyProcessor:\n        %s\n" % declaration)
    source = source.replace("        def __init__(self, processor, num_channels, sample_rate):\n"
                            "            self.socket = zmq.Context().socket(zmq.PUB)\n", "") \
        if "__init__" in declaration else source
    assert check_script(write(tmp_path, source), run=False) == []


def test_the_doctor_points_at_them_too(tmp_path):
    script = write(tmp_path, """
        class PyProcessor:
            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                data.shape = (-1,)
                data.shape = (2, -1)
    """)
    done = subprocess.run([sys.executable, "-m", "oe_pyproc", "doctor", "--python-home", sys.prefix, "--gui-dir",
                           str(tmp_path / "gui"), "--script", str(script), "--json"], capture_output=True, text=True,
                          timeout=120)
    finding = {f["id"]: f for f in json.loads(done.stdout)["findings"]}["script"]
    # The short run's last buffer is shorter than the host's: a strided view, as in the GUI, so it fails.
    assert finding["status"] == "fail"
    assert finding["evidence"].startswith(f"{script}:6: process() raised AttributeError")
    assert f"{script}:6: `data.shape = ...` raises" in finding["evidence"] and "fresh_data = True" in finding["evidence"]


# -- parameter declarations ------------------------------------------------------------------------

def test_parameter_declarations_are_checked_with_file_and_line(tmp_path):
    path = write(tmp_path, """
        import oe_pyprocessor as oe
        from oe_pyprocessor import Choice

        class PyProcessor:
            parameters = [
                oe.Float("threshold", -600.0, -500.0, 0.0, unit="uV"),
                oe.Int("refractory", 2, 0, 100),
                oe.Int("refractory", 3, 0, 100),
                Choice("mode", ["rising", "falling"], "both"),
                oe.Double("gain", 1.0),
                oe.Float("gain", 1.0, 2.0, 0.0),
                oe.Bool("python_home", True),
                oe.Float("scale", SCALE, 0.0, 10.0),
            ]

            def __init__(self, processor, num_channels, sample_rate):
                pass

            def process(self, data):
                pass
    """)
    findings = check_script(path, run=False)
    assert summary(findings) == [("fail", 6), ("fail", 8), ("fail", 9), ("fail", 10), ("fail", 11), ("fail", 12)]
    messages = [f.message for f in findings]
    assert messages[0] == "Float(...): threshold: default float -600.0 is not allowed; a number from -500 to 0 uV"
    assert messages[1] == "parameter 'refractory' is declared twice (first at line 7)"
    assert messages[2] == "Choice(...): mode: default str 'both' is not allowed; one of rising, falling"
    assert messages[3].startswith('`parameters` holds oe.Double("gain", 1.0), not a parameter: use oe_pyprocessor.Float')
    assert messages[4] == "Float(...): gain: min and max must be numbers with min <= max, got 2.0 and 0.0"
    assert messages[5] == "Bool(...): parameter name 'python_home' is the plugin's own; choose another"


def test_isolated_a_segfault_fails_at_its_line_with_the_cause(tmp_path):
    """`oe-pyproc check --isolated`: a module that crashes its process is a failing finding at the line
    the Python stack names, not a checker that dies with it."""
    path = tmp_path / "misbehaves.py"
    path.write_text((Path(__file__).parent / "misbehaving" / "misbehaves.py").read_text()
                    .replace("default=20", "default=1").replace('"exit"], "stall")', '"exit"], "segfault")'))
    [finding] = check_script(path, host_flags=["--isolated"])
    assert (finding.status, finding.line) == ("fail", 31)
    assert finding.message.startswith("the module's process died: killed by SIGSEGV")
    assert "Python stacks at that moment" in finding.detail
