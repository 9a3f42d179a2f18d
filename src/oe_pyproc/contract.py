"""Checks a PyProcessor script against the module contract, before the GUI sees it.

``check_script(path)`` reads the script with ``ast`` (nothing is imported) and
reports what would go wrong in the GUI: a missing class, signatures the engine
cannot call, methods whose misspelled names mean they are never called, and
``data = ...`` in ``process()`` (a new array that never reaches the chain). If
none of that fails, it runs the script through the real engine with
``pyproc-host`` on a short synthetic signal and reports an exception at the
deepest line of the user's file that raised it, the engine's warnings, or the
latency of a clean run.

Each static check is one small function ``(Script) -> Iterable[Finding]``,
listed in ``STATIC_CHECKS``: a new check is a function, an entry there and a test.
"""
from __future__ import annotations

import ast
import difflib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Union

CHECK_INPUT = "synthetic:channels=8,rate=30000,seconds=0.2,block=1024"
CHECK_TIMEOUT_S = 30

from .status import FAIL, MARKS, OK, WARN, exit_status  # noqa: F401  (exit_status is part of this API)


@dataclass
class Finding:
    status: str  # "ok" | "warn" | "fail"
    path: str
    line: Optional[int]  # 1-based; None when the finding is about the whole run
    message: str
    detail: Optional[str] = None


# The contract: parameters after self, and how the engine calls each method.
INIT_SIGNATURE = "__init__(self, processor, num_channels, sample_rate)"
PROCESS_SIGNATURE = "process(self, data)"
OPTIONAL_METHODS = {
    "start_acquisition": "start_acquisition(self)",
    "stop_acquisition": "stop_acquisition(self)",
    "start_recording": "start_recording(self, recording_dir)",
    "stop_recording": "stop_recording(self)",
    "handle_ttl_event": "handle_ttl_event(self, source_node, channel, sample_number, line, state)",
    "handle_spike": "handle_spike(self, source_node, electrode_name, num_channels, num_samples, "
                    "sample_number, sorted_id, spike_data)",
    "parameter_changed": "parameter_changed(self, name, value)",
}
CONTRACT_METHODS = {"__init__": INIT_SIGNATURE, "process": PROCESS_SIGNATURE, **OPTIONAL_METHODS}
ARGUMENT_COUNTS = {name: signature.count(",") for name, signature in CONTRACT_METHODS.items()}
SIMILARITY_CUTOFF = 0.75  # difflib ratio above which a method name reads as a misspelling
VIEW_METHODS = {"T", "reshape", "view", "transpose", "swapaxes", "squeeze", "ravel"}


@dataclass
class Script:
    """What the static checks look at."""

    path: str
    source: str
    tree: ast.Module

    @property
    def processor_class(self) -> Optional[ast.ClassDef]:
        found = None
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef) and node.name == "PyProcessor":
                found = node  # the last definition wins, as at import
        return found

    @property
    def binds_processor_otherwise(self) -> bool:
        """PyProcessor imported or assigned at top level: there is one, but not as a class statement here."""
        for node in self.tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if any((alias.asname or alias.name) == "PyProcessor" for alias in node.names):
                    return True
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any("PyProcessor" in _target_names(target) for target in targets):
                    return True
        return False

    def methods(self) -> dict:
        cls = self.processor_class
        found = {}
        if cls is not None:
            for node in cls.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[node.name] = node
        return found

    @property
    def has_bases(self) -> bool:
        """A base class may provide the methods; the static checks cannot see them."""
        cls = self.processor_class
        return bool(cls is not None and (cls.bases or cls.keywords))


# -- signatures ------------------------------------------------------------------

