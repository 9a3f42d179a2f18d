"""The engine's Python half: what the engine asks Python to decide (loading a script, a parameter's value,
a published value's form, derived channels' declarations, and every refusal in words).

The engine compiles these files in (cpp/engine/CMakeLists.txt) as the package `_oe_pyproc_runtime`, and
the stand-in (`oe_pyprocessor`, `oe_pyprocessor.testing`) imports them as `oe_pyprocessor._runtime`: one
set of rules for both. Only the standard library is imported at load (numpy inside the functions that
need it), since the engine runs them before it knows numpy imports.
"""
from .calls import (API_DOCS, INT64_MAX, NOT_ACQUIRING, as_integer, as_state, check_electrode, ignored_return_warning,  # noqa: F401
                    in_range, line_outside_warning, waveform_array)
from .common import declared_list, describe, describe_result  # noqa: F401
from .derived import MAX_DERIVED, Derived, DerivedChannels, declared_derived, derived_json  # noqa: F401
from .parameters import (RESERVED_NAMES, Bool, Channel, Choice, Float, Int, Parameter, ParameterError,  # noqa: F401
                         Parameters, ParameterSet, String, declared_parameters)
from .publish import (KINDS, MAX_NAME_BYTES, MAX_NAMES, check_published_name, kind_change_error,  # noqa: F401
                      published_value, too_large_error, too_many_names_error)
from .scripts import FALLBACK_PREFIX, forget_helpers, format_exception, load_script, script_module_name, unload  # noqa: F401
