"""Reading live values: what running modules publish with ``processor.publish(name, value)``.

Every Python Processor instance on this machine (in the Open Ephys GUI or ``pyproc-host``) has a ring
file in :func:`live_dir`; the ring's layout is in docs/live.md. Reading never slows the writer: a reader
that falls behind loses the oldest frames, and says how many (``Reader.lost``).

In a notebook::

    from oe_pyproc import live
    for frame in live.frames():                  # every instance, new ones too, until interrupted
        if frame.name == "band_power":
            print(frame.sample_number, frame.value)
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np

from .live_layout import LAYOUT

# The layout, from its one table (live_layout.def, which the engine's C++ is checked against).
_TABLE = LAYOUT.constants
MAGIC = LAYOUT.magic
LAYOUT_VERSION = _TABLE["kLayoutVersion"]
SUFFIX = ".oelive"
KINDS = LAYOUT.kinds
DIRECTIONS = LAYOUT.directions
DTYPES = tuple(np.dtype(name).type for name in LAYOUT.dtypes)
EMPTY = _TABLE["kEmpty"]
EVENT_NAME = _TABLE["kEventName"]
META_OFFSET = _TABLE["kMetaOffset"]
NAME_SLOTS = _TABLE["kNameSlots"]
NAME_BYTES = _TABLE["kNameBytes"]
MAX_NAME_BYTES = _TABLE["kMaxNameBytes"]

_HEADER, _NAME, _SLOT, _FRAME = (LAYOUT.records[name] for name in ("Header", "NameEntry", "IndexSlot", "FrameHeader"))


def live_dir(platform: str = sys.platform, environ: Mapping[str, str] = os.environ,
             uid: Optional[int] = None, dev_shm: Optional[bool] = None) -> Path:
    """The folder of the ring files (docs/live.md; the engine's live_dir() follows the same rule)."""
    if environ.get("OE_PYPROC_LIVE_DIR"):
        return Path(environ["OE_PYPROC_LIVE_DIR"])
    if platform == "win32":
        temp = environ.get("TEMP") or environ.get("TMP") or "C:\\Windows\\Temp"
        return Path(temp + "\\oe-pyproc-live")
    user = str(os.getuid() if uid is None else uid)
    if platform.startswith("linux") and (os.path.isdir("/dev/shm") if dev_shm is None else dev_shm):
        return Path("/dev/shm/oe-pyproc-live-" + user)
    temp = (environ.get("TMPDIR") or "").rstrip("/") or "/tmp"
    return Path(temp + "/oe-pyproc-live-" + user)


@dataclass
class Frame:
    """One published value, or one TTL event the module received or sent (kind "event")."""

    instance: str
    seq: int
    kind: str
    name: Optional[str]
    sample_number: int
    value: Union[float, np.ndarray, None]
    x: Optional[np.ndarray] = None
    line: Optional[int] = None
    state: Optional[bool] = None
    direction: Optional[str] = None


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (on Windows without os.kill, which would end it); the plugin's
    pyproc::common::processAlive, case for case."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000 | 0x100000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE
        if not handle:
            return kernel32.GetLastError() == 5  # ERROR_ACCESS_DENIED: it runs, as another user
        try:
            return kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: not ended yet
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Instance:
    """One running Python Processor instance, seen through its ring file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        header = _HEADER.read_from(self._map, 0)
        if header["magic"] != MAGIC or header["layout_version"] != LAYOUT_VERSION:
            self._map.close()
            raise ValueError("%s is not a live ring of layout %d" % (self.path, LAYOUT_VERSION))
        self.index_slots, self.pid, self.instance_id = header["index_slots"], header["pid"], header["instance_id"]
        self._index_offset, self._names_offset = header["index_offset"], header["names_offset"]
        self._data_offset, self.capacity = header["data_offset"], header["data_capacity"]
        self.key = "%d-%d" % (self.pid, self.instance_id)
        self._meta_sequence = -1
        self._meta_fields: dict = {}

    def meta(self) -> dict:
        """The ring's meta, read again whenever the host rewrote it (it describes the instance just after
        creating it, and the GUI again when the instance is rebuilt)."""
        for _ in range(100):  # the seqlock: odd while the host rewrites it
            before = self._header("meta_sequence")
            if before == self._meta_sequence:
                return self._meta_fields
            length = min(self._header("meta_length"), len(self._map) - META_OFFSET)
            text = bytes(self._map[META_OFFSET:META_OFFSET + length])
            if before % 2 == 0 and self._header("meta_sequence") == before:
                try:
                    self._meta_fields = json.loads(text.decode("utf-8")) if text else {}
                except ValueError:
                    self._meta_fields = {}  # not JSON, and stable: read again only once it changes
                self._meta_sequence = before
                return self._meta_fields
            time.sleep(0.001)
        return self._meta_fields

    @property
    def program(self) -> str:
        """"Open Ephys GUI", "pyproc-host", or "unknown" until the host has described the instance."""
        return self.meta().get("program") or "unknown"

    @property
    def node_id(self) -> Optional[int]:
        return self.meta().get("node_id")

    @property
    def script(self) -> str:
        return self.meta().get("script", "")

    @property
    def name(self) -> str:
        """The script's stem."""
        return Path(self.script).stem if self.script else "(no script)"

    @property
    def sample_rate(self) -> float:
        return float(self.meta().get("sample_rate") or 0.0)

    @property
    def num_channels(self) -> int:
        return int(self.meta().get("num_channels") or 0)

    @property
    def label(self) -> str:
        node = "%d " % self.node_id if self.node_id is not None else ""
        return node + self.name

    @property
    def ended(self) -> bool:
        return bool(self._header("ended"))

    @property
    def alive(self) -> bool:
        """False once the instance ended, its file is gone or its process died."""
        return not self.ended and self.path.exists() and process_alive(self.pid)

    def _slot_offset(self, seq: int) -> int:
        return self._index_offset + _SLOT.size * (seq % self.index_slots)

    def _header(self, field: str) -> int:
        return _HEADER.field(self._map, 0, field)

    def names(self) -> Dict[str, Tuple[str, int]]:
        """Each published name with its kind and how many values it has published so far."""
        found = {}
        for i in range(NAME_SLOTS):
            entry = _NAME.read_from(self._map, self._names_offset + _NAME.size * i)
            if not entry["used"]:
                break
            found[entry["name"].split(b"\0", 1)[0].decode("utf-8", "replace")] = (KINDS[entry["kind"]], entry["count"])
        return found

    def _name(self, index: int) -> str:
        text = _NAME.field(self._map, self._names_offset + _NAME.size * index, "name")
        return text.split(b"\0", 1)[0].decode("utf-8", "replace")

    def reader(self, start: str = "oldest") -> "Reader":
        """Frames from the oldest still in the ring ("oldest") or only those published from now ("now")."""
        return Reader(self, start)

    def close(self) -> None:
        self._map.close()

    def __repr__(self) -> str:
        return "<live.Instance %s: %s in %s (pid %d)>" % (self.key, self.label, self.program, self.pid)