def _is_static(function: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def accepts_positional(function: ast.FunctionDef, count: int) -> bool:
    """Whether the method can be called with `count` positional arguments after self."""
    arguments = function.args
    positional = len(arguments.posonlyargs) + len(arguments.args) - (0 if _is_static(function) else 1)
    required = positional - len(arguments.defaults)
    if any(default is None for default in arguments.kw_defaults):
        return False  # a keyword-only argument without default: the engine never passes one
    return required <= count and (count <= positional or arguments.vararg is not None)


def _signature_text(function: ast.FunctionDef) -> str:
    return "%s(%s)" % (function.name, ast.unparse(function.args)) if hasattr(ast, "unparse") else function.name


def _method_findings(script: Script, name: str, note: str = "") -> Iterable[Finding]:
    """A fail when the method exists but cannot take the arguments the engine passes it."""
    method = script.methods().get(name)
    count = ARGUMENT_COUNTS[name]
    if method is None or accepts_positional(method, count):
        return
    call = ("the engine constructs PyProcessor(processor, num_channels, sample_rate)" if name == "__init__" else
            "the engine calls %s with %d argument%s" % (name, count, "" if count == 1 else "s"))
    yield Finding(FAIL, script.path, method.lineno, "def %s %s: %s; write def %s:"
                  % (_signature_text(method), note or "does not match how the engine calls it", call,
                     CONTRACT_METHODS[name]))


# -- the static checks --------------------------------------------------------------

def check_has_class(script: Script) -> Iterable[Finding]:
    """The engine loads the top-level class PyProcessor."""
    if script.processor_class is None and not script.binds_processor_otherwise:
        yield Finding(FAIL, script.path, 1, "%s defines no top-level class PyProcessor; the engine loads the "
                                            "class of that name" % os.path.basename(script.path))


def _required_method(script: Script, name: str, why: str, note: str = "") -> Iterable[Finding]:
    """A method the engine always calls: missing is a fail at the class, else its signature is checked."""
    cls = script.processor_class
    if cls is None:
        return
    if name not in script.methods():
        if not script.has_bases:  # a base class may define it: left to the run
            yield Finding(FAIL, script.path, cls.lineno,
                          "%s: write def %s:" % (why, CONTRACT_METHODS[name]))
        return
    yield from _method_findings(script, name, note)


def check_init_signature(script: Script) -> Iterable[Finding]:
    """__init__ takes (self, processor, num_channels, sample_rate)."""
    init = script.methods().get("__init__") if script.processor_class else None
    old_style = "is the 0.6-era signature, without processor" if init is not None and _parameter_names(
        init) == ["num_channels", "sample_rate"] else ""
    yield from _required_method(script, "__init__", "PyProcessor defines no __init__, but the engine constructs "
                                "it as PyProcessor(processor, num_channels, sample_rate)", old_style)


def check_process_exists(script: Script) -> Iterable[Finding]:
    """process(self, data) exists and takes the buffer."""
    yield from _required_method(script, "process",
                                "PyProcessor has no process method; the engine calls it for every buffer")


def check_optional_signatures(script: Script) -> Iterable[Finding]:
    """The optional methods that are defined take the arguments the engine passes."""
    for name in OPTIONAL_METHODS:
        yield from _method_findings(script, name, "")


def check_misspelled_methods(script: Script) -> Iterable[Finding]:
    """A method named almost like a contract method is never called (a warning)."""
    methods = script.methods()
    candidates = [name for name in CONTRACT_METHODS if name not in methods]
    for name, method in methods.items():
        if name in CONTRACT_METHODS or (name.startswith("_") and not _looks_like_init(name)):
            continue  # private helpers (and real dunders) are the user's own
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=SIMILARITY_CUTOFF)
        if close:
            yield Finding(WARN, script.path, method.lineno,
                          "%s will never be called; did you mean %s?" % (name, CONTRACT_METHODS[close[0]]))


def _looks_like_init(name: str) -> bool:
    """A dunder-ish name that is no real special method, e.g. __int__ is real, __inti__ is not."""
    return (name.startswith("__") and name.endswith("__") and name not in _KNOWN_DUNDERS
            and difflib.SequenceMatcher(None, name, "__init__").ratio() >= SIMILARITY_CUTOFF)


_KNOWN_DUNDERS = set(dir(object)) | set(dir(int)) | set(dir(list)) | set(dir(dict)) | {
    "__enter__", "__exit__", "__call__", "__del__", "__getattr__", "__post_init__", "__set_name__",
    "__iter__", "__next__", "__await__", "__aenter__", "__aexit__", "__array__", "__class_getitem__"}


