"""The live ring's layout, read from its one table: live_layout.def, which the engine's C++ expands into its
constants and checks its structs against, installed beside this module (cpp/common/ in a source tree)."""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

_HERE = Path(__file__).resolve().parent
TABLE_PLACES = (_HERE / "live_layout.def", _HERE.parents[1] / "cpp" / "common" / "live_layout.def")
_ENTRY = re.compile(r"^(LIVE_[A-Z]+)\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class Record:
    """One struct of the ring: read_from gives {field: value} (a field of several values, a tuple)."""
    name: str
    size: int
    offsets: Dict[str, int]
    codes: Dict[str, str]
    format: struct.Struct  # every field, with the padding between them

    def read_from(self, buffer, offset: int = 0) -> dict:
        values = iter(self.format.unpack_from(buffer, offset))
        return {field: _take(values, code) for field, code in self.codes.items()}

    def field(self, buffer, offset: int, field: str):
        """One field of the struct at OFFSET in BUFFER."""
        return _take(iter(struct.unpack_from("<" + self.codes[field], buffer, offset + self.offsets[field])),
                     self.codes[field])


def _take(values, code: str):
    count = int(code[:-1]) if code[:-1] and code[-1] != "s" else 1
    return next(values) if count == 1 else tuple(next(values) for _ in range(count))


@dataclass(frozen=True)
class Layout:
    magic: bytes
    constants: Dict[str, int]
    kinds: Tuple[str, ...]
    dtypes: Tuple[str, ...]
    directions: Tuple[str, ...]
    records: Dict[str, Record]


def read_table(text: str) -> Layout:
    """The layout from the table's text; a field whose code disagrees with its size, or that overlaps the one
    before it, is refused (the C++ side checks the same fields against its structs)."""
    magic, constants, named = b"", {}, {"LIVE_KIND": {}, "LIVE_DTYPE": {}, "LIVE_DIRECTION": {}}
    fields: Dict[str, List[Tuple[str, int, int, str]]] = {}
    sizes: Dict[str, int] = {}
    for line in text.splitlines():
        match = _ENTRY.match(line.strip())
        if not match:
            continue
        entry, args = match.group(1), [arg.strip() for arg in match.group(2).split(",")]
        if entry == "LIVE_MAGIC":
            magic = args[0].encode("ascii")
        elif entry == "LIVE_CONSTANT":
            constants[args[1]] = int(args[2], 0)
        elif entry in named:
            named[entry][int(args[2], 0)] = args[1]
        elif entry == "LIVE_FIELD":
            fields.setdefault(args[0], []).append((args[1], int(args[2]), int(args[3]), args[4]))
        elif entry == "LIVE_STRUCT":
            sizes[args[0]] = int(args[1])
    return Layout(magic, constants, *(tuple(found[i] for i in range(len(found))) for found in named.values()),
                  {name: _record(name, fields[name], sizes[name]) for name in fields})


def _record(name: str, fields: List[Tuple[str, int, int, str]], size: int) -> Record:
    end = 0
    for field, offset, size_of, code in fields:
        if offset < end or struct.calcsize("<" + code) != size_of:
            raise ValueError("live_layout.def: %s.%s at %d (%s) does not follow the field before it or is "
                             "not %d bytes" % (name, field, offset, code, size_of))
        end = offset + size_of
    if end > size:
        raise ValueError("live_layout.def: %s's fields end after its size %d" % (name, size))
    text, end = "<", 0
    for _, offset, size_of, code in fields:
        text += ("%dx" % (offset - end) if offset > end else "") + code
        end = offset + size_of
    return Record(name, size, {f[0]: f[1] for f in fields}, {f[0]: f[3] for f in fields}, struct.Struct(text))


def load() -> Layout:
    for place in TABLE_PLACES:
        if place.is_file():
            return read_table(place.read_text(encoding="utf-8"))
    raise FileNotFoundError("the live ring's layout table is missing: looked for " +
                            " and ".join(str(place) for place in TABLE_PLACES))


LAYOUT = load()
