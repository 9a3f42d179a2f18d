"""Python env trees with each platform's real layout and real binaries, written for doctor tests.

`conda_env` writes a conda env of linux-64, osx-64, osx-arm64 or win-64 on any host; the scenario
helpers below it change such an env the way users break theirs. Binaries are real: PE files are
compiled with mingw-w64, ELF files with gcc, each once per distinct input (cached in
build/test-binaries/); Mach-O files, which no linker here can make, are written field by field.
"""
from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import pytest

CACHE = Path(__file__).resolve().parents[1] / "build" / "test-binaries"
MINGW = "x86_64-w64-mingw32-"
SUBDIRS = ("linux-64", "osx-64", "osx-arm64", "win-64")


# --- toolchains, with a cache shared by sessions ---

def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found: these test binaries are compiled with it (Debian package {package})")
    return path


def _compiled(output: str, sources: Dict[str, str], commands: List[List[str]],
              finish: Optional[Callable[[Path], None]] = None) -> Path:
    """OUTPUT of COMMANDS run on SOURCES in a scratch folder, then FINISH(folder); built once per input
    (put FINISH's own source among SOURCES so that changing it rebuilds)."""
    key = hashlib.sha256(json.dumps([output, sources, commands]).encode()).hexdigest()[:20]
    target = CACHE / key
    if not (target / output).exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="tmp-", dir=CACHE))
        try:
            for name, text in sources.items():
                (work / name).write_text(text)
            for command in commands:
                result = subprocess.run(command, cwd=work, capture_output=True, text=True)
                if result.returncode:
                    raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
            if finish:
                finish(work)
        except BaseException:
            shutil.rmtree(work)
            raise
        try:
            work.rename(target)  # atomic, so a parallel session never sees half a build
        except OSError:  # that session finished first
            shutil.rmtree(work)
    return target / output


def pe_file(imports: Sequence[str] = (), delay_imports: Sequence[str] = (), exports: Sequence[str] = (),
            exe: bool = False) -> Path:
    """A real x86-64 PE DLL (EXE if EXE) importing exactly IMPORTS then DELAY_IMPORTS (DLL names as written),
    exporting the functions EXPORTS. Built without mingw's C runtime, so it imports nothing else."""
    gcc, dlltool = _tool(MINGW + "gcc", "g++-mingw-w64-x86-64"), _tool(MINGW + "dlltool", "g++-mingw-w64-x86-64")
    sources, commands = {}, []
    for i, dll in enumerate(imports):  # an import library per DLL name, from a one-symbol .def file
        sources[f"import{i}.def"] = f"EXPORTS\n    oe_import{i}\n"
        commands.append([dlltool, "--input-def", f"import{i}.def", "--dllname", dll, "--output-lib", f"import{i}.a"])
    calls = [f"oe_import{i}" for i in range(len(imports))]
    sources["module.c"] = ("".join(f"__declspec(dllimport) int {f}(void);\n" for f in calls)
                           + "".join(f"__declspec(dllexport) void *{f}(void) {{ return 0; }}\n" for f in exports)
                           + f"int oe_entry(void) {{ return 0{''.join(f' + {f}()' for f in calls)}; }}\n")
    objects = ["module.c"]
    if delay_imports:
        sources["delay.s"], objects = _delay_import_table(delay_imports), objects + ["delay.s"]
        sources["finish.py"] = inspect.getsource(_point_delay_directory)
    output = "module.exe" if exe else "module.dll"
    commands.append([gcc, *([] if exe else ["-shared"]), "-nostdlib", "-s", "-Wl,-e,oe_entry", "-o", output,
                     *objects, *(f"import{i}.a" for i in range(len(imports)))])
    finish = (lambda work: _point_delay_directory(work / output, len(delay_imports))) if delay_imports else None
    return _compiled(output, sources, commands, finish)


