"""Python side of the engine: loads user scripts by path and formats errors.

Compiled into the engine as the module `_oe_pyproc_runtime`, and imported as
`oe_pyproc.engine_runtime` by the stand-in's `load_module`, so both load
scripts the same way; only the standard library may be used here.
"""
import importlib
import importlib.util
import os
import sys
import traceback

FALLBACK_PREFIX = "oe_script_"

# The modules loaded from scripts, by the id of the instance (or stand-in load) that owns each:
# id -> module. One of those named like a script holds its name in sys.modules.
_loaded = {}


def script_module_name(path):
    """The published plugin's name for a script's module: the file's stem, so that pickle,
    multiprocessing's spawn and `import <stem>` from a helper find it. A stem that is not an
    identifier, or that names another importable module (signal.py, numpy.py), gets
    "oe_script_<stem>" instead: the script neither hides that module nor is hidden by it."""
    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem.isidentifier() and not _names_another_module(stem, path):
        return stem
    return FALLBACK_PREFIX + "".join(c if c.isalnum() or c == "_" else "_" for c in stem)


def _is_ours(module):
    return any(module is loaded for loaded in _loaded.values())


def _names_another_module(name, path):
    present = sys.modules.get(name)
    if present is not None:
        return not _is_ours(present)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return True
    origin = getattr(spec, "origin", None) if spec is not None else None
    return spec is not None and not (origin and os.path.normcase(os.path.abspath(origin)) == os.path.normcase(path))


def load_script(path, owner):
    """Executes the script at `path` as a fresh module owned by `owner` (an instance id); the module
    is in sys.modules under its name while it runs its code and after, until another load of that
    name or `unload(owner)`."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError("script not found: %s" % path)
    folder = os.path.dirname(path)
    # Appended, never prepended: helper modules beside the script import,
    # but a helper named like a stdlib module cannot hide the real one.
    if folder not in sys.path:
        sys.path.append(folder)
    name = script_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s as a Python module (is it a .py file?)" % path)
    module = importlib.util.module_from_spec(spec)
    unload(owner)
    _loaded[owner] = module
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        unload(owner)
        raise
    return module


def unload(owner):
    """Forgets `owner`'s module; its name passes to another loaded module of that name, if any."""
    module = _loaded.pop(owner, None)
    if module is None:
        return
    name = module.__name__
    if sys.modules.get(name) is module:
        del sys.modules[name]
        for other in _loaded.values():
            if other.__name__ == name:
                sys.modules[name] = other
                break


def _installed_folders():
    """Where installed packages live: never re-imported, even when an env sits
    inside the script's folder (project/.venv beside project/script.py)."""
    import site

    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    folders.update(getattr(site, "getsitepackages", lambda: [])())
    return tuple(os.path.normcase(os.path.abspath(f)) + os.sep for f in folders)


def _is_helper(module, folder, installed):
    location = getattr(module, "__file__", None)
    if not location or not location.endswith(".py"):  # extension modules cannot be loaded twice
        return False
    location = os.path.normcase(os.path.abspath(location))
    return location.startswith(folder) and not location.startswith(installed)


def forget_helpers(script_path):
    """Drops the Python modules imported from the script's folder, so that the
    next import re-executes them; other instances keep the objects they hold."""
    folder = os.path.normcase(os.path.dirname(os.path.abspath(script_path))) + os.sep
    installed = _installed_folders()
    for name, module in list(sys.modules.items()):
        if not _is_ours(module) and _is_helper(module, folder, installed):
            del sys.modules[name]
    importlib.invalidate_caches()


def format_exception(exc_type, exc_value, exc_traceback):
    """The traceback as Python prints it, without the engine's own frames."""
    return "".join(traceback.format_exception(exc_type, exc_value, exc_traceback)).rstrip()


def describe_result(value):
    """What process() returned, for the warning that it is ignored."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return "%s of shape %s" % (type(value).__name__, tuple(shape))
    return describe(value)


def describe(value):
    """Type and value, as an error message should name a bad argument."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s %s" % (type(value).__name__, text)


# -- module parameters -------------------------------------------------------------------------------
# A module declares them in its class: `parameters = [Float("threshold", -50.0, -500.0, 0.0, unit="uV")]`.
# The same classes are the embedded oe_pyprocessor's and the stand-in's.

RESERVED_NAMES = ("python_home", "script_path", "current_stream", "execution", "deadline_ms")  # the plugin's own parameters


class ParameterError(ValueError):
    """A value a parameter refuses, or a declaration that cannot be used; the message names both."""