class Reader:
    """Reads one instance's frames in order; ``lost`` counts those overwritten before they were read."""

    def __init__(self, instance: Instance, start: str = "oldest"):
        if start not in ("oldest", "now"):
            raise ValueError("start must be 'oldest' or 'now', got %r" % (start,))
        self.instance = instance
        self.lost = 0
        written = self._written()
        self._next = self._oldest_intact(written) if start == "oldest" else written

    def _written(self) -> int:
        return self.instance._header("frames_written")

    def _oldest(self, written: int) -> int:
        return max(0, written - self.instance.index_slots)

    def _oldest_intact(self, written: int) -> int:
        """The oldest frame whose slot and data are still there: a reader that starts late lost nothing."""
        inst = self.instance
        for seq in range(self._oldest(written), written):
            slot = _SLOT.read_from(inst._map, inst._slot_offset(seq))
            if slot["sequence"] == seq and inst._header("bytes_reserved") - slot["start"] <= inst.capacity:
                return seq
        return written

    def read(self, max_frames: Optional[int] = None) -> List[Frame]:
        """The frames published since the last read, up to those written when this call began (at most
        max_frames); never waits."""
        frames: List[Frame] = []
        written = self._written()
        if self._next < self._oldest(written):
            self.lost += self._oldest(written) - self._next
            self._next = self._oldest(written)
        while self._next < written and (max_frames is None or len(frames) < max_frames):
            frame = self._copy(self._next)
            if frame is None:
                self.lost += 1
            else:
                frames.append(frame)
            self._next += 1
        return frames

    def _copy(self, seq: int) -> Optional[Frame]:
        inst = self.instance
        slot = inst._slot_offset(seq)
        found = _SLOT.read_from(inst._map, slot)
        stamp, start, length = found["sequence"], found["start"], found["length"]
        # The slot may be rewritten as we read it: never take a length that leaves the data area.
        if stamp != seq or not _FRAME.size <= length <= inst.capacity // 4 or start % inst.capacity + length > inst.capacity:
            return None
        offset = inst._data_offset + start % inst.capacity
        raw = inst._map[offset:offset + length]
        # Intact only if the slot still names this frame and the writer has not reserved past it.
        if _SLOT.field(inst._map, slot, "sequence") != seq or inst._header("bytes_reserved") - start > inst.capacity:
            return None
        try:
            return _decode(inst, seq, raw)
        except (IndexError, ValueError, struct.error):
            return None  # a kind or type this reader does not know (a newer engine): skipped, counted lost


