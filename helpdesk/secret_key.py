"""Where SECRET_KEY comes from, so that the embedded default is safe without configuration.

SECRET_KEY (environment) wins. Otherwise a random key is generated on first run and kept in a
file outside the repository (SECRET_KEY_FILE, default ~/.config/helpdesk/secret_key, mode 0600),
so every process and restart of this installation signs with the same key and nobody else's.
The development key once shipped as the default is public: with DEBUG off it is refused."""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Keys that were ever published (an old default of this project, Django's template prefix).
KNOWN_PUBLIC_KEYS = frozenset({"insecure-dev-key-change-me-for-any-real-deployment"})
PUBLIC_KEY_PREFIXES = ("django-insecure-", "insecure-dev-key")
MIN_LENGTH = 32


def default_file():
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "helpdesk" / "secret_key"


def is_public(key):
    return key in KNOWN_PUBLIC_KEYS or key.startswith(PUBLIC_KEY_PREFIXES)


def weakness(key):
    """Why a key must not sign anything in production, or "" when it may."""
    if is_public(key):
        return "SECRET_KEY is a published development key"
    if len(key) < MIN_LENGTH or len(set(key)) < 5:
        return f"SECRET_KEY is shorter than {MIN_LENGTH} characters or too repetitive"
    return ""


def read_or_create(path):
    """The key stored at `path`, created (0600, atomically: two processes starting at once agree) if absent."""
    path = Path(path)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(tmp, path)  # fails if another process created it first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new key generated, or set SECRET_KEY.")
    return key


def load(environ, debug):
    """SECRET_KEY for the settings: from the environment, else from the key file."""
    key = environ.get("SECRET_KEY", "").strip()
    if not key:
        path = environ.get("SECRET_KEY_FILE") or default_file()
        try:
            key = read_or_create(path)
        except OSError as exc:
            raise ImproperlyConfigured(f"Cannot read or create the key file {path} ({exc}): set SECRET_KEY or SECRET_KEY_FILE.") from exc
    if is_public(key) and not debug:
        raise ImproperlyConfigured(
            "SECRET_KEY is a published development key: anyone could forge sessions and visitor tokens. "
            "Unset it (a random key is generated and kept in SECRET_KEY_FILE) or set a secret one."
        )
    return key
