"""Checks every app applies at its edge to values that arrive as JSON or form data."""

import json

from django.utils.translation import gettext_lazy as _

from helpdesk.errors import invalid

# Ids are 64-bit signed in every database we run on; a larger number must match nothing
# instead of reaching the driver (SQLite raises OverflowError: a 500).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def is_int(value):
    """A JSON integer that fits a 64-bit column: True and False are ints to Python, never to us."""
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX


def int_or_none(value):
    """An id from a request as an int, or None (which matches nothing) for anything else."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if INT64_MIN <= number <= INT64_MAX else None


def id_param(text):
    """A positive id written in a URL or form as ASCII digits ("42"), or None. Stricter than
    str.isdigit(), which also accepts "²" (int() then raises) and Arabic-Indic digits."""
    if not isinstance(text, str) or not (0 < len(text) <= 19) or not text.isascii() or not text.isdigit():
        return None
    return int_or_none(text)


def loads_json(text):
    """json.loads for request bodies and frames: malformed text, bytes that are not UTF-8 and
    nesting too deep for the parser (RecursionError) are one clear 400, never a 500."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise malformed_json() from None


def malformed_json():
    return invalid("malformed_json", _("The request body is not valid JSON."))