class Parameter:
    """One setting of a module: a name, a default, a description; subclasses add the type's rules."""

    kind = "parameter"

    def __init__(self, name, default, description=""):
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ParameterError("a parameter name must be an identifier not starting with _, got %r" % (name,))
        if name in RESERVED_NAMES:
            raise ParameterError("parameter name %r is the plugin's own; choose another" % name)
        if not isinstance(description, str):
            raise ParameterError("%s: description must be a str, got %s" % (name, describe(description)))
        self.name = name
        self.description = description
        self.default = self.check(default, "default")

    def check(self, value, what="value", num_channels=None):
        """`value` as this parameter holds it, or ParameterError naming the parameter and what is allowed."""
        raise NotImplementedError

    def parse(self, text, num_channels=None):
        """A value given as text (`--param name=text`, a saved chain, the HTTP API)."""
        return self.check(text, "value", num_channels)

    def _refuse(self, what, value, allowed):
        return ParameterError("%s: %s %s is not allowed; %s" % (self.name, what, describe(value), allowed))

    def declaration(self):
        """What a host shows: type, default, description and the type's rules."""
        return {"name": self.name, "type": self.kind, "default": self.default, "description": self.description}

    def __repr__(self):
        return "%s(%r, default=%r)" % (type(self).__name__, self.name, self.default)


class _Number(Parameter):
    number_type = float

    def __init__(self, name, default, min, max, unit="", description=""):  # noqa: A002 (the natural names)
        if not (_is_number(min) and _is_number(max)) or min > max:
            raise ParameterError("%s: min and max must be numbers with min <= max, got %r and %r" % (name, min, max))
        self.min, self.max, self.unit = self.number_type(min), self.number_type(max), unit
        Parameter.__init__(self, name, default, description)

    def check(self, value, what="value", num_channels=None):
        given = value
        if isinstance(value, str):
            try:
                value = float(value) if self.number_type is float else int(value.strip())
            except ValueError:
                raise self._refuse(what, given, self._allowed()) from None
        if not _is_number(value) or (self.number_type is int and float(value) != int(value)):
            raise self._refuse(what, given, self._allowed())
        number = self.number_type(value)
        if not self.min <= number <= self.max:
            raise self._refuse(what, given, self._allowed())
        return number

    def _allowed(self):
        unit = " " + self.unit if self.unit else ""
        return "%s from %s to %s%s" % ("a number" if self.number_type is float else "an integer",
                                       _plain(self.min), _plain(self.max), unit)

    def declaration(self):
        return dict(Parameter.declaration(self), min=self.min, max=self.max, unit=self.unit)


class Float(_Number):
    """A number from `min` to `max`: Float("threshold", -50.0, -500.0, 0.0, unit="uV")."""

    kind = "float"


class Int(_Number):
    """An integer from `min` to `max`: Int("refractory_ms", 2, 0, 100, unit="ms")."""

    kind = "int"
    number_type = int


class Bool(Parameter):
    """On or off: Bool("enabled", True)."""

    kind = "bool"
    TEXTS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False, "no": False}

    def check(self, value, what="value", num_channels=None):
        if isinstance(value, str) and value.strip().lower() in self.TEXTS:
            return self.TEXTS[value.strip().lower()]
        if isinstance(value, bool) or (_is_number(value) and value in (0, 1)):
            return bool(value)
        raise self._refuse(what, value, "True or False")


class Choice(Parameter):
    """One of a list of strings: Choice("mode", ["rising", "falling"], "rising")."""

    kind = "choice"

    def __init__(self, name, options, default=None, description=""):
        if isinstance(options, str) or not options or not all(isinstance(o, str) for o in options):
            raise ParameterError("%s: options must be a list of strings, got %r" % (name, options))
        if len(set(options)) != len(options):
            raise ParameterError("%s: options repeat: %r" % (name, list(options)))
        self.options = list(options)
        Parameter.__init__(self, name, self.options[0] if default is None else default, description)

    def check(self, value, what="value", num_channels=None):
        if value not in self.options:
            raise self._refuse(what, value, "one of %s" % ", ".join(self.options))
        return value

    def declaration(self):
        return dict(Parameter.declaration(self), options=list(self.options))


class String(Parameter):
    """Free text: String("label", "")."""

    kind = "string"

    def check(self, value, what="value", num_channels=None):
        if not isinstance(value, str):
            raise self._refuse(what, value, "a str")
        return value