def check_rebinding_data(script: Script) -> Iterable[Finding]:
    """`data = ...` in process() binds a new array the chain never sees (unless it is returned)."""
    process = script.methods().get("process")
    if process is None:
        return
    names = _parameter_names(process)
    if not names:
        return
    data = names[0]
    statements = sorted(_own_scope(process), key=lambda node: getattr(node, "lineno", 0))
    if any(isinstance(node, ast.Return) and isinstance(node.value, ast.Name) and node.value.id == data
           for node in statements):
        return  # `data = ...; return data` does reach the chain
    for node in statements:
        if _rebinds(node, data) and not _is_view_of(_assigned_value(node), data):
            yield Finding(FAIL, script.path, node.lineno,
                          "`%s = ...` in process() makes a new array that never reaches the chain: edit the "
                          "buffer in place (%s[:] = ..., %s *= ...) or return the new array"
                          % (data, data, data))


FRESH_DATA_FIX = ("add `fresh_data = True` to PyProcessor: each buffer is then a fresh C-contiguous array, "
                  "written back after process(), as the published plugin passed it")
SEND_METHODS = {"send", "sendall", "send_multipart", "sendto", "write"}


def _asks_for_fresh_data(cls: ast.ClassDef) -> bool:
    """`fresh_data = True` in the class body, or `self.fresh_data = True` in one of its methods."""
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is True:
            for target in node.targets:
                if (isinstance(target, ast.Name) and target.id == "fresh_data") or (
                        isinstance(target, ast.Attribute) and target.attr == "fresh_data"):
                    return True
    return False


def _contiguous_uses(node: ast.AST, data: str) -> Iterable[str]:
    """What, in `node`, needs `data` to be C-contiguous (or breaks silently when it is not)."""
    is_data = lambda value: isinstance(value, ast.Name) and value.id == data  # noqa: E731
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr == "shape" and is_data(target.value):
                yield "`%s.shape = ...` raises on a view with gaps between channels" % data
    elif isinstance(node, ast.Attribute) and node.attr == "ctypes" and is_data(node.value):
        yield "`%s.ctypes` hands C code a pointer that assumes no gaps between channels: it reads the wrong " \
              "samples" % data
    elif isinstance(node, ast.Call) and any(is_data(arg) for arg in node.args):
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name == "memoryview":
            yield "`memoryview(%s)` of a view with gaps cannot be cast or sent" % data
        elif name in SEND_METHODS:
            yield "`%s(%s)` sends the buffer protocol's view, which fails for an array with gaps" % (name, data)


def _contiguous_declarations(tree: ast.Module) -> Iterable[ast.AST]:
    """`::1` in a type: Cython's `float[:, ::1]` (pure-Python mode) or a numba signature string."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "::1]" in node.value.replace(" ", ""):
            yield node
        elif isinstance(node, ast.Slice) and node.lower is None and node.upper is None and \
                isinstance(node.step, ast.Constant) and node.step.value == 1:
            yield node


def check_contiguous_data(script: Script) -> Iterable[Finding]:
    """Code written for the published plugin's fresh C-contiguous arrays, which `data` in the GUI is not."""
    cls = script.processor_class
    process = script.methods().get("process")
    if cls is None or _asks_for_fresh_data(cls):
        return
    names = _parameter_names(process) if process is not None else []
    for node in (sorted(_own_scope(process), key=lambda n: getattr(n, "lineno", 0)) if names else []):
        for use in _contiguous_uses(node, names[0]):
            yield Finding(WARN, script.path, node.lineno, "%s: in the GUI `%s` is a view with gaps between "
                          "channels, not C-contiguous; %s" % (use, names[0], FRESH_DATA_FIX))
    for node in _contiguous_declarations(script.tree):
        yield Finding(WARN, script.path, node.lineno, "`::1` declares a C-contiguous array (Cython, numba): if "
                      "`data` reaches it, it fails in the GUI, where `data` is a view with gaps between "
                      "channels; %s" % FRESH_DATA_FIX)


