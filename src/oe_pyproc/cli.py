"""The oe-pyproc command line."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from oe_pyproc import __version__
from oe_pyproc.cli_env import add_commands as add_env_commands
from oe_pyproc.host import HostNotFound, current_python_home, host_command, run_host

DEFAULT_INPUT = "synthetic:channels=384,rate=30000,seconds=2,block=1024"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oe-pyproc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"oe-pyproc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a PyProcessor module through the real engine, no GUI needed")
    run.add_argument("script", help="the module (a .py file defining class PyProcessor)")
    run.add_argument("--input", default=DEFAULT_INPUT,
                     help=f"synthetic:channels=C,rate=HZ,seconds=S,block=B[,seed=N] or a recording folder "
                          f"(default {DEFAULT_INPUT})")
    run.add_argument("--output", help="write an Open Ephys binary recording into this (new) folder, and what the "
                                      "module publishes into its published/ folder")
    run.add_argument("--python-home", type=Path, default=None,
                     help="the env to run in (default: the one running this command)")
    run.add_argument("--instances", type=int, default=1, help="instances of the module in series")
    run.add_argument("--plot", type=Path, help="draw input against output (a few channels, events marked) and what "
                                               "the module published to a PNG")
    run.add_argument("--view", action="store_true",
                     help="run at real time, with the live viewer open (oe-pyproc view --open)")
    run.add_argument("--json", action="store_true", help="print the host's JSON summary")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a value of one of the module's parameters (repeatable)")
    add_mode_flags(run)
    run.set_defaults(handler=command_run)

    new = commands.add_parser("new", help="write a new module from a template")
    new.add_argument("name", help="module name (NAME.py is written in the current folder)")
    new.add_argument("--template", default="processor_template",
                     help="processor_template (default), bandpass_filter, threshold_detector, spike_example, "
                          "trial_events")
    new.set_defaults(handler=command_new)

    check = commands.add_parser("check", help="check a module against the contract, by reading it and by a short run")
    check.add_argument("script")
    check.add_argument("--python-home", type=Path, default=None)
    check.add_argument("--no-run", action="store_true", help="only read the script, do not run it")
    check.add_argument("--json", action="store_true")
    add_mode_flags(check)
    check.set_defaults(handler=command_check)

    bench = commands.add_parser("bench", help="a module's latency per buffer against the real-time budget")
    bench.add_argument("script")
    bench.add_argument("--channels", type=int, default=384)
    bench.add_argument("--rate", type=float, default=30000.0)
    bench.add_argument("--block", type=int, default=1024, help="samples per buffer")
    bench.add_argument("--blocks", type=int, default=300, help="buffers per measurement")
    bench.add_argument("--python-home", type=Path, default=None)
    bench.add_argument("--plot", type=Path, default=Path("bench_latency.png"), help="histogram PNG")
    bench.add_argument("--no-search", action="store_true", help="skip the search for the largest channel count")
    bench.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="a value of one of the module's parameters (repeatable)")
    add_mode_flags(bench)
    bench.set_defaults(handler=command_bench)
    add_env_commands(commands)

    view = commands.add_parser("view", help="plot what modules publish, live, in the browser")
    view.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                      help="the address to listen on (default %(default)s: this machine only)")
    view.add_argument("--port", type=int, default=5077, help="(default %(default)s)")
    view.add_argument("--open", action="store_true",
                      help="open the page in the browser (only that, when a viewer is already running)")
    view.add_argument("--stop", action="store_true", help="stop the viewer that is running")
    view.set_defaults(handler=command_view)

    package = commands.add_parser("package", help="write the Plugin Installer zip, "
                                                   "PythonProcessor-<os>_<version>-API10.zip")
    package.add_argument("--plugin", required=True, help="the built plugin (python-processor.so, .dll or .bundle)")
    package.add_argument("--engine", action="append", default=[], metavar="FILE",
                         help="an engine to include, once per Python version (default: the engines installed "
                              "with oe_pyproc)")
    package.add_argument("--os", choices=["linux", "windows", "mac"], help="the zip's platform (default: this one)")
    package.add_argument("--version", dest="package_version", default=__version__,
                         help="the plugin version in the zip name (default: %(default)s)")
    package.add_argument("--output-dir", default="dist", help="where to write the zip (default: %(default)s)")
    package.set_defaults(handler=command_package)
    return parser


def command_package(args: argparse.Namespace, console: Console) -> int:
    from oe_bootstrap.folders import current_system
    from oe_bootstrap.plugins import ZIP_OS
    from oe_pyproc.package import PackageError, bundled_engines, write_plugin_zip, zip_entries

    system = next((name for name, label in ZIP_OS.items() if label == args.os), None) or current_system()
    engines = [Path(engine) for engine in args.engine] or bundled_engines(system)
    try:
        target = write_plugin_zip(Path(args.plugin), engines, Path(args.output_dir), system, args.package_version)
    except (PackageError, OSError) as error:  # OSError: e.g. an output folder we may not write
        console.print("[red]✗[/] ", end="")
        console.print(str(error), highlight=False, soft_wrap=True, markup=False)
        return 1
    console.print(f"[green]✓[/] wrote {target}", highlight=False, soft_wrap=True)
    for name, _ in zip_entries(Path(args.plugin), engines, system):
        console.print(f"    {name}", highlight=False, markup=False)
    console.print(f"install it with: oe-pyproc install-plugin --zip {target}", highlight=False, soft_wrap=True)
    return 0


def command_view(args: argparse.Namespace, console: Console) -> int:
    if args.stop:
        from oe_pyproc.live import stop_viewer

        pid = stop_viewer()
        console.print(f"stopped the viewer (pid {pid})" if pid else "no viewer is running", highlight=False)
        return 0
    try:
        from oe_pyproc.viewer import ViewerError, serve
    except ImportError as error:
        console.print(f"[red]✗[/] the viewer needs Bokeh 3.4+ (Python 3.9+): `pip install bokeh` ({error})",
                      highlight=False, soft_wrap=True)
        return 1

    try:
        return serve(args.bind, args.port, args.open,
                     say=lambda line: console.print(line, highlight=False, soft_wrap=True, markup=False))
    except ViewerError as error:
        console.print("[red]✗[/] ", end="")
        console.print(str(error), highlight=False, soft_wrap=True, markup=False)
        return 1


def latency_table(summary: dict) -> Table:
    isolated = summary.get("mode") == "isolated"
    table = Table(title=f"Python {summary['python_version']} ({summary['python_home_kind']}: {summary['python_home']}), "
                        f"{summary.get('mode', 'in-process')}")
    columns = ("node", "state", "calls", "p50 µs", "p99 µs", "max µs", "over budget", *(("late",) if isolated else ()),
               "events", "spikes")
    for column in columns:
        table.add_column(column, justify="right" if column not in ("state",) else "left")
    for instance in summary["instances"]:
        latency = instance["latency_us"] or {}  # null when process() was never called
        state = "[green]ready" if instance["state"] == "ready" else f"[red]{instance['state']}"
        table.add_row(str(instance["node_id"]), state, str(instance["calls"]),
                      *(f"{latency[key]:.1f}" if key in latency else "-" for key in ("p50", "p99", "max")),
                      str(instance["overruns"]), *((str(instance.get("late", 0)),) if isolated else ()),
                      str(instance["events_out"]), str(instance["spikes_out"]))
    return table


def add_mode_flags(parser: argparse.ArgumentParser) -> None:
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--isolated", dest="mode", action="store_const", const="--isolated",
                       help="run the module in a worker process of its own, as the GUI does by default")
    modes.add_argument("--in-process", dest="mode", action="store_const", const="--in-process",
                       help="run the module in the host's process, without copies (the default here)")


def param_flags(params, mode=None) -> list:
    """--param NAME=VALUE for pyproc-host, once per value, and the mode's flag if one was given."""
    return [flag for param in params for flag in ("--param", param)] + ([mode] if mode else [])


