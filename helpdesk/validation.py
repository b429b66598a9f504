"""Checks every app applies at its edge to values that arrive as JSON or form data."""


def is_int(value):
    """A JSON integer: True and False are ints to Python, never to us."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_or_none(value):
    """An id from a request as an int, or None (which matches nothing) for anything else."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