def _delay_import_table(dlls: Sequence[str]) -> str:
    """Assembly for a .didat section of delay-load descriptors as MSVC's /DELAYLOAD makes them
    (dlltool's delay libraries do not fill the PE's delay-import directory, so they cannot stand in)."""
    table, data = [], []
    for i, dll in enumerate(dlls):
        table += ["    .long 1", *(f"    .rva oe_delay_{field}{i}" for field in ("name", "module", "iat", "int")),
                  "    .long 0, 0, 0"]
        data += [f'oe_delay_name{i}: .asciz "{dll}"', "    .p2align 3", f"oe_delay_module{i}: .quad 0",
                 f"oe_delay_iat{i}: .quad 0, 0", f"oe_delay_int{i}: .rva oe_delay_hint{i}", "    .long 0",
                 "    .quad 0", f"oe_delay_hint{i}: .short 0", f'    .asciz "oe_delay_import{i}"']
    return "\n".join(['    .section .didat,"dw"', "    .p2align 3", *table, "    .zero 32", *data]) + "\n"


def _point_delay_directory(path: Path, count: int) -> None:
    """Points the PE's delay-import data directory (entry 13) at its .didat section."""
    image = bytearray(path.read_bytes())
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    sections, optional_size = struct.unpack_from("<H", image, pe + 6)[0], struct.unpack_from("<H", image, pe + 20)[0]
    optional = pe + 24
    for i in range(sections):
        name, _, address = struct.unpack_from("<8sII", image, optional + optional_size + 40 * i)
        if name.rstrip(b"\0") == b".didat":
            struct.pack_into("<II", image, optional + 112 + 8 * 13, address, 32 * (count + 1))  # PE32+ layout
            path.write_bytes(bytes(image))
            return
    raise RuntimeError(f"{path} has no .didat section")


def elf_file(soname: Optional[str] = None, needed: Sequence[str] = (), rpath: Optional[str] = None,
             glibcxx: Optional[str] = None, cxx: bool = False, exe: bool = False) -> Path:
    """A real x86-64 ELF shared library (executable if EXE) whose DT_NEEDED is exactly NEEDED (linked
    against stub libraries of those sonames), with SONAME and RUNPATH as given.
    GLIBCXX="3.4.30" adds a need for that version of libstdc++.so.6 (linked against a stand-in of it);
    CXX=True compiles real C++ with g++ against the system's libstdc++ instead, needing what it needs."""
    gcc = _tool("g++" if cxx else "gcc", "g++" if cxx else "gcc")
    sources, libraries, commands = {"stub.c": "int oe_stub;\n"}, [], []
    for i, name in enumerate(n for n in needed if not (glibcxx and n == "libstdc++.so.6")):
        commands.append([gcc, "-shared", "-nostdlib", f"-Wl,-soname,{name}", "-o", f"needed{i}.so", "stub.c"])
        libraries.append(f"needed{i}.so")
    body = "int oe_entry(void) { return 0; }\n"
    if glibcxx:
        sources["libstdcxx.c"], sources["libstdcxx.map"] = _libstdcxx_sources(glibcxx)
        commands.append(_libstdcxx_command(gcc))
        libraries.append("libstdc++.so.6")
        symbol = "oe_glibcxx_" + glibcxx.replace(".", "_")
        body = f"void {symbol}(void);\nint oe_entry(void) {{ {symbol}(); return 0; }}\n"
    if cxx:
        body = ('#include <string>\n#include <vector>\n'
                'extern "C" int oe_entry(const char *s) { std::vector<std::string> v{s}; return v[0].size(); }\n')
    source = "module.cpp" if cxx else "module.c"
    sources[source] = body
    output = "module" if exe else "module.so"
    commands.append([gcc, *([] if exe else ["-shared"]), "-fPIC", *([] if cxx else ["-nostdlib"]),
                     "-Wl,-e,oe_entry", "-Wl,--no-as-needed", *([f"-Wl,-soname,{soname}"] if soname else []),
                     *([f"-Wl,-rpath,{rpath}"] if rpath else []), "-o", output, source, *(f"./{lib}" for lib in libraries)])
    return _compiled(output, sources, commands)


def libstdcxx_file(provides: str = "3.4.19") -> Path:
    """A stand-in libstdc++.so.6 defining versions GLIBCXX_3.4 to GLIBCXX_<provides>, as an older system's does."""
    gcc = _tool("gcc", "gcc")
    sources = dict(zip(("libstdcxx.c", "libstdcxx.map"), _libstdcxx_sources(provides)))
    return _compiled("libstdc++.so.6", sources, [_libstdcxx_command(gcc)])


