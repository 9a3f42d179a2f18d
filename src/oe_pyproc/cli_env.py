"""The env side of oe-pyproc: doctor, setup, install-plugin, uninstall-plugin."""
from __future__ import annotations

import argparse

from rich.console import Console

from .status import exit_status


def add_commands(commands) -> None:
    doctor = commands.add_parser("doctor", help="diagnose the Python Home and the GUI side, with a fix for each problem")
    _home_options(doctor)
    doctor.add_argument("--script", help="also run this module through the real engine on a short synthetic stream")
    doctor.add_argument("--no-probe", action="store_true", help="read files only; do not start the env's python")
    doctor.add_argument("--json", action="store_true", help='print {"findings": [{"id", "status", ...}]}')
    doctor.set_defaults(handler=command_doctor)


def _home_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--python-home", help="the env folder (a conda env, a venv or an installation)")
    which.add_argument("--env", dest="env_name", help="a conda env by name")
    parser.add_argument("--gui-dir", help="the GUI's saved-state folder, or a plugin-GUI/Build folder "
                                          "(default: the GUI's own rules for this user)")


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
