"""Windows DLL facts shared by the DLL checks: the DLLs every Windows has, and where an env's DLLs are found."""
import os
import re

SYSTEM_DLLS = {
    "kernel32", "kernelbase", "user32", "gdi32", "advapi32", "shell32", "ole32", "oleaut32", "ws2_32", "msvcrt",
    "ucrtbase", "ntdll", "comdlg32", "comctl32", "version", "winmm", "crypt32", "bcrypt", "secur32", "setupapi",
    "shlwapi", "rpcrt4", "psapi", "iphlpapi", "dbghelp", "userenv", "netapi32", "imm32", "mswsock", "dnsapi",
    "wldap32", "normaliz", "opengl32", "glu32", "dwmapi", "uxtheme", "powrprof", "pdh", "wtsapi32", "mpr",
    "wintrust", "cfgmgr32", "ncrypt", "d3d11", "dxgi", "d3d9", "d3d12", "dwrite", "d2d1", "winhttp", "wininet",
    "urlmon", "hid", "usp10", "msimg32", "winspool", "oleacc", "avrt", "mfplat", "ksuser", "cabinet", "msi",
    "sspicli", "cryptbase", "bcryptprimitives", "ntmarta", "profapi", "shcore", "combase", "gdiplus", "wsock32",
}
# The VC++ redistributable: in System32 on nearly every machine, and conda's env root.
REDISTRIBUTABLE = re.compile(r"^(msvcp140|vcruntime140|concrt140|vcomp140|vccorlib140)(_\w+)?\.dll$")
API_SET = re.compile(r"^(api|ext)-ms-win-")


def is_system_dll(name):
    lower = name.lower()
    stem = lower[:-4] if lower.endswith((".dll", ".drv")) else lower
    return stem in SYSTEM_DLLS or bool(API_SET.match(lower)) or bool(REDISTRIBUTABLE.match(lower))


def dll_folders(context):
    """Where the plugin's loader and conda's DLL-path patch let Windows find an extension's DLLs."""
    root = context.python_home
    folders = [root, os.path.join(root, "DLLs"), os.path.join(root, "Scripts"), os.path.join(root, "bin")]
    folders += [os.path.join(root, "Library", sub, "bin") if sub else os.path.join(root, "Library", "bin")
                for sub in ("", "mingw-w64", "usr")]
    folders += [context.gui.shared]
    for site in context.env.site_packages:
        try:
            folders += [entry.path for entry in os.scandir(site) if entry.is_dir() and entry.name.endswith(".libs")]
        except OSError:
            pass
    return folders


def dll_names_in(folders):
    names = set()
    for folder in folders:
        try:
            names.update(entry.name.lower() for entry in os.scandir(folder) if entry.is_file())
        except OSError:
            pass
    return names