def _libstdcxx_sources(provides: str):
    """(C source, linker version script): one symbol per version node GLIBCXX_3.4 ... GLIBCXX_<provides>."""
    last = int(provides.split(".")[2]) if provides.count(".") == 2 else 0
    versions = ["3.4"] + [f"3.4.{n}" for n in range(1, last + 1)]
    symbols = ["oe_glibcxx_" + v.replace(".", "_") for v in versions]
    nodes = [f"GLIBCXX_{v} {{ global: {s}; {'local: *; ' if i == 0 else ''}}}"
             f"{f' GLIBCXX_{versions[i - 1]}' if i else ''};" for i, (v, s) in enumerate(zip(versions, symbols))]
    return "".join(f"void {s}(void) {{}}\n" for s in symbols), "\n".join(nodes) + "\n"


def _libstdcxx_command(gcc: str) -> List[str]:
    return [gcc, "-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libstdc++.so.6",
            "-Wl,--version-script,libstdcxx.map", "-o", "libstdc++.so.6", "libstdcxx.c"]


# Mach-O: cputype and subtype per arch; filetypes; load commands (values from <mach-o/loader.h>).
MACHO_CPUS = {"x86_64": (0x01000007, 3), "arm64": (0x0100000C, 0)}
MACHO_FILETYPES = {"exe": 2, "dylib": 6, "bundle": 8}
LC_SEGMENT_64, LC_ID_DYLIB, LC_LOAD_DYLIB = 0x19, 0xD, 0xC
LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_RPATH = 0x80000018, 0x8000001F, 0x8000001C


def macho_bytes(arch: str = "x86_64", filetype: str = "dylib", install_name: Optional[str] = None,
                imports: Sequence[str] = (), weak_imports: Sequence[str] = (), reexports: Sequence[str] = (),
                rpaths: Sequence[str] = ()) -> bytes:
    """A minimal valid thin 64-bit Mach-O: header, a __TEXT segment mapping the file, LC_ID_DYLIB
    (INSTALL_NAME), the dylib load commands and LC_RPATHs, then zeros where code would be, to one 16 KiB page."""
    if filetype == "dylib" and not install_name:
        raise ValueError("a dylib needs its install name (LC_ID_DYLIB)")
    commands = [_string_command(cmd, name, 2, 0x10000, 0x10000)  # timestamp, current and compatibility 1.0.0
                for cmd, names in ((LC_ID_DYLIB, [install_name] if install_name else []), (LC_LOAD_DYLIB, imports),
                                   (LC_LOAD_WEAK_DYLIB, weak_imports), (LC_REEXPORT_DYLIB, reexports))
                for name in names]
    commands += [_string_command(LC_RPATH, path) for path in rpaths]
    cputype, subtype = MACHO_CPUS[arch]
    commands_size = 72 + sum(map(len, commands))
    text = struct.pack("<II16sQQQQiiII", LC_SEGMENT_64, 72, b"__TEXT", 0, 0x4000, 0, 0x4000, 5, 5, 0, 0)
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, cputype, subtype, MACHO_FILETYPES[filetype], len(commands) + 1,
                         commands_size, 0x85, 0)  # flags NOUNDEFS | DYLDLINK | TWOLEVEL
    return (header + text + b"".join(commands)).ljust(0x4000, b"\0")


def _string_command(cmd: int, text: str, *fields: int) -> bytes:
    """A load command: cmd, cmdsize, the offset of its string, FIELDS, then the string padded to 8 bytes."""
    offset = 12 + 4 * len(fields)
    size = (offset + len(text) + 1 + 7) // 8 * 8
    return struct.pack(f"<III{len(fields)}I", cmd, size, offset, *fields) + text.encode().ljust(size - offset, b"\0")


def macho_fat(*slices: bytes) -> bytes:
    """A universal (fat) file of the thin SLICES, each at a 16 KiB boundary, as lipo lays them out."""
    align, table, body = 14, [], b""
    for thin in slices:
        body = body.ljust(-(-len(body) >> align) << align, b"\0")  # the previous slice padded to the boundary
        cputype, subtype = struct.unpack_from("<ii", thin, 4)
        table.append(struct.pack(">iiIII", cputype, subtype, (1 << align) + len(body), len(thin), align))
        body += thin
    return struct.pack(">II", 0xCAFEBABE, len(slices)) + b"".join(table).ljust((1 << align) - 8, b"\0") + body


# --- env trees ---

