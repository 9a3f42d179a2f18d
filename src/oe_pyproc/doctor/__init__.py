"""`oe-pyproc doctor`: one finding per known way an embedded Python fails, each with its fix.

The checks live in ``checks/`` (one module each) and only read files; the
doctor never changes anything. ``oe-pyproc setup`` fixes what can be fixed.
"""
from __future__ import annotations

import os
import sys
from typing import List, Mapping, Optional

from oe_bootstrap.conda import Discovery, find_env
from oe_bootstrap.folders import gui_folders
from oe_bootstrap.pythonenv import inspect_env
from oe_bootstrap.resolve import resolve_python_home

from .checks import all_checks
from .context import DoctorContext
from .findings import Finding


class NoSuchEnv(Exception):
    pass


def choose_home(python_home: Optional[str], env_name: Optional[str], gui, environ: Mapping[str, str],
                discovery: Discovery):
    """(home, how it was chosen): the option given, else what the plugin would resolve, else this env."""
    if python_home:
        return os.path.abspath(os.path.expanduser(python_home)), "--python-home"
    if env_name:
        env = find_env(env_name, discovery)
        if env is None:
            raise NoSuchEnv("no conda env named %r was found; `oe-pyproc setup --env %s --create` makes it"
                            % (env_name, env_name))
        return env.prefix, "--env %s (%s)" % (env_name, env.source)
    resolution = resolve_python_home(gui, environ, discovery)
    if resolution.python_home:
        return resolution.python_home, "the plugin's resolution: %s (%s)" % (resolution.source, resolution.where)
    return sys.prefix, "this oe-pyproc's own environment (the plugin would find none)"


def build_context(python_home: Optional[str] = None, env_name: Optional[str] = None, gui_dir: Optional[str] = None,
                  script: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                  user_home: Optional[str] = None, run_probe: bool = True) -> DoctorContext:
    environ = dict(os.environ if environ is None else environ)
    user_home = user_home or os.path.expanduser("~")
    discovery = Discovery(Discovery.here().system, environ, user_home)
    gui = gui_folders(discovery.system, environ, user_home, gui_dir)
    home, source = choose_home(python_home, env_name, gui, environ, discovery)
    return DoctorContext(home, inspect_env(home), gui, source, environ, user_home, discovery.system,
                         os.path.abspath(script) if script else None, run_probe=run_probe)


def run_doctor(context: DoctorContext) -> List[Finding]:
    context.start_probe()
    findings = [module.check(context) for module in all_checks()]
    return [finding for finding in findings if finding is not None]
