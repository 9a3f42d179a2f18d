"""processor.publish(name, value, x=None): what the engine's fast path leaves to Python, and every refusal."""
from .common import describe, describe_result


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
