"""Whether a stored login session still holds, read from the session store alone.

A WebSocket keeps the session it was opened with for hours; HTTP re-reads the session on every
request. The agent socket asks this module (on resync, on a revocation and every few minutes)
so that it ends when HTTP would: logout, another password, a deactivated user, a lost second
factor."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare

from .security import is_session_verified


def session_user(session_key):
    """The user the stored session `session_key` still logs in, or None.

    The rule of django.contrib.auth.get_user (the session exists and has not expired, names a
    configured backend, whose get_user refuses inactive users, and its auth hash matches the
    user's current password, or a SECRET_KEY_FALLBACKS hash of it), plus the two-factor rule
    (accounts.security.is_session_verified). Read-only: unlike get_user it never flushes or
    cycles the session, which belongs to the browser. Runs queries: call it off the event loop."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = get_user_model()._meta.pk.to_python(store[SESSION_KEY])
        backend_path = store[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):  # gone, expired, or not a login session
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None or not hasattr(user, "get_session_auth_hash"):
        return None
    session_hash = store.get(HASH_SESSION_KEY)
    if not session_hash:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, candidate) for candidate in hashes):
        return None
    return user if is_session_verified(user, store) else None
