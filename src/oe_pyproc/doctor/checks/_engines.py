"""Where the plugin looks for the engine built for a Python version: oe_bootstrap.engines' rule."""
from oe_bootstrap.engines import engine_file_name, find_engines
from oe_bootstrap.engines import engine_folders as folders_for

from ..context import DoctorContext

__all__ = ["engine_file_name", "engine_folders", "engine_locations"]


def engine_folders(context: DoctorContext):
    # --engine-dir folders are searched as the GUI's shared folder is: they hold python-processor/ or engines.
    return folders_for(context.env.site_packages, []) + list(context.engine_dirs) + folders_for([], [context.gui.shared])


def engine_locations(context: DoctorContext):
    if not context.version_tag or not context.env_platform:
        return []
    return find_engines(context.version_tag, context.env_platform, engine_folders(context))
