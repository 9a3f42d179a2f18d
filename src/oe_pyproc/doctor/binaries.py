"""What an executable or library says about itself: format, architectures, the libraries it imports.

Reads PE, ELF and Mach-O files of any platform on any platform, so an env copied from Windows or
macOS is diagnosed on Linux the same; only headers are read, to stay fast over thousands of files.
"""
from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO, List, Optional, Tuple

import pefile
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection
from macholib import mach_o


@dataclass(frozen=True)
class BinaryInfo:
    path: str
    format: str  # "PE" | "ELF" | "Mach-O"
    archs: Tuple[str, ...]  # "x86_64", "arm64", "x86", "arm", else the format's own name; a fat Mach-O has several
    imports: Tuple[str, ...]  # DLL names as written (PE, incl. delay-load), DT_NEEDED (ELF), install names (Mach-O)
    glibcxx_needed: Optional[str] = None  # ELF: highest GLIBCXX_ version required, "3.4.30"
    glibcxx_provided: Optional[str] = None  # ELF: highest GLIBCXX_ version defined (a libstdc++ itself)


def version_key(text: str) -> Tuple[int, ...]:
    """ "3.4.30" -> (3, 4, 30), for comparing versions."""
    return tuple(int(part) for part in re.findall(r"\d+", text))