@dataclass(frozen=True)
class Native:
    """A real binary of the env's platform. KIND: "exe", "lib" (shared library) or "ext" (Python extension).
    IMPORTS: names from LIBRARIES (mapped to the platform's file) or file names as written; the platform's
    system libraries are added. RPATH (ELF RUNPATH / Mach-O LC_RPATH): by default the way to the env's
    libraries when it imports one."""
    kind: str
    imports: Sequence[str] = ()
    rpath: Optional[str] = None


@dataclass(frozen=True)
class Link:
    """A symbolic link to TARGET (relative), as conda installs bin/python3 -> python3.10."""
    target: str


# Libraries by role: the file each platform's conda package installs and its binaries import.
LIBRARIES = {"python": {"win": "python{nodot}.dll"}, "python3": {"win": "python3.dll"},
             "ffi": {"win": "ffi-8.dll", "linux": "libffi.so.8", "osx": "libffi.8.dylib"},
             "cblas": {"win": "libcblas.dll", "linux": "libcblas.so.3", "osx": "libcblas.3.dylib"}}
SYSTEM_IMPORTS = {"win": ("KERNEL32.dll", "VCRUNTIME140.dll", "api-ms-win-crt-runtime-l1-1-0.dll"),
                  "linux": ("libc.so.6",), "osx": ("/usr/lib/libSystem.B.dylib",)}
CONDA_ROOT = {"win": "C:\\Users\\me\\miniconda3", "linux": "/home/me/miniconda3", "osx": "/Users/me/miniconda3"}
Content = Union[str, bytes, Native, Link]