def _decode(inst: Instance, seq: int, raw: bytes) -> Frame:
    header = _FRAME.read_from(raw, 0)
    name_index, kind, dtype, ndim = header["name_index"], header["kind"], header["dtype"], header["ndim"]
    has_x, sample_number, (rows, columns) = header["has_x"], header["sample_number"], header["shape"]
    payload = memoryview(raw)[_FRAME.size:]
    if KINDS[kind] == "event":
        line, state, direction = payload[0], payload[1], payload[2]
        return Frame(inst.key, seq, "event", None, sample_number, None, line=line, state=bool(state),
                     direction=DIRECTIONS[direction])
    name = inst._name(name_index)
    if KINDS[kind] == "scalar":
        return Frame(inst.key, seq, "scalar", name, sample_number, struct.unpack_from("<d", payload, 0)[0])
    shape = (rows,) if ndim == 1 else (rows, columns, 4) if KINDS[kind] == "picture" else (rows, columns)
    count = int(np.prod(shape))
    values = np.frombuffer(payload, dtype=DTYPES[dtype], count=count).reshape(shape)
    x = None
    if has_x:
        x = np.frombuffer(payload, dtype=np.float32, count=rows, offset=values.nbytes)
    return Frame(inst.key, seq, KINDS[kind], name, sample_number, values, x)


def viewer_file() -> Path:
    """Where the running viewer (`oe-pyproc view`) leaves {"pid", "url"}."""
    return live_dir() / "viewer.json"


LARGEST_PID = 2**31 - 1  # pids are 32-bit on every platform (a DWORD on Windows)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def viewer_url(content: bytes, alive: Optional[Callable[[int], bool]] = None) -> Optional[str]:
    """The URL of the viewer that viewer.json's CONTENT names, if it runs: UTF-8 JSON text of an object whose
    "pid" is an integer from 1 to 2**31-1 for which ALIVE (default process_alive) is true, and whose "url"
    is a string starting with http:// or https://. The plugin's rule too (cpp/common/viewer_file.cpp): both
    run the cases of tests/data/viewer_file_cases.json."""
    try:
        found = json.loads(content.decode("utf-8"), parse_constant=_refuse_constant)
        json.dumps(found, ensure_ascii=False).encode("utf-8")  # a lone surrogate escape is not text
    except ValueError:  # UnicodeError included
        return None
    if not isinstance(found, dict):
        return None
    pid, url = found.get("pid"), found.get("url")
    if type(pid) is not int or not isinstance(url, str) or not 1 <= pid <= LARGEST_PID:
        return None
    if not url.startswith(("http://", "https://")):
        return None
    return url if (alive or process_alive)(pid) else None


def running_viewer() -> Optional[str]:
    """The URL of a viewer running on this machine (viewer_url of its viewer.json), else None."""
    try:
        content = viewer_file().read_bytes()
    except OSError:
        return None
    return viewer_url(content)


def viewer_answers(url: str, timeout: float = 3.0) -> bool:
    """Whether the viewer at URL serves its page: a viewer.json whose process runs may still name a pid
    that a killed viewer left and another process got since."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a proxy never knows our localhost
    try:
        with opener.open(url, timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


def stop_viewer(wait_seconds: float = 10.0) -> Optional[int]:
    """Stops the running viewer (SIGTERM: it removes its viewer.json); its pid, or None if none runs."""
    import signal

    try:
        pid = int(json.loads(viewer_file().read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not process_alive(pid):
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while process_alive(pid) and viewer_file().exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def instances(directory: Optional[Path] = None) -> List[Instance]:
    """The running instances on this machine; ring files left by processes that died are removed."""
    folder = Path(directory) if directory is not None else live_dir()
    found = []
    for path in sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else []:
        try:
            instance = Instance(path)
        except (OSError, ValueError, struct.error):
            continue  # being created, or just removed
        if instance.alive:
            found.append(instance)
            continue
        instance.close()
        if not process_alive(instance.pid):
            try:
                path.unlink()
            except OSError:
                pass
    return found


def frames(start: str = "now", poll_interval: float = 0.02, directory: Optional[Path] = None,
           rescan_interval: float = 0.5) -> Iterator[Frame]:
    """Yields the frames of every running instance as they come, picking up instances that start later;
    runs until the caller stops iterating."""
    readers: Dict[str, Reader] = {}
    last_scan = 0.0
    first_scan = True
    while True:
        now = time.monotonic()
        if now - last_scan >= rescan_interval:
            last_scan = now
            for instance in instances(directory):
                if instance.key in readers:
                    instance.close()
                else:  # one that starts later: everything it published is new to us
                    readers[instance.key] = instance.reader(start if first_scan else "oldest")
            first_scan = False
        got_any = False
        for key, reader in list(readers.items()):
            batch = reader.read()
            got_any = got_any or bool(batch)
            yield from batch
            if not batch and not reader.instance.alive:
                reader.instance.close()
                del readers[key]
        if not got_any:
            time.sleep(poll_interval)
