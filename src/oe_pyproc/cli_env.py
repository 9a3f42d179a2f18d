"""The env side of oe-pyproc: doctor, setup, install-plugin, uninstall-plugin."""
from __future__ import annotations

import argparse

from oe_bootstrap.cli import add_gui_arguments, add_setup_arguments, run_setup
from rich.console import Console

from .host import current_python_home
from .status import MARKS, exit_status


def add_commands(commands) -> None:
    doctor = commands.add_parser("doctor", help="diagnose the Python Home and the GUI side, with a fix for each problem")
    _home_options(doctor)
    doctor.add_argument("--script", help="also run this module through the real engine on a short synthetic stream")
    doctor.add_argument("--no-probe", action="store_true", help="read files only; do not start the env's python")
    doctor.add_argument("--json", action="store_true", help='print {"findings": [{"id", "status", ...}]}')
    doctor.set_defaults(handler=command_doctor)

    setup = commands.add_parser("setup", help="find or create the env, make it the GUI's Python Home, install the plugin")
    add_setup_arguments(setup)
    setup.set_defaults(handler=command_setup)

    install = commands.add_parser("install-plugin", help="install the plugin into the GUI, as its Plugin Installer does")
    source = install.add_mutually_exclusive_group()
    source.add_argument("--zip", help="a Plugin Installer zip, PythonProcessor-<os>_<version>-API10.zip")
    source.add_argument("--python-home", help="the env whose package carries the plugin (default: this one)")
    add_gui_arguments(install)
    install.set_defaults(handler=command_install_plugin)

    uninstall = commands.add_parser("uninstall-plugin", help="remove what install-plugin put into the GUI")
    add_gui_arguments(uninstall)
    uninstall.set_defaults(handler=command_uninstall_plugin)


def _home_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--python-home", help="the env folder (a conda env, a venv or an installation)")
    which.add_argument("--env", dest="env_name", help="a conda env by name")
    parser.add_argument("--gui-dir", help="the GUI's saved-state folder, or a plugin-GUI/Build folder "
                                          "(default: the GUI's own rules for this user)")


def rich_report(console: Console):
    def report(status: str, message: str) -> None:
        if status == "progress":
            console.print("    " + message, style="dim", highlight=False, soft_wrap=True, markup=False)
            return
        mark, colour = MARKS.get(status, ("·", "blue"))
        console.print(f"[bold {colour}]{mark}[/] ", end="", highlight=False)
        console.print(message, highlight=False, soft_wrap=True, markup=False)
    return report


def command_setup(args: argparse.Namespace, console: Console) -> int:
    return run_setup(args, rich_report(console))


def command_install_plugin(args: argparse.Namespace, console: Console) -> int:
    from oe_bootstrap.folders import gui_folders
    from oe_bootstrap.setup_home import install_from_env, install_from_zip

    gui = gui_folders(gui_dir=args.gui_dir)
    report = rich_report(console)
    if args.zip:
        return 0 if install_from_zip(args.zip, gui, args.port, report) else 1
    home = args.python_home or current_python_home()
    return 0 if install_from_env(str(home), gui, args.port, report, required=True) else 1


def command_uninstall_plugin(args: argparse.Namespace, console: Console) -> int:
    from oe_bootstrap.folders import gui_folders
    from oe_bootstrap.setup_home import uninstall

    return 0 if uninstall(gui_folders(gui_dir=args.gui_dir), args.port, rich_report(console)) else 1


def command_doctor(args: argparse.Namespace, console: Console) -> int:
    from .doctor import NoSuchEnv, build_context, run_doctor
    from .doctor.findings import as_json, render

    try:
        context = build_context(args.python_home, args.env_name, args.gui_dir, args.script,
                                run_probe=not args.no_probe)
    except NoSuchEnv as error:
        console.print(f"[red]✗[/] {error}", highlight=False, soft_wrap=True)
        return 1
    findings = run_doctor(context)
    if args.json:
        print(as_json(findings))
    else:
        render(findings, console)
    return exit_status(findings)
