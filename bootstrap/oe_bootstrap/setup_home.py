"""`setup`: find or create the env, prove it works, write it as the GUI's Python Home, install the plugin.

Each step reports through ``report(status, message)`` so that the zipapp prints
plain lines and ``oe-pyproc`` prints rich ones from the same logic.
"""
import os
from typing import Callable, List, NamedTuple, Optional, Sequence

from . import ENV_NAME, PLUGIN_API
from .atomic import WriteRefused
from .chains import ChainError, set_python_home_in_chain
from .conda import Discovery, find_env, find_frontends, preferred_frontend
from .engines import engine_folders, find_engines, platform_of, version_problem
from .envcreate import CreateFailed, create_env, environment_yml_file
from .folders import GuiFolders, current_system, gui_folders
from .gui_api import DEFAULT_PORT, GuiApiError, running_gui, set_python_home_live
from .probe import probe_python
from .pythonenv import inspect_env
from .settings import SettingsError, write_python_home

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
Report = Callable[[str, str], None]


class SetupFailed(Exception):
    """A step that stops setup; the message says what to do."""


class SetupOptions(NamedTuple):
    env_name: str = ENV_NAME
    python_home: Optional[str] = None
    create: bool = False
    gui_dir: Optional[str] = None
    chains: Sequence[str] = ()
    environment_file: Optional[str] = None
    port: int = DEFAULT_PORT
    install_plugin: bool = True


def plugin_bundle_in_env(prefix: str) -> Optional[str]:
    """The plugin build the conda package carries: plugins/ and shared/ as in the Plugin Installer zip."""
    for share in (os.path.join(prefix, "share"), os.path.join(prefix, "Library", "share")):
        bundle = os.path.join(share, "oe-python-processor", "plugin-api%d" % PLUGIN_API)
        if os.path.isdir(os.path.join(bundle, "plugins")):
            return bundle
    return None


def find_or_create_env(options: SetupOptions, report: Report, discovery: Optional[Discovery] = None) -> str:
    if options.python_home:
        report(INFO, "Python Home given: %s" % options.python_home)
        return os.path.abspath(os.path.expanduser(options.python_home))
    env = find_env(options.env_name, discovery)
    if env:
        report(OK, "found conda env %s at %s (from %s)" % (env.name, env.prefix, env.source))
        return env.prefix
    if not options.create:
        raise SetupFailed("no conda env named %s was found; run setup again with --create to make it from "
                          "environment.yml, or pass --python-home DIR" % options.env_name)
    return _create(options, report, discovery)


def _create(options: SetupOptions, report: Report, discovery: Optional[Discovery]) -> str:
    frontend = preferred_frontend(find_frontends(discovery))
    if frontend is None:
        raise SetupFailed("no conda, mamba or micromamba was found (looked at CONDA_EXE, MAMBA_EXE, PATH and the "
                          "usual install folders); install Miniforge from https://conda-forge.org/download/ "
                          "and run setup again")
    environment_file = options.environment_file or environment_yml_file()
    report(INFO, "creating %s with %s (%s) from %s" % (options.env_name, frontend.kind, frontend.path,
                                                       environment_file))
    try:
        create_env(frontend, environment_file, options.env_name, lambda line: report("progress", line))
    except CreateFailed as error:
        raise SetupFailed(str(error))
    env = find_env(options.env_name, discovery)
    if env is None:
        raise SetupFailed("%s reported success but no env named %s can be found; run `%s env list`"
                          % (frontend.kind, options.env_name, frontend.path))
    report(OK, "created %s at %s" % (env.name, env.prefix))
    return env.prefix


def verify_env(python_home: str, report: Report, plugin_arch: Optional[str] = None,
               gui: Optional[GuiFolders] = None) -> None:
    """The env's own python answers: a version the plugin has an engine for (oe_bootstrap.engines),
    the plugin's architecture, and numpy imports."""
    env = inspect_env(python_home)
    if env.problem:
        raise SetupFailed(env.problem)
    probe = probe_python(env.python) if env.python else None
    if probe is None or not probe.ok:
        raise SetupFailed(probe.error if probe else "no python executable in %s" % python_home)
    answer = probe.answer
    version = str(answer["version"])
    # The GUI's shared folder, and the plugin build this env carries, which setup installs there.
    bundle = plugin_bundle_in_env(python_home)
    shared = ([gui.shared] if gui else []) + ([os.path.join(bundle, "shared")] if bundle else [])
    folders = engine_folders(env.site_packages, shared)
    version_tag = "".join(version.split(".")[:2])
    problem = version_problem(version, find_engines(version_tag, platform_of(gui.system if gui else current_system()), folders), folders)
    if problem:
        raise SetupFailed("%s runs %s" % (python_home, problem))
    if "numpy" not in answer:
        raise SetupFailed("numpy does not import in %s: %s; install it with conda install -p %s numpy"
                          % (python_home, answer.get("numpy_error"), python_home))
    if plugin_arch and answer.get("machine") not in _arch_names(plugin_arch):
        raise SetupFailed("%s is an %s env, but the plugin is %s" % (python_home, answer.get("machine"), plugin_arch))
    report(OK, "Python %s (%s), numpy %s" % (answer["version"], answer["machine"], answer["numpy"]))