def command_run(args: argparse.Namespace, console: Console) -> int:
    if args.plot and not args.output and not args.json:  # the plot reads a recording: one in a scratch folder
        with tempfile.TemporaryDirectory(prefix="oe-pyproc-run-") as scratch:
            return command_run(argparse.Namespace(**{**vars(args), "output": str(Path(scratch) / "out"),
                                                     "output_is_scratch": True}), console)
    python_home = args.python_home or current_python_home()
    extra = param_flags(args.param, args.mode)
    if args.view:
        extra.append("--realtime")
        open_viewer(Console(stderr=True) if args.json else console)  # --json: stdout is the summary's
    command = host_command([args.script], python_home, input_source=args.input, output=args.output,
                           instances=args.instances, extra=extra)
    if args.json:
        result = run_host(command)
    else:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task(Path(args.script).name, total=None)
            result = run_host(command, on_progress=lambda done, total: progress.update(task, completed=done,
                                                                                      total=total),
                              echo=lambda line: progress.console.print(line, markup=False, highlight=False))
    if result.summary is None:
        console.print(f"[red]✗[/] {result.reason}", highlight=False, soft_wrap=True)
        return result.returncode or 1
    if args.json:
        print(__import__("json").dumps(result.summary, indent=2))
        return result.returncode
    stream = result.summary["input"]
    console.print(f"{stream['channels']} channels at {stream['sample_rate']:g} Hz, {stream['samples']} samples "
                  f"in {stream['blocks']} blocks", highlight=False)
    console.print(latency_table(result.summary))
    for instance in result.summary["instances"]:
        if instance.get("derived"):
            console.print(f"node {instance['node_id']} adds derived channels: " + ", ".join(
                channel["name"] + (f" ({channel['unit']})" if channel["unit"] else "") for channel in instance["derived"]),
                highlight=False, soft_wrap=True)
        if instance["warnings"]:
            console.print(f"[yellow]![/] node {instance['node_id']}: {instance['warnings']}", highlight=False)
        if instance["error"]:  # the traceback or the stacks may hold brackets: printed without markup
            console.print(f"[red]✗[/] node {instance['node_id']} {instance['state']}:", highlight=False)
            console.print(instance["error"], highlight=False, markup=False)
    if result.summary["output"] and not getattr(args, "output_is_scratch", False):
        console.print(f"recording written to {args.output} (open it with open_ephys.analysis.Session)",
                      highlight=False)
        for instance in result.summary["instances"]:
            if instance.get("published_dir"):
                console.print(f"node {instance['node_id']} published {len(instance['published'])} names into "
                              f"{instance['published_dir']}", highlight=False, soft_wrap=True)
    if args.plot:
        plot_output(args, python_home, console)
    return result.returncode