@dataclass(frozen=True)
class Env:
    """A written env: its folder, conda's name of its platform (SUBDIRS) and its Python version."""
    root: Path
    subdir: str
    python: str

    @property
    def platform(self) -> str:
        """win, osx or linux."""
        return {"win": "win", "osx": "osx"}.get(self.subdir.split("-")[0], "linux")

    @property
    def arch(self) -> str:
        return "arm64" if self.subdir.endswith("arm64") else "x86_64"

    @property
    def xy(self) -> str:
        return ".".join(self.python.split(".")[:2])

    @property
    def nodot(self) -> str:
        return self.xy.replace(".", "")

    @property
    def site_packages(self) -> Path:
        return self.root / ("Lib/site-packages" if self.platform == "win" else f"lib/python{self.xy}/site-packages")

    @property
    def library_dir(self) -> str:
        """Where conda packages put shared libraries, relative to the root."""
        return "Library/bin" if self.platform == "win" else "lib"

    def library(self, name: str) -> str:
        """The file name of library NAME (a LIBRARIES role, else the name itself) on this platform."""
        if name not in LIBRARIES:
            return name
        return LIBRARIES[name].get(self.platform, "").format(nodot=self.nodot)

    def extension(self, module: str, abi3: bool = False, stdlib: bool = False) -> str:
        """The file name of extension MODULE: as in site-packages, or in the standard library (DLLs/, lib-dynload/)."""
        if self.platform == "win":
            return f"{module}.pyd" if abi3 or stdlib else f"{module}.cp{self.nodot}-win_amd64.pyd"
        if abi3:
            return f"{module}.abi3.so"
        return f"{module}.cpython-{self.nodot}-" + ("darwin.so" if self.platform == "osx" else "x86_64-linux-gnu.so")

    def wheel_tags(self, abi3: bool = False, conda: bool = False) -> List[str]:
        """WHEEL Tag lines of a binary wheel from PyPI (manylinux) or built by conda-build (plain linux)."""
        platforms = {"win-64": ["win_amd64"], "osx-64": ["macosx_10_9_x86_64"], "osx-arm64": ["macosx_11_0_arm64"],
                     "linux-64": ["linux_x86_64"] if conda else ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]}
        return [f"{'cp37-abi3' if abi3 else f'cp{self.nodot}-cp{self.nodot}'}-{p}" for p in platforms[self.subdir]]

    def rel(self, path: Path) -> str:
        """PATH relative to the root with forward slashes, as conda-meta and RECORD write it."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def write(self, files: Dict[str, Content], base: Optional[Path] = None) -> List[Path]:
        """Writes FILES (path relative to BASE, default the root -> content; a path ending in / is a folder)."""
        written = []
        for relative, content in files.items():
            path = (base or self.root) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if relative.endswith("/"):
                path.mkdir(exist_ok=True)
                continue
            if isinstance(content, Link):
                os.symlink(content.target, path)
            elif isinstance(content, Native):
                path.write_bytes(self._binary(path, content))
            else:
                path.write_bytes(content.encode() if isinstance(content, str) else content)
            written.append(path)
        return written

    def _binary(self, path: Path, native: Native) -> bytes:
        module = path.name.split(".")[0]
        own = path.name.lower()  # vcruntime140.dll does not import itself
        imports = [self.library(name) for name in native.imports if self.library(name)]
        system = [name for name in SYSTEM_IMPORTS[self.platform] if name.lower() != own]
        rpath = native.rpath
        if rpath is None and any(name in LIBRARIES for name in native.imports) and self.platform != "win":
            up = os.path.relpath(self.root / self.library_dir, path.parent)
            rpath = ("@loader_path/" if self.platform == "osx" else "$ORIGIN/") + up
        if self.platform == "win":
            exports = [f"PyInit_{module}"] if native.kind == "ext" else []
            return pe_file(imports + system, exports=exports, exe=native.kind == "exe").read_bytes()
        if self.platform == "linux":
            return elf_file(soname=path.name if native.kind == "lib" else None, rpath=rpath, exe=native.kind == "exe",
                            needed=imports + system).read_bytes()
        return macho_bytes(self.arch, {"exe": "exe", "lib": "dylib", "ext": "bundle"}[native.kind],
                           install_name=f"@rpath/{path.name}" if native.kind == "lib" else None,
                           imports=[n if "/" in n else f"@rpath/{n}" for n in imports] + system,
                           rpaths=[rpath] if rpath else [])


def _python_files(env: Env) -> Dict[str, Content]:
    """What conda's python package installs (the part the doctor reads)."""
    xy, nodot = env.xy, env.nodot
    stdlib = {"os.py": '"""OS routines for NT or Posix depending on what system we\'re on."""\n',
              "encodings/__init__.py": '"""Standard "encodings" Package"""\n'}
    if env.platform == "win":
        return {"python.exe": Native("exe", ("python",)), f"python{nodot}.dll": Native("lib"),
                "python3.dll": Native("lib"), **{f"Lib/{k}": v for k, v in stdlib.items()},
                "Lib/site-packages/README.txt": "This directory exists so that 3rd party packages can be installed here.\n",
                f"DLLs/{env.extension('_ctypes', stdlib=True)}": Native("ext", ("python", "ffi")),
                f"libs/python{nodot}.lib": b"!<arch>\n", "include/Python.h": "#define Py_PYTHON_H\n",
                "Library/bin/": "", "Scripts/": ""}
    libpython = f"libpython{xy}.dylib" if env.platform == "osx" else f"libpython{xy}.so.1.0"
    dynload = f"lib/python{xy}/lib-dynload/"
    return {f"bin/python{xy}": Native("exe"), "bin/python3": Link(f"python{xy}"), "bin/python": Link(f"python{xy}"),
            f"lib/{libpython}": Native("lib"), **{f"lib/python{xy}/{k}": v for k, v in stdlib.items()},
            dynload + env.extension("_struct", stdlib=True): Native("ext"),
            dynload + env.extension("_ctypes", stdlib=True): Native("ext", ("ffi",)),
            f"lib/python{xy}/site-packages/README.txt": "This directory exists so that 3rd party packages can be installed here.\n",
            f"include/python{xy}/Python.h": "#define Py_PYTHON_H\n"}


def _build(env: Env, name: str, version: str, prefix: str = "") -> str:
    """A build string of conda-forge's shape (h<hash>_0), stable for the same inputs."""
    return f"{prefix}h{hashlib.sha1(f'{name}{version}{env.subdir}'.encode()).hexdigest()[:7]}_0"