class Channel(Parameter):
    """A row of `data` (0 = the stream's first channel), shown by channel name in the GUI: Channel("channel", 0)."""

    kind = "channel"

    def check(self, value, what="value", num_channels=None):
        given = value
        allowed = "a channel index from 0" + (" to %d" % (num_channels - 1) if num_channels is not None else "")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise self._refuse(what, given, allowed) from None
        if isinstance(value, bool) or not _is_number(value) or int(value) != value or value < 0 or (
                num_channels is not None and value >= num_channels):
            raise self._refuse(what, given, allowed)
        return int(value)


class Parameters:
    """The current values (`processor.params`): `params.threshold` or `params["threshold"]`. Read-only:
    values change from outside (the GUI, the HTTP API, `--param-at`), between buffers."""

    def __init__(self, declared, values):
        object.__setattr__(self, "_declared", {p.name: p for p in declared})
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError("no parameter %r; declared: %s" % (name, ", ".join(self._values) or "none")) from None

    def __getitem__(self, name):
        if name not in self._values:
            raise KeyError("no parameter %r; declared: %s" % (name, ", ".join(self._values) or "none"))
        return self._values[name]

    def __setattr__(self, name, value):
        raise AttributeError("parameters are set from the GUI, the HTTP API or --param, not by the module")

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __contains__(self, name):
        return name in self._values

    def keys(self):
        return self._values.keys()

    def items(self):
        return self._values.items()

    def get(self, name, default=None):
        return self._values.get(name, default)

    def __repr__(self):
        return "Parameters(%s)" % ", ".join("%s=%r" % item for item in self._values.items())


# Public as oe_pyprocessor's (the embedded module and the stand-in): tracebacks and reprs say so.
for _public in (Parameter, Float, Int, Bool, Choice, String, Channel, Parameters, ParameterError):
    _public.__module__ = "oe_pyprocessor"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        hasattr(value, "dtype") and getattr(value, "shape", None) == () and value.dtype.kind in "iuf")


def _plain(number):
    return ("%g" % number) if isinstance(number, float) else str(number)


def _declared_list(owner, attribute, item_type, error, noun, what, use):
    """OWNER.ATTRIBUTE (None: []) as a list of ITEM_TYPE with distinct names, else ERROR in words."""
    declared = getattr(owner, attribute, None)
    if declared is None:
        return []
    if not isinstance(declared, (list, tuple)):
        raise error("PyProcessor.%s must be a list of %s, got %s" % (attribute, what, describe(declared)))
    seen = set()
    for item in declared:
        if not isinstance(item, item_type):
            raise error("PyProcessor.%s holds %s; use %s" % (attribute, describe(item), use))
        if item.name in seen:
            raise error("%s %r is declared twice" % (noun, item.name))
        seen.add(item.name)
    return list(declared)


def declared_parameters(processor_class):
    """The class's `parameters` list, checked: Parameter objects with distinct names."""
    return _declared_list(processor_class, "parameters", Parameter, ParameterError, "parameter",
                          "oe_pyprocessor parameters (Float, Int, Bool, Choice, String, Channel)",
                          "oe_pyprocessor.Float, Int, Bool, Choice, String or Channel")


class ParameterSet:
    """One instance's parameters: declarations, current values, and changes waiting for the next buffer."""

    def __init__(self, declared, given, num_channels):
        """`given`: name -> value or text (saved, --param, kept from before a reload); what does not fit
        is reported in `problems` and the default is used."""
        import threading

        self.declared = {p.name: p for p in declared}
        self.num_channels = num_channels
        self.problems = []  # what was not used, in words (the GUI shows them)
        self.refused = []   # of those, given values the declarations refuse (pyproc-host stops on them)
        self._lock = threading.Lock()  # requests come from the GUI's thread, changes apply on the audio thread
        values = {}
        for parameter in declared:
            values[parameter.name] = parameter.default
            if parameter.kind == "channel" and num_channels and parameter.default >= num_channels:
                values[parameter.name] = 0  # a default past this stream's channels: the first one
                self.problems.append("%s: default channel %d is not in this stream (channels 0 to %d); using 0"
                                     % (parameter.name, parameter.default, num_channels - 1))
            if parameter.name in given:
                try:
                    values[parameter.name] = self._parse(parameter, given[parameter.name])
                except ParameterError as error:
                    self.problems.append("%s; the default %r is used" % (error, values[parameter.name]))
                    self.refused.append(str(error))
        for name in given:
            if name not in self.declared:
                self.problems.append("a value was given for %r, which the module does not declare (declared: %s); "
                                     "it is ignored" % (name, ", ".join(self.declared) or "none"))
        self.params = Parameters(declared, values)
        self.pending = []

    def _parse(self, parameter, value):
        return parameter.parse(value, self.num_channels) if isinstance(value, str) else \
            parameter.check(value, "value", self.num_channels)

    def request(self, name, value):
        """Checks a change now (ParameterError if refused) and keeps it for the next buffer."""
        if name not in self.declared:
            raise ParameterError("no parameter %r; declared: %s" % (name, ", ".join(self.declared) or "none"))
        parsed = self._parse(self.declared[name], value)
        with self._lock:
            self.pending.append((name, parsed))

    def apply_pending(self):
        """The waiting changes, applied now: [(name, value)] for the module's parameter_changed()."""
        with self._lock:
            changes, self.pending = self.pending, []
        for name, value in changes:
            self.params._values[name] = value
        return changes

    def values(self):
        return dict(self.params._values)

    def as_json(self):
        import json

        return json.dumps({"parameters": [dict(p.declaration(), value=self.params._values[p.name])
                                          for p in self.declared.values()], "problems": self.problems,
                           "refused": self.refused})


