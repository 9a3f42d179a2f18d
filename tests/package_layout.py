"""Where the conda package puts each part, per subdir (docs/recipe.md): what the loader, `oe-pyproc setup`
and `install-plugin` look for. Paths are relative to the env's prefix, '/'-separated."""
from __future__ import annotations

from typing import Dict

ENGINE = {"linux-64": "libpyproc_engine_cp310.so", "osx-64": "libpyproc_engine_cp310.dylib",
          "osx-arm64": "libpyproc_engine_cp310.dylib", "win-64": "pyproc_engine_cp310.dll"}
PLUGIN = {"linux-64": "python-processor.so", "osx-64": "python-processor.bundle",
          "osx-arm64": "python-processor.bundle", "win-64": "python-processor.dll"}


def site_packages(subdir: str) -> str:
    return "Lib/site-packages" if subdir.startswith("win") else "lib/python3.10/site-packages"


def scripts(subdir: str) -> str:
    return "Scripts" if subdir.startswith("win") else "bin"


def plugin_bundle(subdir: str) -> str:
    """The Plugin Installer layout (plugins/, shared/) that setup_home.plugin_bundle_in_env finds."""
    share = "Library/share" if subdir.startswith("win") else "share"
    return f"{share}/oe-python-processor/plugin-api10"


def package_layout(subdir: str) -> Dict[str, str]:
    """The files without which the package does not work, by role."""
    site = site_packages(subdir)
    executable = ".exe" if subdir.startswith("win") else ""
    return {
        "engine": f"{site}/oe_pyproc/engines/{ENGINE[subdir]}",
        "pyproc-host": f"{scripts(subdir)}/pyproc-host{executable}",
        "templates": f"{site}/oe_pyproc/templates/processor_template.py",
        "environment.yml": f"{site}/oe_bootstrap/environment.yml",
    }


def plugin_layout(subdir: str) -> Dict[str, str]:
    """The plugin build, present when the GUI's source was beside ours."""
    bundle = plugin_bundle(subdir)
    return {"plugin": f"{bundle}/plugins/{PLUGIN[subdir]}",
            "plugin engine": f"{bundle}/shared/python-processor/{ENGINE[subdir]}"}
