"""The bootstrapper's command line (`python oe-pyproc-bootstrap.pyz setup --create`).

``oe-pyproc`` declares the same options through ``add_*_arguments`` and runs
the same functions; only the printing differs.
"""
import argparse
import os
import shutil
import subprocess
import sys
from typing import Optional, Sequence

from . import ENV_NAME, __version__
from .gui_api import DEFAULT_PORT
from .folders import gui_folders
from .setup_home import SetupFailed, SetupOptions, install_from_zip, set_up, uninstall

MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "info": "·", "progress": " "}


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--env", dest="env_name", default=ENV_NAME, help="the conda env by name (default %(default)s)")
    which.add_argument("--python-home", help="use this env folder instead (conda env, venv or installation)")
    parser.add_argument("--create", action="store_true", help="create the env from environment.yml if it is missing")
    parser.add_argument("--environment-file", help="environment.yml to create it from (default: the project's)")
    add_gui_arguments(parser)
    parser.add_argument("--chain", action="append", default=[], metavar="FILE",
                        help="also set the Python Home in this saved signal chain (repeatable)")
    parser.add_argument("--no-plugin", action="store_true", help="do not install the plugin the env carries")


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gui-dir", help="the GUI's saved-state folder, or a plugin-GUI/Build folder "
                                          "(default: the GUI's own rules for this user)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the GUI's HTTP API port (default %(default)s)")


def setup_options(args: argparse.Namespace) -> SetupOptions:
    return SetupOptions(env_name=args.env_name, python_home=args.python_home, create=args.create,
                        gui_dir=args.gui_dir, chains=tuple(args.chain), environment_file=args.environment_file,
                        port=args.port, install_plugin=not args.no_plugin)


def print_report(status: str, message: str) -> None:
    print(("  " if status == "progress" else MARKS.get(status, "?") + " ") + message, flush=True)


def run_setup(args: argparse.Namespace, report) -> int:
    """`setup` for either command line; ``report(status, message)`` prints."""
    try:
        ok = set_up(setup_options(args), report)
    except SetupFailed as error:
        report("fail", str(error))
        return 1
    report("ok" if ok else "fail", "done: run `oe-pyproc doctor` to check everything" if ok else
           "some steps failed (above); nothing was lost: each rewritten file has a .bak beside it")
    return 0 if ok else 1


def command_setup(args: argparse.Namespace) -> int:
    return run_setup(args, print_report)


def command_install_plugin(args: argparse.Namespace) -> int:
    return 0 if install_from_zip(args.zip, gui_folders(gui_dir=args.gui_dir), args.port, print_report) else 1


def command_uninstall_plugin(args: argparse.Namespace) -> int:
    return 0 if uninstall(gui_folders(gui_dir=args.gui_dir), args.port, print_report) else 1


def command_doctor(args: argparse.Namespace) -> int:
    """The full doctor lives in the env (oe-pyproc); the bootstrapper hands over to it."""
    from .conda import find_env

    home = args.python_home or (find_env(args.env_name).prefix if find_env(args.env_name) else None)
    doctor = _oe_pyproc_in(home) if home else None
    if doctor is None:
        print_report("fail", "no env with oe-pyproc was found (%s); run `setup --create` first"
                     % (home or "no env named %s" % args.env_name))
        return 1
    return subprocess.call([doctor, "doctor", "--python-home", home] + list(args.passed_on))


def _oe_pyproc_in(prefix: str) -> Optional[str]:
    for folder in ("bin", "Scripts"):
        found = shutil.which("oe-pyproc", path=os.path.join(prefix, folder))
        if found:
            return found
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oe-pyproc-bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version="oe-pyproc-bootstrap %s" % __version__)
    commands = parser.add_subparsers(dest="command")
    commands.required = True
    setup = commands.add_parser("setup", help="find or create the env and make it the GUI's Python Home")
    add_setup_arguments(setup)
    setup.set_defaults(handler=command_setup)
    install = commands.add_parser("install-plugin", help="install the plugin from a Plugin Installer zip")
    install.add_argument("--zip", required=True, help="PythonProcessor-<os>_<version>-API10.zip")
    add_gui_arguments(install)
    install.set_defaults(handler=command_install_plugin)
    uninstall = commands.add_parser("uninstall-plugin", help="remove what install-plugin put into the GUI")
    add_gui_arguments(uninstall)
    uninstall.set_defaults(handler=command_uninstall_plugin)
    doctor = commands.add_parser("doctor", help="run the env's `oe-pyproc doctor`")
    doctor.add_argument("--env", dest="env_name", default=ENV_NAME)
    doctor.add_argument("--python-home")
    doctor.set_defaults(handler=command_doctor)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown and args.handler is not command_doctor:
        build_parser().parse_args(argv)  # reports the unknown options and exits 2
    args.passed_on = unknown  # doctor options for the env's oe-pyproc (--json, --script, --gui-dir)
    return args.handler(args)


def main_exit() -> None:
    sys.exit(main())