def _conda_record(env: Env, name: str, version: str, build: str, files: List[Path], depends: List[str],
                  requested_spec: str = "") -> dict:
    """Writes conda-meta/<name>-<version>-<build>.json as conda does when it links a package."""
    channel = f"https://conda.anaconda.org/conda-forge/{env.subdir}"
    fn = f"{name}-{version}-{build}.conda"
    pkgs = CONDA_ROOT[env.platform] + ("\\pkgs\\" if env.platform == "win" else "/pkgs/")
    paths = [{"_path": env.rel(p), "path_type": "softlink" if p.is_symlink() else "hardlink",
              "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size_in_bytes": p.stat().st_size} for p in files]
    digest = hashlib.sha256(fn.encode()).hexdigest()
    record = {"build": build, "build_number": 0, "channel": channel, "constrains": [], "depends": depends,
              "extracted_package_dir": pkgs + fn[:-len(".conda")], "files": [p["_path"] for p in paths], "fn": fn,
              "license": "BSD-3-Clause", "link": {"source": pkgs + fn[:-len(".conda")], "type": 1},
              "md5": digest[:32], "name": name, "package_tarball_full_path": pkgs + fn,
              "paths_data": {"paths": paths, "paths_version": 1}, "requested_spec": requested_spec,
              "sha256": digest, "size": 1000 + len(files), "subdir": env.subdir, "timestamp": 1700000000000,
              "url": f"{channel}/{fn}", "version": version}
    meta = env.root / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _history(env: Env, records: List[dict], command: str, specs: List[str]) -> None:
    """Appends a transaction to conda-meta/history in conda's format."""
    conda = CONDA_ROOT[env.platform] + ("\\Scripts\\conda-script.py" if env.platform == "win" else "/bin/conda")
    lines = ["==> 2024-03-01 12:00:00 <==", f"# cmd: {conda} {command}", "# conda version: 24.1.2",
             *(f"+conda-forge/{env.subdir}::{r['name']}-{r['version']}-{r['build']}" for r in records),
             f"# update specs: {specs!r}"]
    with open(env.root / "conda-meta" / "history", "a") as history:
        history.write("\n".join(lines) + "\n")


def _conda_package(env: Env, name: str, version: str, files: Dict[str, Content], depends: List[str] = (),
                   build: Optional[str] = None, spec: str = "") -> dict:
    return _conda_record(env, name, version, build or _build(env, name, version), env.write(files),
                         list(depends), spec)


def conda_env(root: Path, subdir: str = "linux-64", python: str = "3.10.13", packages: Sequence[str] = ("numpy",)) -> Env:
    """A conda env made by `conda create -n oe-python-plugin python=X.Y numpy` on SUBDIR: conda-meta
    (history, one record per package), python with its standard library, libpython (python3XY.dll,
    python3.dll), lib-dynload/DLLs extensions, libffi (+ vc14_runtime on Windows), and PACKAGES
    (names of CONDA_PACKAGES) from conda-forge."""
    env = Env(Path(root), subdir, python)
    env.root.mkdir(parents=True, exist_ok=True)
    xy = env.xy
    _conda_package(env, "libffi", "3.4.4", {f"{env.library_dir}/{env.library('ffi')}": Native("lib")})
    if env.platform == "win":
        _conda_package(env, "vc14_runtime", "14.38.33130", {
            "vcruntime140.dll": Native("lib"), "msvcp140.dll": Native("lib"),
            "Library/bin/vcruntime140.dll": Native("lib"), "Library/bin/msvcp140.dll": Native("lib")})
    depends = ["libffi >=3.4,<4.0a0"] + (["vc14_runtime >=14.29.30139"] if env.platform == "win" else [])
    _conda_package(env, "python", python, _python_files(env), depends, _build(env, "python", python) + "_cpython",
                   f"python={xy}")
    for name in packages:
        CONDA_PACKAGES[name](env)
    records = [json.loads(p.read_text()) for p in sorted((env.root / "conda-meta").glob("*.json"))]
    _history(env, records, f"create -n oe-python-plugin python={xy} {' '.join(packages)}".strip(),
             [f"python={xy}", *packages])
    return env


