"""Channel secrets at rest (AppSecret, EncodingAESKey): Fernet (AES-128-CBC + HMAC-SHA256) under a
key derived from CHANNEL_SECRETS_KEY, or from SECRET_KEY when that is empty. Changing the key
makes stored secrets unreadable: re-enter them."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet():
    material = settings.CHANNEL_SECRETS_KEY or f"channel-secrets:{settings.SECRET_KEY}"
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def encrypt(value):
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(stored):
    if not stored:
        return ""
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:
        return ""  # written under another key: treated as not set


def masked(value):
    """What the admin shows of a secret: enough to recognise it, never enough to use it."""
    return f"{value[:3]}…{value[-2:]}" if len(value) > 8 else ("•" * len(value))
