"""Module parameters: the classes a module declares (Float, Int, ...), one instance's values and changes."""
from .common import declared_list, describe, is_number, plain


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
        if not (is_number(min) and is_number(max)) or min > max:
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
        if not is_number(value) or (self.number_type is int and float(value) != int(value)):
            raise self._refuse(what, given, self._allowed())
        number = self.number_type(value)
        if not self.min <= number <= self.max:
            raise self._refuse(what, given, self._allowed())
        return number

    def _allowed(self):
        unit = " " + self.unit if self.unit else ""
        return "%s from %s to %s%s" % ("a number" if self.number_type is float else "an integer",
                                       plain(self.min), plain(self.max), unit)

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
        if isinstance(value, bool) or (is_number(value) and value in (0, 1)):
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
        if isinstance(value, bool) or not is_number(value) or int(value) != value or value < 0 or (
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


def declared_parameters(processor_class):
    """The class's `parameters` list, checked: Parameter objects with distinct names."""
    return declared_list(processor_class, "parameters", Parameter, ParameterError, "parameter",
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