def _arch_names(arch: str) -> List[str]:
    return {"x86_64": ["x86_64", "AMD64", "amd64"], "arm64": ["arm64", "aarch64"]}.get(arch, [arch])


def write_home(python_home: str, options: SetupOptions, report: Report, gui: GuiFolders) -> bool:
    """Record the home for the plugin: the settings file, then live in a running GUI or in its chain files."""
    ok = True
    try:
        result = write_python_home(gui, python_home, "oe-pyproc setup")
        report(OK, "settings file %s %s" % (result.path, "written" if result.changed else "already names it"))
    except (SettingsError, WriteRefused, OSError) as error:
        report(FAIL, str(error))
        ok = False
    status = running_gui(options.port)
    chains = list(options.chains)
    if status is not None:
        ok = _set_live(python_home, options.port, report) and ok
    else:
        chains = [path for path in gui.chain_files() if os.path.isfile(path)] + chains
    for chain in chains:
        ok = _set_in_chain(chain, python_home, report) and ok
    return ok


def _set_live(python_home: str, port: int, report: Report) -> bool:
    try:
        changed = set_python_home_live(port, python_home)
    except GuiApiError as error:
        report(FAIL, "the running GUI did not take the Python Home: %s" % error)
        return False
    report(OK, "set live in the running GUI (%s)" % (
        "processors " + ", ".join(map(str, changed)) if changed else "no Python Processor in its chain"))
    return True


def _set_in_chain(chain: str, python_home: str, report: Report) -> bool:
    try:
        edit = set_python_home_in_chain(chain, python_home)
    except ChainError as error:  # its message names the file and the place
        report(FAIL, "%s; the file was left untouched" % error)
        return False
    except (WriteRefused, OSError) as error:
        report(FAIL, "%s left untouched: %s" % (chain, error))
        return False
    if edit.changed:
        report(OK, "%s: %d Python Processor node(s) updated (backup %s)" % (chain, edit.changed, edit.backup))
    else:
        report(INFO, "%s: %s" % (chain, "already set" if edit.python_processors else "no Python Processor"))
    return True


def set_up(options: SetupOptions, report: Report, discovery: Optional[Discovery] = None,
           plugin_arch: Optional[str] = None) -> bool:
    """The whole of `setup`. Returns False when a step failed but the others were done."""
    python_home = find_or_create_env(options, report, discovery)
    gui = gui_folders(gui_dir=options.gui_dir)
    verify_env(python_home, report, plugin_arch, gui)
    ok = write_home(python_home, options, report, gui)
    if options.install_plugin:
        ok = install_from_env(python_home, gui, options.port, report) and ok
    return ok


def install_from_env(python_home: str, gui: GuiFolders, port: int, report: Report, required: bool = False) -> bool:
    """Install the plugin build the env's package carries; without one, say how to get it."""
    bundle = plugin_bundle_in_env(python_home)
    if bundle is None:
        report(FAIL if required else INFO,
               "%s carries no plugin build (conda install -c oe oe-python-processor puts one there); or install "
               "from a zip: oe-pyproc install-plugin --zip PythonProcessor-<os>_<version>-API10.zip" % python_home)
        return not required
    return install_bundle(bundle, gui, port, report)


def install_from_zip(zip_path: str, gui: GuiFolders, port: int, report: Report) -> bool:
    if not os.path.isfile(zip_path):
        report(FAIL, "%s does not exist" % zip_path)
        return False
    return install_bundle(zip_path, gui, port, report)


def install_bundle(bundle: str, gui: GuiFolders, port: int, report: Report) -> bool:
    from .plugins import PluginInstallError, install_plugin

    try:
        result = install_plugin(gui, bundle, gui.system, gui_running=running_gui(port) is not None)
    except (PluginInstallError, WriteRefused, OSError) as error:
        report(FAIL, str(error))
        return False
    was = " (was %s)" % result.previous_version if result.previous_version else ""
    report(OK, "plugin %s installed%s: %s; recorded in %s" % (result.version, was, result.plugin_path,
                                                               gui.installed_plugins_file))
    return True


def uninstall(gui: GuiFolders, port: int, report: Report) -> bool:
    from .plugins import PluginInstallError, uninstall_plugin

    try:
        result = uninstall_plugin(gui, gui_running=running_gui(port) is not None)
    except (PluginInstallError, WriteRefused, OSError) as error:
        report(FAIL, str(error))
        return False
    if not result.removed and not result.entry_removed:
        report(INFO, "the Python Processor was not installed in %s" % gui.plugins)
        return True
    report(OK, "removed %d file(s)%s" % (len(result.removed), " and its installedPlugins.xml entry"
                                         if result.entry_removed else ""))
    return True