# -- live values: processor.publish(name, value, x=None) -------------------------------------------------
# The engine copies the common cases (a float, a float32/float64 array without x) itself; every other
# value, and every refusal, comes through here, as in the stand-in.

KINDS = ("scalar", "curve", "image", "picture")
MAX_NAMES = 64
MAX_NAME_BYTES = 63
_ACCEPTED = ("a number (a strip chart), a 1-D array of numbers (a curve), a 2-D array of numbers (an image) or "
             "an (H, W, 3|4) uint8 RGB(A) picture")


def check_published_name(name):
    if not isinstance(name, str):
        raise TypeError("publish(): name must be a str, got %s" % describe(name))
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 0 < size <= MAX_NAME_BYTES or "\0" in name:
        raise ValueError("publish(): name must be 1-%d bytes of UTF-8 without NUL, got %r"
                         % (MAX_NAME_BYTES, name))
    return name


def published_value(name, value, x=None):
    """(kind, value) as the ring stores it, with x: a float for a scalar, a C-contiguous float32 array for a
    curve or an image, a uint8 (H, W, 4) array for a picture; raises naming the argument at fault."""
    import numpy as np

    check_published_name(name)
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError("publish(): value must be %s, got %s" % (_ACCEPTED, describe(value)))
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.dtype.kind not in "biuf" or array.size == 0:
        raise TypeError("publish(): value must be %s, got %s" % (_ACCEPTED, describe_result(value)))
    if array.ndim == 0:
        if x is not None:
            raise ValueError("publish(): x is for a curve (a 1-D value), but value is a scalar")
        return "scalar", float(array), None
    if array.ndim == 3 and array.dtype == np.uint8 and array.shape[2] in (3, 4):
        return "picture", _rgba(np.ascontiguousarray(array)), _no_x(x, "a picture")
    if array.ndim > 2:
        raise ValueError("publish(): value must be %s, got an array of shape %s (%s)"
                         % (_ACCEPTED, tuple(array.shape), array.dtype))
    values = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim == 2:
        return "image", values, _no_x(x, "an image")
    return "curve", values, _curve_x(x, len(values))


def _no_x(x, what):
    if x is not None:
        raise ValueError("publish(): x is for a curve (a 1-D value), but value is %s" % what)
    return None


def _curve_x(x, length):
    if x is None:
        return None
    import numpy as np

    try:
        xs = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError("publish(): x must be a 1-D array of numbers, got %s" % describe(x)) from None
    if xs.shape != (length,):
        raise ValueError("publish(): x must be 1-D with one number per value (%d), got shape %s"
                         % (length, tuple(xs.shape)))
    return xs


