"""Finding 1 of issue 14: visitor tokens cannot be forged on a default install.

The default SECRET_KEY used to be a published string: with it anyone could sign a token naming a
sequential customer id and read that customer's conversations in any workspace."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from chat import identity
from chat.models import Customer
from conftest import send
from helpdesk import secret_key

pytestmark = pytest.mark.django_db

PUBLISHED_DEFAULT = "insecure-dev-key-change-me-for-any-real-deployment"
ROOT = Path(settings.BASE_DIR)


def read_conversations(token):
    return Client(HTTP_AUTHORIZATION=f"Customer {token}").get("/api/v1/conversations")


def test_a_token_forged_with_the_published_key_reads_nothing(personas):
    send(personas.other_visitor, "my address is 1 Secret Road")
    victim = Customer.objects.get(pk=personas.other_visitor.customer_id)
    for salt in ("chat.customer-token", identity.CUSTOMER_TOKEN_SALT):
        for name in (victim.pk, victim.public_id):
            forged = signing.dumps({"w": victim.workspace_id, "i": personas.other_inbox.pk, "c": name},
                                   key=PUBLISHED_DEFAULT, salt=salt, compress=True)
            answer = read_conversations(forged)
            assert answer.status_code == 401 and b"Secret Road" not in answer.content
    assert read_conversations(personas.other_visitor_token).status_code == 200  # the real token still works


def test_a_token_signed_with_the_installation_key_must_still_name_a_random_id(personas):
    """Even with SECRET_KEY leaked, sequential ids name nobody: tokens carry the 128-bit public id."""
    victim = Customer.objects.get(pk=personas.other_visitor.customer_id)
    by_pk = signing.dumps({"w": victim.workspace_id, "i": personas.other_inbox.pk, "c": victim.pk},
                          key=identity.visitor_token_key(), salt=identity.CUSTOMER_TOKEN_SALT, compress=True)
    assert read_conversations(by_pk).status_code == 401
    payload = signing.loads(personas.other_visitor_token, key=identity.visitor_token_key(), salt=identity.CUSTOMER_TOKEN_SALT)
    assert payload["c"] == victim.public_id and len(victim.public_id) >= 20 and str(victim.pk) != victim.public_id


def test_visitor_tokens_have_their_own_key(personas, settings):
    """A token is not signed with SECRET_KEY itself, and rotating the visitor key logs visitors out."""
    customer = Customer.objects.get(pk=personas.visitor.customer_id)
    with pytest.raises(signing.BadSignature):
        signing.loads(personas.visitor_token, salt=identity.CUSTOMER_TOKEN_SALT)
    settings.CHAT = {**settings.CHAT, "VISITOR_TOKEN_KEY": "rotated-visitor-token-key-0123456789"}
    assert read_conversations(personas.visitor_token).status_code == 401
    fresh = identity.make_customer_token(customer, personas.inbox_a)
    assert read_conversations(fresh).status_code == 200


def test_public_ids_are_random_and_unique(personas):
    ids = [Customer.objects.create(workspace=personas.workspace).public_id for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) >= 20 for i in ids)


def test_without_a_configured_key_one_is_generated_once_and_kept_private(tmp_path):
    path = tmp_path / "config" / "helpdesk" / "secret_key"
    first = secret_key.load({"SECRET_KEY_FILE": str(path)}, debug=False)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key.load({"SECRET_KEY_FILE": str(path)}, debug=False) == first  # every process, every restart
    assert len(first) >= 50 and not secret_key.weakness(first)
    other = secret_key.load({"SECRET_KEY_FILE": str(tmp_path / "elsewhere")}, debug=False)
    assert other != first  # another installation, another key
    assert secret_key.load({"SECRET_KEY": "from-the-environment-" * 3, "SECRET_KEY_FILE": str(path)}, debug=False).startswith("from-the")


def test_the_published_key_is_refused_unless_debug(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="published"):
        secret_key.load({"SECRET_KEY": PUBLISHED_DEFAULT}, debug=False)
    assert secret_key.load({"SECRET_KEY": PUBLISHED_DEFAULT}, debug=True) == PUBLISHED_DEFAULT


def test_the_server_refuses_to_start_with_the_published_key():
    """Through the real settings module, as `manage.py` or uvicorn would load it."""
    env = {**os.environ, "SECRET_KEY": PUBLISHED_DEFAULT, "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "helpdesk.settings"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "published development key" in result.stderr


def test_the_embedded_default_needs_no_configuration(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(SECRET_KEY_FILE=str(tmp_path / "key"), DEBUG="0", DJANGO_SETTINGS_MODULE="helpdesk.settings")
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (tmp_path / "key").read_text().strip()


def test_check_deploy_flags_a_published_or_weak_key(settings):
    for weak in (PUBLISHED_DEFAULT, "django-insecure-abc", "short"):
        settings.SECRET_KEY = weak
        with pytest.raises(SystemCheckError, match="helpdesk.E001"):
            call_command("check", "--deploy", "--fail-level", "ERROR")
