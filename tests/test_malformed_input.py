"""The host's parsers on broken recordings a user may hand it: each is refused with exit 2 and one line
naming the file and what is wrong, never a crash, a hang or an unbounded allocation. Each case breaks
one thing of a valid recording (conftest.write_recording). (A missing sample_numbers.npy is not among
them: the recording then starts at sample 0, as it always did; nor an event channel without both of its
files, which holds no events.)"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import write_recording

RATE = 30000.0


def npy_bytes(header: str, payload: bytes = b"") -> bytes:
    """An .npy file with HEADER as its dict text, padded as version 1.0 pads it."""
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload


def oebin_of(folder: Path) -> Path:
    return next(folder.rglob("structure.oebin"))


def stream_dir(folder: Path) -> Path:
    return next(folder.rglob("continuous.dat")).parent


def edit_oebin(folder: Path, change) -> None:
    path = oebin_of(folder)
    structure = json.loads(path.read_text())
    change(structure)
    path.write_text(json.dumps(structure))


def stream(structure: dict) -> dict:
    return structure["continuous"][0]


def add_events(folder: Path, files: dict) -> None:
    """An events folder in structure.oebin, with FILES (name -> bytes) in it."""
    def change(structure):
        structure["events"] = [{"folder_name": "File_Reader-100.example_data/TTL/", "channel_name": "TTL",
                                "description": "", "identifier": "", "sample_rate": RATE, "type": "int16",
                                "num_channels": 1, "source_processor": "File Reader",
                                "stream_name": "example_data"}]
    edit_oebin(folder, change)
    events = oebin_of(folder).parent / "events" / "File_Reader-100.example_data" / "TTL"
    events.mkdir(parents=True)
    for name, content in files.items():
        (events / name).write_bytes(content)


def good_npy(values) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, np.asarray(values))
    return out.getvalue()


CASES = {
    # structure.oebin
    "oebin missing": lambda f: oebin_of(f).unlink(),
    "oebin truncated": lambda f: oebin_of(f).write_text(oebin_of(f).read_text()[:40]),
    "oebin empty": lambda f: oebin_of(f).write_text(""),
    "oebin deep nesting": lambda f: oebin_of(f).write_text("[" * 200_000 + "]" * 200_000),
    "oebin bad utf-8": lambda f: oebin_of(f).write_bytes(b'{"continuous": [{"folder_name": "\xff\xfe"}]}'),
    "oebin not an object": lambda f: oebin_of(f).write_text("[1, 2, 3]"),
    "no continuous list": lambda f: edit_oebin(f, lambda s: s.pop("continuous")),
    "empty continuous list": lambda f: edit_oebin(f, lambda s: s.update(continuous=[])),
    "num_channels a string": lambda f: edit_oebin(f, lambda s: stream(s).update(num_channels="four")),
    "num_channels negative": lambda f: edit_oebin(f, lambda s: stream(s).update(num_channels=-4)),
    "num_channels huge": lambda f: edit_oebin(f, lambda s: stream(s).update(num_channels=10**12)),
    "num_channels against channels": lambda f: edit_oebin(f, lambda s: stream(s).update(num_channels=7)),
    "sample_rate zero": lambda f: edit_oebin(f, lambda s: stream(s).update(sample_rate=0)),
    "sample_rate NaN": lambda f: oebin_of(f).write_text(oebin_of(f).read_text().replace("30000.0", "NaN")),
    "sample_rate a string": lambda f: edit_oebin(f, lambda s: stream(s).update(sample_rate="fast")),
    "bit_volts zero": lambda f: edit_oebin(f, lambda s: stream(s)["channels"][0].update(bit_volts=0)),
    "bit_volts missing": lambda f: edit_oebin(f, lambda s: stream(s)["channels"][1].pop("bit_volts")),
    "folder_name escapes": lambda f: edit_oebin(f, lambda s: stream(s).update(folder_name="../../../../etc/")),
    "folder_name missing": lambda f: edit_oebin(f, lambda s: stream(s).pop("folder_name")),
    # continuous.dat
    "dat missing": lambda f: (stream_dir(f) / "continuous.dat").unlink(),
    "dat truncated mid-sample": lambda f: (stream_dir(f) / "continuous.dat").write_bytes(
        (stream_dir(f) / "continuous.dat").read_bytes()[:-3]),
    "dat empty": lambda f: (stream_dir(f) / "continuous.dat").write_bytes(b""),
    # sample_numbers.npy
    "sample_numbers truncated": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        (stream_dir(f) / "sample_numbers.npy").read_bytes()[:100]),
    "sample_numbers bad magic": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(b"NOTNUMPY" * 20),
    "sample_numbers float": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        good_npy(np.arange(3000, dtype=np.float64))),
    "sample_numbers huge shape": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904,), }")),
    "sample_numbers shape of 2**64 - 1 bytes": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        npy_bytes("{'descr': '<i1', 'fortran_order': False, 'shape': (18446744073709551615,), }")),
    "sample_numbers NaN in header": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (nan,), }")),
    "sample_numbers header garbage": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        npy_bytes("{'descr': <i8 fortran_order False")),
    "sample_numbers 2-D": lambda f: (stream_dir(f) / "sample_numbers.npy").write_bytes(
        good_npy(np.zeros((1500, 2), dtype=np.int64))),
    # events
    "events states missing": lambda f: add_events(f, {"sample_numbers.npy": good_npy(np.arange(3, dtype=np.int64))}),
    "events states of another length": lambda f: add_events(f, {
        "sample_numbers.npy": good_npy(np.arange(3, dtype=np.int64)),
        "states.npy": good_npy(np.array([1, -1], dtype=np.int16))}),
    "events states out of range": lambda f: add_events(f, {
        "sample_numbers.npy": good_npy(np.arange(2, dtype=np.int64)),
        "states.npy": good_npy(np.array([1, 300], dtype=np.int16))}),
}


def broken_file(case: str) -> str:
    """The file a case breaks, which the host's reason must name."""
    for prefix, name in (("dat", "continuous.dat"), ("sample_numbers", "sample_numbers.npy"), ("events", "states.npy")):
        if case.startswith(prefix):
            return name
    return "structure.oebin"


@pytest.fixture
def valid_recording(tmp_path) -> Path:
    return write_recording(tmp_path / "input", np.zeros((3000, 4)), RATE)


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_a_broken_recording_is_refused_in_one_line(pyhost, valid_recording, case):
    CASES[case](valid_recording)
    script = pyhost.script("noop.py", "class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n"
                                      "    def process(self, data):\n        pass\n")
    result = pyhost.run(script, input_source=str(valid_recording), output=False, extra=["--timeout", "60"])
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr[-1500:]}"
    reason = result.reason
    assert reason and "\n" not in reason.strip(), result.stderr
    assert len(reason) < 600, reason
    assert broken_file(case) in reason, reason
