"""read_binary on real PE, ELF and Mach-O files of every platform, on files that are none of them, and
on the binaries of the env trees (tests/envtrees.py) the doctor's tests use."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from macholib.MachO import MachO

from envtrees import (SUBDIRS, abi3_wheel, conda_env, elf_file, libstdcxx_file, macho_bytes, macho_fat,
                      missing_dll_extension, pe_file, pip_over_conda, pip_user_install, user_site, venv)
from oe_pyproc.doctor.binaries import read_binary, version_key


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_pe_dll_lists_imports_then_delay_imports():
    info = read_binary(pe_file(["python3.dll", "KERNEL32.dll"], delay_imports=["libmissing_dep.dll", "ffi-8.dll"],
                               exports=["PyInit__psutil_windows"]))
    assert (info.format, info.archs) == ("PE", ("x86_64",))
    assert info.imports == ("python3.dll", "KERNEL32.dll", "libmissing_dep.dll", "ffi-8.dll")
    assert info.glibcxx_needed is None and info.glibcxx_provided is None


def test_pe_executable_without_imports():
    info = read_binary(pe_file(exe=True))
    assert (info.format, info.archs, info.imports) == ("PE", ("x86_64",), ())


def test_elf_library_lists_dt_needed():
    info = read_binary(elf_file(soname="libpython3.10.so.1.0", needed=["libffi.so.8", "libc.so.6"]))
    assert (info.format, info.archs) == ("ELF", ("x86_64",))
    assert info.imports == ("libffi.so.8", "libc.so.6")
    assert info.glibcxx_needed is None


def test_elf_executable():
    info = read_binary(elf_file(exe=True, needed=["libc.so.6"]))
    assert (info.format, info.imports) == ("ELF", ("libc.so.6",))


def test_glibcxx_needed_beyond_what_an_older_libstdcxx_provides():
    extension = read_binary(elf_file(needed=["libc.so.6"], glibcxx="3.4.30"))
    old_libstdcxx = read_binary(libstdcxx_file(provides="3.4.19"))
    assert extension.imports == ("libc.so.6", "libstdc++.so.6")
    assert (extension.glibcxx_needed, extension.glibcxx_provided) == ("3.4.30", None)
    assert (old_libstdcxx.glibcxx_provided, old_libstdcxx.glibcxx_needed) == ("3.4.19", None)
    assert version_key(extension.glibcxx_needed) > version_key(old_libstdcxx.glibcxx_provided)


def test_real_cxx_library_needs_no_more_than_the_system_libstdcxx_provides():
    extension = read_binary(elf_file(cxx=True))
    system = subprocess.run(["g++", "-print-file-name=libstdc++.so.6"], capture_output=True, text=True).stdout.strip()
    provided = read_binary(Path(system).resolve()).glibcxx_provided
    assert "libstdc++.so.6" in extension.imports
    assert extension.glibcxx_needed and provided
    assert version_key("3.4") <= version_key(extension.glibcxx_needed) <= version_key(provided)


def test_version_key_compares_numbers_not_text():
    assert version_key("3.4.30") == (3, 4, 30)
    assert version_key("3.4.9") < version_key("3.4.19") and "3.4.9" > "3.4.19"


LIBRARY = dict(install_name="@rpath/libfoo.dylib", imports=["@rpath/libbar.dylib", "/usr/lib/libSystem.B.dylib"],
               weak_imports=["@rpath/libweak.dylib"], reexports=["@rpath/libre.dylib"], rpaths=["@loader_path/../lib"])
LIBRARY_IMPORTS = ("@rpath/libbar.dylib", "/usr/lib/libSystem.B.dylib", "@rpath/libweak.dylib", "@rpath/libre.dylib")


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_macho_imports_without_its_own_install_name(tmp_path, arch):
    info = read_binary(write(tmp_path / "libfoo.dylib", macho_bytes(arch, **LIBRARY)))
    assert (info.format, info.archs, info.imports) == ("Mach-O", (arch,), LIBRARY_IMPORTS)


def test_fat_macho_has_every_slice_arch_and_their_imports_once(tmp_path):
    fat = write(tmp_path / "fat.so", macho_fat(macho_bytes("x86_64", **LIBRARY),
                                               macho_bytes("arm64", "bundle", imports=["@rpath/libarm.dylib"])))
    info = read_binary(fat)
    assert (info.format, info.archs) == ("Mach-O", ("x86_64", "arm64"))
    assert info.imports == LIBRARY_IMPORTS + ("@rpath/libarm.dylib",)


def test_written_macho_files_are_valid_for_macholib_and_llvm(tmp_path):
    fat = write(tmp_path / "fat.dylib", macho_fat(macho_bytes("x86_64", **LIBRARY), macho_bytes("arm64", **LIBRARY)))
    headers = MachO(str(fat)).headers  # the full parser: segments, lc_str offsets, sizes
    assert [h.header.cputype for h in headers] == [0x01000007, 0x0100000C]
    assert [name for _, _, name in headers[0].walkRelocatables()] == list(LIBRARY_IMPORTS)
    objdump = shutil.which("llvm-objdump")
    if objdump:  # an independent reader, where installed
        listing = subprocess.run([objdump, "--macho", "--dylibs-used", "--arch=arm64", str(fat)],
                                 capture_output=True, text=True, check=True).stdout
        assert all(name in listing for name in LIBRARY_IMPORTS)


def binaries_of_each_format():
    return {"PE": pe_file(["python310.dll"]), "ELF": elf_file(needed=["libc.so.6"]),
            "Mach-O": macho_bytes("arm64", **LIBRARY),
            "fat Mach-O": macho_fat(macho_bytes("x86_64", **LIBRARY), macho_bytes("arm64", **LIBRARY))}


@pytest.mark.parametrize("kind", ["PE", "ELF", "Mach-O", "fat Mach-O"])
def test_truncated_binaries_are_not_read(tmp_path, kind):
    source = binaries_of_each_format()[kind]
    data = source if isinstance(source, bytes) else source.read_bytes()
    assert read_binary(write(tmp_path / "whole", data)) is not None
    for length in (1, 3, 4, 8, 40, 64, len(data) // 2, len(data) - 1):
        assert read_binary(write(tmp_path / f"cut{length}", data[:length])) is None, length


def test_files_that_are_not_binaries(tmp_path):
    noise = random.Random(7)
    files = {"text": b"import numpy\n", "empty": b"", "python.lib": b"!<arch>\n",
             "java.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(200)}  # fat magic, but a class file
    for magic in (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        for i in range(20):
            files[f"{magic.hex()}-{i}"] = magic + noise.randbytes(noise.choice([4, 60, 700, 5000]))
    for name, data in files.items():
        assert read_binary(write(tmp_path / name, data)) is None, name
    assert read_binary(tmp_path) is None
    assert read_binary(tmp_path / "missing.dll") is None


# --- the env trees ---

FORMATS = {"win": "PE", "linux": "ELF", "osx": "Mach-O"}


@pytest.mark.parametrize("subdir", SUBDIRS)
def test_clean_env_has_its_platform_binaries_listed_in_conda_meta(tmp_path, subdir):
    env = conda_env(tmp_path / "env", subdir)
    record = json.loads(next((env.root / "conda-meta").glob("python-3.10.13-*.json")).read_text())
    assert record["subdir"] == subdir and record["fn"] == f"python-3.10.13-{record['build']}.conda"
    assert all((env.root / f).exists() for f in record["files"])
    infos = [info for info in map(read_binary, (env.root / f for f in record["files"])) if info]
    libpython = "python310.dll" if env.platform == "win" else "lib/libpython3.10."
    assert any(libpython in f for f in record["files"])
    assert infos and {(info.format, info.archs) for info in infos} == {(FORMATS[env.platform], (env.arch,))}
    ctypes = next(info for info in infos if "_ctypes" in info.path)
    ffi = env.library("ffi")
    assert any(name.endswith(ffi) for name in ctypes.imports) and (env.root / env.library_dir / ffi).exists()
    assert "+conda-forge/%s::numpy-1.26.4-" % subdir in (env.root / "conda-meta" / "history").read_text()


def test_conda_env_of_another_python_version(tmp_path):
    env = conda_env(tmp_path / "env", "linux-64", python="3.12.1")
    assert (env.root / "lib/python3.12/lib-dynload/_struct.cpython-312-x86_64-linux-gnu.so").is_file()
    assert read_binary(env.root / "lib/libpython3.12.so.1.0").format == "ELF"
    assert list((env.root / "conda-meta").glob("python-3.12.1-*.json"))


@pytest.mark.parametrize("python3_dll", [True, False])
def test_abi3_extension_imports_python3_dll(tmp_path, python3_dll):
    env = conda_env(tmp_path / "env", "win-64")
    dist = abi3_wheel(env, python3_dll=python3_dll)
    assert "Tag: cp37-abi3-win_amd64" in (dist / "WHEEL").read_text()
    assert "python3.dll" in read_binary(env.site_packages / "psutil/_psutil_windows.pyd").imports
    assert (env.root / "python3.dll").exists() == python3_dll


def test_extension_importing_a_library_the_env_lacks(tmp_path):
    env = conda_env(tmp_path / "env", "win-64")
    missing_dll_extension(env)
    info = read_binary(env.site_packages / "mysensor/_driver.cp310-win_amd64.pyd")
    assert "libmissing_dep.dll" in info.imports and not list(env.root.rglob("libmissing_dep.dll"))


@pytest.mark.parametrize("keep_conda_dist_info", [False, True])
def test_pip_over_conda_numpy(tmp_path, keep_conda_dist_info):
    env = conda_env(tmp_path / "env", "linux-64")
    pip_over_conda(env, keep_conda_dist_info=keep_conda_dist_info)
    installers = {d.name: (d / "INSTALLER").read_text() for d in env.site_packages.glob("numpy-*.dist-info")}
    expected = {"numpy-2.0.2.dist-info": "pip\n", **({"numpy-1.26.4.dist-info": "conda\n"} if keep_conda_dist_info else {})}
    assert installers == expected
    assert list((env.root / "conda-meta").glob("numpy-1.26.4-*.json"))
    core = read_binary(next(env.site_packages.glob("numpy/_core/_multiarray_umath.*.so")))
    assert all((env.site_packages / "numpy.libs" / name).exists() for name in core.imports if name != "libc.so.6")


def test_pip_user_install_lands_in_the_user_site(tmp_path):
    env = conda_env(tmp_path / "env", "win-64", packages=())
    dist = pip_user_install(env, tmp_path / "home")
    assert dist.parent == tmp_path / "home/AppData/Roaming/Python/Python310/site-packages" == user_site(tmp_path / "home", env)
    assert (dist / "INSTALLER").read_text() == "pip\n" and "requests/__init__.py," in (dist / "RECORD").read_text()


def test_venv_whose_base_python_is_gone(tmp_path):
    env = venv(tmp_path / "venv", tmp_path / "gone")
    assert f"home = {tmp_path / 'gone'}/bin\n" in (env.root / "pyvenv.cfg").read_text()
    assert (env.root / "bin/python").is_symlink() and not (env.root / "bin/python").exists()