def install_dist(env: Env, name: str, version: str, files: Dict[str, Content], installer: str = "pip",
                 tags: Optional[Sequence[str]] = None, site: Optional[Path] = None, depends: Sequence[str] = ()) -> Path:
    """Installs distribution NAME as pip or conda (INSTALLER) leaves it: FILES (relative to SITE, default the
    env's site-packages) and <name>-<version>.dist-info with METADATA, INSTALLER, WHEEL (TAGS, default the
    env's cpXY wheel tags) and RECORD; conda also writes its conda-meta record listing all of them.
    Returns the dist-info folder. (Installs into an existing conda env are not added to its history.)"""
    site = site or env.site_packages
    written = env.write(files, site)
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    tags = list(tags) if tags is not None else env.wheel_tags(conda=installer == "conda")
    written += env.write({
        "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "INSTALLER": f"{installer}\n",
        "WHEEL": "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\nRoot-Is-Purelib: "
                 + ("true" if tags == ["py3-none-any"] else "false") + "\n" + "".join(f"Tag: {t}\n" for t in tags)},
        dist)
    lines = [f"{Path(os.path.relpath(p, site)).as_posix()},sha256="
             f"{base64.urlsafe_b64encode(hashlib.sha256(p.read_bytes()).digest()).rstrip(b'=').decode()},"
             f"{p.stat().st_size}" for p in written]
    (dist / "RECORD").write_text("\n".join(lines + [f"{dist.name}/RECORD,,"]) + "\n")
    if installer == "conda":
        build = _build(env, name, version, f"py{env.nodot}")
        major, minor = env.xy.split(".")
        _conda_record(env, name, version, build, written + [dist / "RECORD"],
                      [f"python >={env.xy},<{major}.{int(minor) + 1}.0a0", *depends], name)
    return dist


def conda_numpy(env: Env, version: str = "1.26.4") -> Path:
    """numpy from conda-forge: numpy/core/_multiarray_umath importing libcblas (from the libcblas package),
    numpy-<version>.dist-info with INSTALLER conda, and both conda-meta records. Returns the dist-info."""
    _conda_package(env, "libcblas", "3.9.0", {f"{env.library_dir}/{env.library('cblas')}": Native("lib")})
    return install_dist(env, "numpy", version, {
        "numpy/__init__.py": f'__version__ = "{version}"\n',
        f"numpy/core/{env.extension('_multiarray_umath')}": Native("ext", ("python", "cblas"))},
        installer="conda", depends=["libcblas >=3.9.0,<4.0a0"])


CONDA_PACKAGES = {"numpy": conda_numpy}

# What a numpy wheel from PyPI vendors (auditwheel, delvewheel, delocate), and how its extension finds it.
PIP_NUMPY_LIBS = {"win": ("numpy.libs/libopenblas64__v0.3.27-gcc_10_3_0.dll",
                          "numpy.libs/msvcp140-d64049c6e3865410a7dda6a7e9f0c575.dll"),
                  "linux": ("numpy.libs/libopenblas64_p-r0-0cf96a72.3.27.so", "numpy.libs/libgfortran-040039e1.so.5.0.0"),
                  "osx": ("numpy/.dylibs/libopenblas64_.0.dylib", "numpy/.dylibs/libgfortran.5.dylib")}


def pip_numpy(env: Env, version: str = "2.0.2") -> Path:
    """`pip install numpy==VERSION` from a PyPI wheel: numpy/_core/_multiarray_umath importing the libraries the
    wheel vendors (numpy.libs/, numpy/.dylibs/), INSTALLER pip. Returns the dist-info folder."""
    libs = PIP_NUMPY_LIBS[env.platform]
    vendored = [f"@loader_path/../.dylibs/{Path(lib).name}" if env.platform == "osx" else Path(lib).name for lib in libs]
    return install_dist(env, "numpy", version, {
        "numpy/__init__.py": f'__version__ = "{version}"\n',
        f"numpy/_core/{env.extension('_multiarray_umath')}": Native(
            "ext", ("python", *vendored), rpath=None if env.platform == "osx" else "$ORIGIN/../../numpy.libs"),
        **{lib: Native("lib") for lib in libs}})


def pip_over_conda(env: Env, version: str = "2.0.2", keep_conda_dist_info: bool = False) -> Path:
    """`pip install -U numpy` in an env with conda's numpy: pip removes the files of conda's dist-info RECORD
    and installs its own, while conda-meta/numpy-*.json stays and lists files now gone. With
    KEEP_CONDA_DIST_INFO, pip left conda's install in place (two numpy dist-infos). Returns pip's dist-info."""
    if not keep_conda_dist_info:
        for conda_dist in env.site_packages.glob("numpy-*.dist-info"):
            for line in (conda_dist / "RECORD").read_text().splitlines():
                path = env.site_packages / line.split(",")[0]
                path.unlink(missing_ok=True)
                while path.parent != env.site_packages and path.parent.is_dir() and not any(path.parent.iterdir()):
                    path = path.parent
                    path.rmdir()  # pip removes the folders it empties
    return pip_numpy(env, version)


