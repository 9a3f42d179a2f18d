"""What every part of the runtime says alike: how a bad value is named, and how a declared list is checked."""


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


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        hasattr(value, "dtype") and getattr(value, "shape", None) == () and value.dtype.kind in "iuf")


def plain(number):
    return ("%g" % number) if isinstance(number, float) else str(number)


def declared_list(owner, attribute, item_type, error, noun, what, use):
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
