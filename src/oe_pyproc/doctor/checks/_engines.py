"""Where the plugin looks for the engine built for a Python version, as the loader does."""
import os

from ..context import DoctorContext

ENGINES_IN_SHARED = "python-processor"  # <shared-api10>/python-processor/ holds the zip's engines


def engine_file_name(version_tag: str, env_platform: str) -> str:
    if env_platform == "windows":
        return "pyproc_engine_cp%s.dll" % version_tag
    return "libpyproc_engine_cp%s.%s" % (version_tag, "dylib" if env_platform == "macos" else "so")


def engine_folders(context: DoctorContext):
    folders = [os.path.join(site, "oe_pyproc", "engines") for site in context.env.site_packages]
    folders += list(context.engine_dirs)
    folders.append(os.path.join(context.gui.shared, ENGINES_IN_SHARED))
    return folders


def engine_locations(context: DoctorContext):
    if not context.version_tag or not context.env_platform:
        return []
    name = engine_file_name(context.version_tag, context.env_platform)
    return [os.path.join(folder, name) for folder in engine_folders(context)
            if os.path.isfile(os.path.join(folder, name))]