def read_binary(path) -> Optional[BinaryInfo]:
    """The file's BinaryInfo, or None when it is not a (whole, well-formed) PE, ELF or Mach-O file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            magic = stream.read(4)
            # Only the first bytes decide which parser runs: most files of an env are not binaries.
            if magic[:2] == b"MZ":
                return _read_pe(path, stream)
            if magic[:4] == b"\x7fELF":
                stream.seek(0)
                return _read_elf(path, stream)
            if magic[:4] in _MACHO_MAGICS:  # a Java class file shares the fat magic: its "slices" do not fit
                stream.seek(0)
                return _read_macho(path, stream)
    except Exception:  # the parsers raise many kinds of errors on damaged input; all mean "not readable"
        return None
    return None


# --- PE (Windows) ---

_PE_ARCHS = {"IMAGE_FILE_MACHINE_AMD64": "x86_64", "IMAGE_FILE_MACHINE_ARM64": "arm64",
             "IMAGE_FILE_MACHINE_I386": "x86", "IMAGE_FILE_MACHINE_ARMNT": "arm", "IMAGE_FILE_MACHINE_ARM": "arm"}
_PE_IMPORT_DIRECTORIES = [pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
                          pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"]]


def _read_pe(path: str, stream: BinaryIO) -> Optional[BinaryInfo]:
    # pefile gets our own read-only map: its close() runs a full gc.collect(), ~13 ms a file.
    with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
        header = struct.unpack_from("<I", data, 0x3C)[0]
        if data[header:header + 4] != b"PE\0\0":
            return None  # a DOS program, or not a program: pefile would fail, then gc.collect() too
        pe = pefile.PE(data=data, fast_load=True)
        if any(section.PointerToRawData + section.SizeOfRawData > len(data) for section in pe.sections):
            return None  # truncated: its import tables may be among the missing bytes
        pe.parse_data_directories(directories=_PE_IMPORT_DIRECTORIES, import_dllnames_only=True)
        entries = getattr(pe, "DIRECTORY_ENTRY_IMPORT", []) + getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])
        machine = pe.FILE_HEADER.Machine
    name = pefile.MACHINE_TYPE.get(machine, hex(machine))
    return BinaryInfo(path, "PE", (_PE_ARCHS.get(name, name),),
                      _unique(entry.dll.decode("utf-8", "replace") for entry in entries))


# --- ELF (Linux) ---

_ELF_ARCHS = {"EM_X86_64": "x86_64", "EM_AARCH64": "arm64", "EM_386": "x86", "EM_ARM": "arm"}
_ELF_SECTION_TYPES = {6, 0x6FFFFFFE, 0x6FFFFFFD}  # SHT_DYNAMIC, SHT_GNU_verneed (needs), SHT_GNU_verdef (defines)
_GLIBCXX = re.compile(r"GLIBCXX_(\d+(?:\.\d+)*)$")


def _read_elf(path: str, stream: BinaryIO) -> Optional[BinaryInfo]:
    elf = ELFFile(stream)
    header = elf.header
    if header.e_shoff + header.e_shnum * header.e_shentsize > os.fstat(stream.fileno()).st_size:
        return None  # truncated: linkers write the section header table last
    needed, needs, defines = [], [], []
    for index in _elf_sections_of_type(elf, stream, _ELF_SECTION_TYPES):
        section = elf.get_section(index)
        if isinstance(section, DynamicSection):
            needed += [tag.needed for tag in section.iter_tags("DT_NEEDED")]
        elif isinstance(section, GNUVerNeedSection):
            needs += [aux.name for _, auxes in section.iter_versions() for aux in auxes]
        elif isinstance(section, GNUVerDefSection):
            defines += [aux.name for _, auxes in section.iter_versions() for aux in auxes]
    if not elf.num_sections():  # section headers stripped: the loader's own view, the dynamic segment
        for segment in elf.iter_segments("PT_DYNAMIC"):
            needed += [tag.needed for tag in segment.iter_tags("DT_NEEDED")]
    machine = header.e_machine
    return BinaryInfo(path, "ELF", (_ELF_ARCHS.get(machine, str(machine)),), _unique(needed),
                      _highest_glibcxx(needs), _highest_glibcxx(defines))


def _elf_sections_of_type(elf: ELFFile, stream: BinaryIO, types) -> List[int]:
    """Indices of the sections of those sh_type values, from one read of the section header table:
    pyelftools parses each header field by field (~60 us), and builds whole hash tables with a section."""
    header = elf.header
    stream.seek(header.e_shoff)
    table = stream.read(elf.num_sections() * header.e_shentsize)
    word = "<I" if elf.little_endian else ">I"
    return [index for index in range(elf.num_sections())  # sh_type: the 2nd 32-bit word in ELF32 and ELF64
            if struct.unpack_from(word, table, index * header.e_shentsize + 4)[0] in types]


def _highest_glibcxx(names: List[str]) -> Optional[str]:
    versions = [match.group(1) for match in map(_GLIBCXX.match, names) if match]
    return max(versions, key=version_key) if versions else None


# --- Mach-O (macOS) ---

_MACHO_MAGICS = {struct.pack(">I", magic) for magic in (
    mach_o.MH_MAGIC, mach_o.MH_CIGAM, mach_o.MH_MAGIC_64, mach_o.MH_CIGAM_64, mach_o.FAT_MAGIC, mach_o.FAT_MAGIC_64)}
_MACHO_ARCHS = {0x01000007: "x86_64", 0x0100000C: "arm64", 7: "x86", 12: "arm"}  # by cputype
# What dyld loads along with the file (LC_ID_DYLIB, the file's own name, is not an import).
_DYLIB_LOADS = {mach_o.LC_LOAD_DYLIB, mach_o.LC_LOAD_WEAK_DYLIB, mach_o.LC_REEXPORT_DYLIB,
                mach_o.LC_LOAD_UPWARD_DYLIB}


def _read_macho(path: str, stream: BinaryIO) -> Optional[BinaryInfo]:
    # Walks the load commands with macholib's structures instead of macholib.MachO, which also
    # reads every section's contents: far too slow for a doctor that reads whole envs.
    size = os.fstat(stream.fileno()).st_size
    fat = mach_o.fat_header.from_fileobj(stream)
    if fat.magic in (mach_o.FAT_MAGIC, mach_o.FAT_MAGIC_64):
        arch_type = mach_o.fat_arch if fat.magic == mach_o.FAT_MAGIC else mach_o.fat_arch64
        slices = [(arch.offset, arch.size) for arch in (arch_type.from_fileobj(stream) for _ in range(fat.nfat_arch))]
    else:
        slices = [(0, size)]
    archs, imports = [], []
    for offset, length in slices:
        if offset + length > size:
            return None  # truncated
        arch = _read_macho_slice(stream, offset, length, imports)
        if arch is None:
            return None
        archs.append(arch)
    return BinaryInfo(path, "Mach-O", tuple(archs), _unique(imports)) if archs else None


def _read_macho_slice(stream: BinaryIO, offset: int, length: int, imports: List[str]) -> Optional[str]:
    """The slice's architecture, appending its imports; None when it is not a whole Mach-O image."""
    stream.seek(offset)
    magic = struct.unpack(">I", stream.read(4))[0]
    if magic not in (mach_o.MH_MAGIC, mach_o.MH_CIGAM, mach_o.MH_MAGIC_64, mach_o.MH_CIGAM_64):
        return None
    endian = ">" if magic in (mach_o.MH_MAGIC, mach_o.MH_MAGIC_64) else "<"
    is64 = magic in (mach_o.MH_MAGIC_64, mach_o.MH_CIGAM_64)
    stream.seek(offset)
    header = (mach_o.mach_header_64 if is64 else mach_o.mach_header).from_fileobj(stream, _endian_=endian)
    end_of_commands = stream.tell() + header.sizeofcmds
    if end_of_commands > offset + length:
        return None
    for _ in range(header.ncmds):
        start = stream.tell()
        command = mach_o.load_command.from_fileobj(stream, _endian_=endian)
        if command.cmdsize < 8 or start + command.cmdsize > end_of_commands:
            return None
        if command.cmd in _DYLIB_LOADS:
            name_offset = mach_o.dylib_command.from_fileobj(stream, _endian_=endian).name
            if not 8 <= name_offset < command.cmdsize:
                return None
            stream.seek(start + name_offset)
            name = stream.read(command.cmdsize - name_offset).split(b"\0", 1)[0]
            imports.append(name.decode("utf-8", "replace"))
        elif command.cmd in (mach_o.LC_SEGMENT, mach_o.LC_SEGMENT_64):
            segment = (mach_o.segment_command_64 if command.cmd == mach_o.LC_SEGMENT_64
                       else mach_o.segment_command).from_fileobj(stream, _endian_=endian)
            if segment.fileoff + segment.filesize > length:
                return None  # truncated
        stream.seek(start + command.cmdsize)
    return _MACHO_ARCHS.get(header.cputype) or mach_o.CPU_TYPE_NAMES.get(header.cputype, hex(header.cputype))


def _unique(names) -> Tuple[str, ...]:
    """Names in first-seen order, each once (a fat file's slices import the same libraries)."""
    return tuple(dict.fromkeys(names))