def open_viewer(console: Console) -> None:
    """`oe-pyproc view --open` before a run: the running viewer opened, or a new one started (it outlives the run)."""
    # The viewer is a server that outlives the run, so it runs in a process of its own.
    from oe_pyproc.host import ViewerNotStarted, start_viewer

    try:
        url = start_viewer()
    except ViewerNotStarted as problem:
        console.print("[yellow]![/] ", end="")
        console.print(f"{problem}; the run goes on without it", highlight=False, soft_wrap=True, markup=False)
        return
    console.print(f"live viewer: {url} (it keeps running after the run; `oe-pyproc view --stop` stops it)",
                  highlight=False, soft_wrap=True)


def plot_output(args: argparse.Namespace, python_home: Path, console: Console) -> None:
    from oe_pyproc.plot import PlotError, plot_run

    try:
        plot_run(args.input, Path(args.output), python_home, args.plot, title=Path(args.script).name)
    except PlotError as error:
        console.print(f"[yellow]![/] no plot: {error}", highlight=False, soft_wrap=True)
        return
    console.print(f"plot written to {args.plot}", highlight=False)


def command_new(args: argparse.Namespace, console: Console) -> int:
    from oe_pyproc.templates import TemplateError, new_module

    try:
        path = new_module(args.name, args.template)
    except TemplateError as error:
        console.print(f"[red]✗[/] {error}", highlight=False, soft_wrap=True)
        return 2
    console.print(f"[green]✓[/] wrote {path} from {args.template}; next: oe-pyproc check {path}", highlight=False)
    return 0


def command_check(args: argparse.Namespace, console: Console) -> int:
    from oe_pyproc.contract import check_script, exit_status, findings_as_json, render

    findings = check_script(Path(args.script), args.python_home, run=not args.no_run,
                            host_flags=[args.mode] if args.mode else [])
    if args.json:
        print(findings_as_json(findings))
    else:
        render(findings, console)
    return exit_status(findings)


def command_bench(args: argparse.Namespace, console: Console) -> int:
    from oe_pyproc.bench import BenchError, budget_lines, largest_fitting, measure, plot_histogram

    python_home = args.python_home or current_python_home()
    script = Path(args.script)
    try:
        with console.status(f"measuring {script.name} at {args.channels} channels"):
            run = measure(script, python_home, args.channels, args.rate, args.block, args.blocks,
                          param_flags(args.param, args.mode))
        for line in budget_lines([run]):
            console.print(line, highlight=False)
        verdict = "[green]fits[/]" if run.fits else "[red]does not fit[/]"
        console.print(f"p99 {verdict} the {run.budget_us:.0f} µs budget of one {args.block}-sample buffer "
                      f"at {args.rate:g} Hz; {int((run.latencies_us > run.budget_us).sum())} of "
                      f"{len(run.latencies_us)} buffers over budget")
        try:
            plot_histogram(run, script, args.plot)
            console.print(f"histogram written to {args.plot}", highlight=False)
        except ImportError:
            console.print("[yellow]![/] no histogram: pip install matplotlib")
        if not args.no_search:
            with console.status("searching the largest channel count that fits"):
                best = largest_fitting(script, python_home, args.rate, args.block, min(args.blocks, 60), start=16,
                                       extra=param_flags(args.param, args.mode))
            if best is None:
                console.print("[red]✗[/] not even 16 channels fit the budget on this machine")
            else:
                console.print(f"largest channel count that fits (p99 within budget) on this machine: "
                              f"[bold]{best.channels}[/]", highlight=False)
    except BenchError as error:
        console.print("[red]✗[/] ", end="")
        console.print(str(error), highlight=False, soft_wrap=True, markup=False)
        return 1
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        return args.handler(args, console)
    except HostNotFound as error:
        console.print(f"[red]✗[/] {error}", highlight=False, soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