def _rgba(picture):
    import numpy as np

    if picture.shape[2] == 4:
        return picture
    alpha = np.full(picture.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.concatenate([picture, alpha], axis=2)


def kind_change_error(name, old_kind, new_kind):
    return TypeError("publish(): %r was published as a %s, so it cannot take a %s; use another name"
                     % (name, KINDS[old_kind] if isinstance(old_kind, int) else old_kind,
                        KINDS[new_kind] if isinstance(new_kind, int) else new_kind))


def too_many_names_error(name):
    return ValueError("publish(): %r would be name %d; an instance publishes at most %d names"
                      % (name, MAX_NAMES + 1, MAX_NAMES))


def too_large_error(name, size, limit):
    return ValueError("publish(): %r is %d bytes, more than the %d a frame may take (a quarter of the ring; "
                      "set OE_PYPROC_LIVE_MB to more than %g)" % (name, size, limit, 4.0 * size / 2 ** 20))


# -- derived channels: continuous channels a module adds to its stream (docs/derived.md) -------------------

MAX_DERIVED = 1024


class Derived:
    """A continuous channel the module adds to its stream, recorded with the data and shown in the GUI's
    viewers: Derived("theta_power", unit="uV^2", description="...", bit_volts=None). `bit_volts` is what one
    step of the Record Node's int16 is worth (default: the stream's first channel's)."""

    def __init__(self, name, unit="", description="", bit_volts=None):
        if not isinstance(name, str) or not name.strip() or "\0" in name or len(name.encode("utf-8", "replace")) > 255:
            raise ValueError("a derived channel's name must be a non-empty str of at most 255 bytes, got %s"
                             % describe(name))
        for field, value in (("unit", unit), ("description", description)):
            if not isinstance(value, str):
                raise TypeError("derived channel %r: %s must be a str, got %s" % (name, field, describe(value)))
        if bit_volts is not None and not (_is_number(bit_volts) and 0 < float(bit_volts) < float("inf")):
            raise ValueError("derived channel %r: bit_volts must be a positive number (what one int16 step of the "
                             "recording is worth), got %s" % (name, describe(bit_volts)))
        self.name, self.unit, self.description = name, unit, description
        self.bit_volts = None if bit_volts is None else float(bit_volts)

    def declaration(self, default_bit_volts):
        return {"name": self.name, "unit": self.unit, "description": self.description,
                "bit_volts": self.bit_volts if self.bit_volts is not None else default_bit_volts}

    def __repr__(self):
        return "Derived(%r, unit=%r)" % (self.name, self.unit)


def declared_derived(processor, channel_names=(), default_bit_volts=0.0):
    """The module's `derived_channels` (set in __init__, or the class's), checked against the stream's
    channel names: [{"name", "unit", "description", "bit_volts"}]; raises naming what cannot be used."""
    declared = _declared_list(processor, "derived_channels", Derived, ValueError, "derived channel",
                              "oe_pyprocessor.Derived", "oe_pyprocessor.Derived(name, unit=..., description=...)")
    if len(declared) > MAX_DERIVED:
        raise ValueError("PyProcessor.derived_channels declares %d channels; at most %d" % (len(declared), MAX_DERIVED))
    inputs = set(channel_names)
    for item in declared:
        if item.name in inputs:
            raise ValueError("derived channel %r has the name of one of the stream's channels; choose another"
                             % item.name)
    bit_volts = float(default_bit_volts) if default_bit_volts and default_bit_volts > 0 else 1.0
    return [item.declaration(bit_volts) for item in declared]


def derived_json(declarations):
    import json

    return json.dumps({"known": True, "channels": declarations})


class DerivedChannels:
    """`processor.derived`: each derived channel's samples for the current buffer, a writable float32 1-D
    array of the buffer's length, by name (`derived["theta"]`, `derived.theta`). Write into it
    (`derived["theta"][:] = values`) during process(); what is not written stays 0."""

    __slots__ = ("_arrays",)

    def __init__(self, names=()):
        import numpy as np

        empty = np.zeros(0, dtype=np.float32)
        object.__setattr__(self, "_arrays", {name: empty for name in names})

    def _unknown(self, name):
        return "no derived channel %r; declared: %s (PyProcessor.derived_channels)" % (
            name, ", ".join(self._arrays) or "none")

    def __getitem__(self, name):
        try:
            return self._arrays[name]
        except (KeyError, TypeError):
            raise KeyError(self._unknown(name)) from None

    def __getattr__(self, name):
        try:
            return self._arrays[name]
        except KeyError:
            raise AttributeError(self._unknown(name)) from None

    def __setitem__(self, name, value):
        raise TypeError("write into the derived channel's array: processor.derived[%r][:] = values" % (name,))

    def __setattr__(self, name, value):
        raise TypeError("write into the derived channel's array: processor.derived.%s[:] = values" % name)

    def __contains__(self, name):
        return name in self._arrays

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def keys(self):
        return self._arrays.keys()

    def items(self):
        return self._arrays.items()

    def __repr__(self):
        return "DerivedChannels(%s)" % ", ".join(self._arrays)


for _public in (Derived, DerivedChannels):
    _public.__module__ = "oe_pyprocessor"