PARAMETER_TYPES = ("Float", "Int", "Bool", "Choice", "String", "Channel")


def _declarations(cls: ast.ClassDef, attribute: str, in_init: bool) -> Optional[ast.AST]:
    """The value assigned to ATTRIBUTE in the class body, or else (IN_INIT) to self.ATTRIBUTE in __init__."""
    for node in cls.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attribute for t in node.targets):
            return node.value
    init = next((node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "__init__"
                 and in_init), None)
    for node in ast.walk(init) if init is not None else ():
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == attribute and
                                                isinstance(t.value, ast.Name) and t.value.id == "self"
                                                for t in node.targets):
            return node.value
    return None


def _declaration(call: ast.Call):
    """The parameter a literal declaration makes, built by the engine's own classes (their checks, their
    messages); None when its arguments are not literals (the run checks those)."""
    from oe_pyprocessor import _runtime

    try:
        args = [ast.literal_eval(arg) for arg in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except ValueError:
        return None
    name = call.func.id if isinstance(call.func, ast.Name) else call.func.attr
    return getattr(_runtime, name)(*args, **kwargs)


def _declaration_findings(script: Script, attribute: str, kinds: Sequence[str], noun: str, use: str,
                          in_init: bool) -> Iterable[Finding]:
    """A literal list of declarations (PyProcessor.ATTRIBUTE, or with IN_INIT self.ATTRIBUTE in __init__): each
    item a call of one of KINDS that the engine's own classes accept, each name once."""
    cls = script.processor_class
    declared = _declarations(cls, attribute, in_init) if cls is not None else None
    if not isinstance(declared, (ast.List, ast.Tuple)):
        return  # none, or built some other way (a comprehension per channel): the run checks it
    seen = {}
    for item in declared.elts:
        func = getattr(item, "func", None)
        kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if not isinstance(item, ast.Call) or kind not in kinds:
            yield Finding(FAIL, script.path, item.lineno, "`%s` holds %s%s" % (
                attribute, (ast.get_source_segment(script.source, item) or "?")[:60], use))
            continue
        try:
            made = _declaration(item)
        except Exception as error:  # the engine's refusal, or a TypeError for wrong arguments
            yield Finding(FAIL, script.path, item.lineno, "%s(...): %s" % (kind, error))
            continue
        if made is None:
            continue
        if made.name in seen:
            yield Finding(FAIL, script.path, item.lineno, "%s %r is declared twice (first at line %d)"
                          % (noun, made.name, seen[made.name]))
        seen.setdefault(made.name, item.lineno)


def check_parameter_declarations(script: Script) -> Iterable[Finding]:
    """PyProcessor.parameters (the class's: the engine reads them before __init__): known types, valid
    defaults and ranges, each name once."""
    return _declaration_findings(script, "parameters", PARAMETER_TYPES, "parameter",
                                 ", not a parameter: use oe_pyprocessor.%s" % ", ".join(PARAMETER_TYPES), False)


def check_derived_declarations(script: Script) -> Iterable[Finding]:
    """PyProcessor.derived_channels (in the class, or set in __init__): Derived(...) items the engine takes,
    each name once. Names of the stream's channels are refused by the run, which knows the stream."""
    return _declaration_findings(script, "derived_channels", ("Derived",), "derived channel",
                                 ": use oe_pyprocessor.Derived(name, unit=..., description=...)", True)


STATIC_CHECKS: List[Callable[[Script], Iterable[Finding]]] = [
    check_has_class,
    check_init_signature,
    check_process_exists,
    check_optional_signatures,
    check_misspelled_methods,
    check_rebinding_data,
    check_contiguous_data,
    check_parameter_declarations,
    check_derived_declarations,
]


# -- helpers for the data check ------------------------------------------------------

def _parameter_names(function: ast.FunctionDef) -> List[str]:
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    return names if _is_static(function) else names[1:]


def _own_scope(function: ast.FunctionDef) -> Iterable[ast.AST]:
    """The nodes of the function's body, without nested functions, lambdas and classes."""
    pending = list(function.body)
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                pending.append(child)


def _target_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _rebinds(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.Assign):
        return any(name in _target_names(target) for target in node.targets)
    if isinstance(node, ast.AnnAssign):
        return node.value is not None and name in _target_names(node.target)
    if isinstance(node, ast.NamedExpr):
        return name in _target_names(node.target)
    return False


def _assigned_value(node: ast.AST) -> Optional[ast.AST]:
    value = getattr(node, "value", None)
    if isinstance(node, ast.Assign) and not all(isinstance(t, ast.Name) for t in node.targets):
        return None  # unpacking: not a plain view
    return value


def _is_view_of(value: Optional[ast.AST], name: str) -> bool:
    """data[...], data.T, data.reshape(...): a view on the buffer, edits through it reach the chain."""
    if isinstance(value, ast.Subscript):
        return isinstance(value.value, ast.Name) and value.value.id == name
    if isinstance(value, ast.Call):
        value = value.func
    return (isinstance(value, ast.Attribute) and value.attr in VIEW_METHODS
            and isinstance(value.value, ast.Name) and value.value.id == name)


# -- the run through the engine ------------------------------------------------------

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')


def traceback_line(traceback_text: str, script_path: Union[str, os.PathLike]) -> Optional[int]:
    """The line of the deepest frame in `script_path` (None if the traceback never enters it)."""
    wanted = _same_file_key(script_path)
    line = None
    for text in traceback_text.splitlines():
        match = _FRAME.match(text)
        if match and _same_file_key(match.group("file")) == wanted:
            line = int(match.group("line"))
    return line


def _same_file_key(path: Union[str, os.PathLike]) -> str:
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def exception_text(error_text: str) -> str:
    """The exception's first line, after the traceback's frames (``IndexError: index 5 is out of bounds``)."""
    lines = error_text.splitlines()
    last_frame = max((i for i, text in enumerate(lines) if _FRAME.match(text)), default=-1)
    for text in lines[last_frame + 1:]:
        if text and not text[0].isspace() and not text.startswith("Error in "):
            return text
    meaningful = [text for text in lines if text.strip()]
    return meaningful[-1].strip() if meaningful else "an error"


def _where(error_text: str) -> str:
    match = re.match(r"Error in (.*?):\n", error_text)
    if not match:
        return "the module"
    where = match.group(1)
    return "loading the script" if where.startswith("loading ") else where


def _process_line(script: Optional[Script]) -> Optional[int]:
    method = script.methods().get("process") if script else None
    return method.lineno if method else None


def run_findings(path: str, python_home: Optional[Path], script: Optional[Script] = None,
                 echo: Optional[Callable[[str], None]] = None, host_flags: Sequence[str] = ()) -> List[Finding]:
    """Runs the script through pyproc-host on a short synthetic signal and turns the summary into findings."""
    from oe_pyproc.host import HostNotFound, current_python_home, host_command, run_host

    printed: List[str] = []

    def capture(line: str) -> None:
        printed.append(line)
        if echo:
            echo(line)

    try:
        command = host_command([path], python_home or current_python_home(), input_source=CHECK_INPUT,
                               extra=["--timeout", str(CHECK_TIMEOUT_S), *host_flags])
    except HostNotFound as error:
        return [Finding(WARN, path, None, "not run through the engine: %s" % error)]
    run = run_host(command, echo=capture)
    output = "\n".join(printed) or None
    if run.summary is None:
        line = _process_line(script) if run.returncode == 4 else None
        return [Finding(FAIL, path, line, "the engine could not run the script: %s" % run.reason, output)]
    instance = run.summary["instances"][0]
    findings = []
    if instance.get("state") in ("crashed", "stuck"):  # isolated: the worker died, or a call never returned
        error = instance.get("error") or instance["state"]
        at = re.findall(r'File "%s", line (\d+)' % re.escape(str(path)), error)
        findings.append(Finding(FAIL, path, int(at[0]) if at else None, error.splitlines()[0], error))
    elif instance.get("error"):
        error = instance["error"]
        findings.append(Finding(FAIL, path, traceback_line(error, path),
                                "%s raised %s" % (_where(error), exception_text(error)), error))
    for warning in filter(None, (instance.get("warnings") or "").splitlines()):
        line = _process_line(script) if warning.startswith("process()") else None
        findings.append(Finding(WARN, path, line, warning))
    if not findings and run.returncode == 0:
        stream = run.summary["input"]
        latency = instance.get("latency_us") or {}
        budget_us = 1e6 * 1024 / stream["sample_rate"] if stream.get("sample_rate") else 0
        findings.append(Finding(
            OK, path, None,
            "ran through the engine: %d buffers of %d channels, latency p99 %.0f µs (budget %.0f µs per buffer), "
            "%d events and %d spikes out" % (instance.get("calls", 0), stream["channels"], latency.get("p99", 0.0),
                                             budget_us, instance.get("events_out", 0),
                                             instance.get("spikes_out", 0)),
            "the module printed:\n" + output if output else None))
    elif not findings:
        findings.append(Finding(FAIL, path, None, "the engine run failed: %s" % run.reason, output))
    return findings


# -- the entry points ---------------------------------------------------------------

def parse_script(path: Union[str, os.PathLike]) -> Union[Script, Finding]:
    """The parsed script, or the fail finding that says why it does not parse."""
    text_path = os.fspath(path)
    try:
        source = Path(text_path).read_text(encoding="utf-8")
    except OSError as error:
        return Finding(FAIL, text_path, None, "cannot read the script: %s" % (error.strerror or error))
    except UnicodeDecodeError as error:
        return Finding(FAIL, text_path, 1, "the script is not UTF-8 text: %s" % error)
    try:
        tree = ast.parse(source, filename=text_path)
    except SyntaxError as error:
        return Finding(FAIL, text_path, error.lineno, "%s: %s" % (type(error).__name__, error.msg),
                       _syntax_detail(error))
    except ValueError as error:  # e.g. null bytes
        return Finding(FAIL, text_path, 1, "the script cannot be parsed: %s" % error)
    return Script(text_path, source, tree)


def _syntax_detail(error: SyntaxError) -> Optional[str]:
    if not error.text:
        return None
    text = error.text.rstrip("\n")
    caret = " " * max((error.offset or 1) - 1 - (len(text) - len(text.lstrip())), 0) + "^"
    return "%s\n%s" % (text.strip(), caret)


def static_findings(script: Script, checks: Sequence[Callable[[Script], Iterable[Finding]]] = None) -> List[Finding]:
    findings: List[Finding] = []
    for check in STATIC_CHECKS if checks is None else checks:
        findings.extend(check(script))
    return findings


def check_script(path: Union[str, os.PathLike], python_home: Optional[Path] = None, run: bool = True,
                 echo: Optional[Callable[[str], None]] = None, host_flags: Sequence[str] = ()) -> List[Finding]:
    """Static checks, then (with `run` and no fail) a short run through the real engine.

    `echo` receives each line the module prints during the run (by default it is only kept, in the
    detail of the ok finding); `host_flags` go to pyproc-host (--isolated)."""
    parsed = parse_script(path)
    if isinstance(parsed, Finding):
        return [parsed]
    findings = static_findings(parsed)
    findings.sort(key=lambda f: (f.line or 0))
    if run and not any(f.status == FAIL for f in findings):
        findings.extend(run_findings(parsed.path, python_home, parsed, echo, host_flags))
    return findings


def findings_as_json(findings: Iterable[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2, ensure_ascii=False)


def render(findings: Iterable[Finding], console) -> None:
    """One line per finding (``✗ path:line: message``), details indented below."""
    from rich.text import Text

    for finding in findings:
        mark, colour = MARKS.get(finding.status, ("?", "white"))
        where = finding.path if finding.line is None else "%s:%d" % (finding.path, finding.line)
        line = Text()
        line.append(mark + " ", style="bold " + colour)
        line.append(where + ": ", style="bold")
        line.append(finding.message)
        console.print(line, highlight=False, soft_wrap=True)
        if finding.detail:
            console.print(Text("\n".join("    " + text for text in finding.detail.splitlines()), style="dim"),
                          highlight=False, soft_wrap=True)