def user_site(home: Path, env: Env) -> Path:
    """The user site-packages of ENV's Python for a user whose home is HOME (%APPDATA% under it on Windows;
    conda's Python on macOS is not a framework build, so ~/.local as on Linux)."""
    if env.platform == "win":
        return Path(home) / "AppData" / "Roaming" / "Python" / f"Python{env.nodot}" / "site-packages"
    return Path(home) / ".local" / "lib" / f"python{env.xy}" / "site-packages"


def pip_user_install(env: Env, home: Path, name: str = "requests", version: str = "2.31.0") -> Path:
    """`pip install --user NAME`: a pure-Python dist-info in the user site of HOME. Returns the dist-info."""
    return install_dist(env, name, version, {f"{name}/__init__.py": f'__version__ = "{version}"\n'},
                        tags=["py3-none-any"], site=user_site(home, env))


def abi3_wheel(env: Env, python3_dll: bool = True) -> Path:
    """`pip install psutil`: a stable-ABI wheel (cp37-abi3) whose extension imports python3.dll on Windows.
    Without PYTHON3_DLL the env's python package did not ship python3.dll. Returns the dist-info."""
    module = {"win": "_psutil_windows", "osx": "_psutil_osx", "linux": "_psutil_linux"}[env.platform]
    if not python3_dll and env.platform == "win":
        _remove_conda_file(env, "python3.dll")
    return install_dist(env, "psutil", "5.9.8", {"psutil/__init__.py": '__version__ = "5.9.8"\n',
                                                  f"psutil/{env.extension(module, abi3=True)}": Native("ext", ("python3",))},
                        tags=env.wheel_tags(abi3=True))


def missing_dll_extension(env: Env, missing: str = "libmissing_dep") -> Path:
    """`pip install mysensor` 0.1.0, whose extension mysensor/_driver imports library MISSING
    (MISSING.dll, MISSING.so.1 or @rpath/MISSING.dylib), present nowhere in the env. Returns the dist-info."""
    library = {"win": f"{missing}.dll", "linux": f"{missing}.so.1", "osx": f"@rpath/{missing}.dylib"}[env.platform]
    return install_dist(env, "mysensor", "0.1.0", {"mysensor/__init__.py": "",
                                                    f"mysensor/{env.extension('_driver')}": Native("ext", ("python", library))})


def _remove_conda_file(env: Env, relative: str) -> None:
    """Deletes an env file and its entry in the conda record that lists it."""
    (env.root / relative).unlink()
    for path in (env.root / "conda-meta").glob("*.json"):
        record = json.loads(path.read_text())
        if relative in record["files"]:
            record["files"].remove(relative)
            record["paths_data"]["paths"] = [p for p in record["paths_data"]["paths"] if p["_path"] != relative]
            path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def venv(root: Path, base: Union[Path, str], subdir: str = "linux-64", python: str = "3.10.13",
         tool: str = "venv") -> Env:
    """A venv (`python -m venv`, or TOOL="virtualenv") made from the Python installed at BASE (a prefix
    that may not exist: its base Python is gone): pyvenv.cfg (home = its python's folder, version or
    version_info), the launcher or links to the base python, and an empty site-packages."""
    env = Env(Path(root), subdir, python)
    home = str(base) if env.platform == "win" else f"{base}/bin"
    config = {"home": home, "include-system-site-packages": "false", "version": python}
    if tool == "virtualenv":
        config = {"home": home, "implementation": "CPython", "version_info": f"{python}.final.0",
                  "virtualenv": "20.25.0", "include-system-site-packages": "false", "base-prefix": str(base),
                  "base-exec-prefix": str(base),
                  "base-executable": f"{home}\\python.exe" if env.platform == "win" else f"{home}/python{env.xy}"}
    files: Dict[str, Content] = {"pyvenv.cfg": "".join(f"{k} = {v}\n" for k, v in config.items())}
    if env.platform == "win":
        files.update({"Scripts/python.exe": Native("exe"), "Scripts/pythonw.exe": Native("exe"),
                      "Lib/site-packages/": "", "Include/": ""})
    else:
        files.update({"bin/python": Link(f"{home}/python{env.xy}"), "bin/python3": Link("python"),
                      f"bin/python{env.xy}": Link("python"), f"lib/python{env.xy}/site-packages/": "", "include/": "",
                      **({"lib64": Link("lib")} if env.platform == "linux" else {})})
    env.write(files)
    return env
