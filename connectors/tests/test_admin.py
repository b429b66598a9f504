"""The channel account admin: scoped to the owner's workspaces, secrets write-only, the callback
URL shown to paste into WeChat's back office."""

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from chat.models import Inbox
from conftest import make_agent, make_inbox, make_workspace, verified_client
from connectors import secrets
from connectors.models import ChannelAccount

pytestmark = pytest.mark.django_db

SECRET = "0123456789abcdef0123456789abcdef"
AES = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def account(workspace, kind=Inbox.Kind.WECHAT_OA, **fields):
    inbox = make_inbox(workspace, kind=kind, name=fields.pop("name", "WeChat inbox"))
    acc = ChannelAccount(inbox=inbox, app_id="wx5823bf96d3bd56c7", token="QDG6eK", **fields)
    acc.app_secret = SECRET
    acc.aes_key = AES
    acc.save()
    return acc


def form_data(acc, **changes):
    data = {"app_id": acc.app_id, "app_secret": "", "token": acc.token, "aes_key": "", "mode": acc.mode, "open_kfid": acc.open_kfid,
            "reply_window_hours": acc.reply_window_hours, "replies_per_message": acc.replies_per_message, "welcome_on_subscribe": "on"}
    data.update(changes)
    return data


@pytest.fixture
def owner():
    workspace = make_workspace("Shop A")
    user, _ = make_agent(workspace, role=Role.FOUNDER, username="owner_a")
    return workspace, user, verified_client(user)


def test_the_page_never_shows_the_secret_and_shows_the_callback_url(owner):
    workspace, _user, client = owner
    acc = account(workspace)
    html = client.get(reverse("admin:connectors_channelaccount_change", args=[acc.pk])).content.decode()
    assert SECRET not in html and AES not in html and acc.app_secret_encrypted not in html
    assert secrets.masked(SECRET) in html  # recognisable, not usable
    assert f"/channels/wechat/{acc.inbox.public_key}/" in html and "http://testserver/channels/wechat/" in html
    listing = client.get(reverse("admin:connectors_channelaccount_changelist")).content.decode()
    assert SECRET not in listing and acc.inbox.name in listing


def test_an_empty_secret_field_keeps_the_stored_secret(owner):
    workspace, _user, client = owner
    acc = account(workspace)
    response = client.post(reverse("admin:connectors_channelaccount_change", args=[acc.pk]), form_data(acc, token="NewToken1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    acc.refresh_from_db()
    assert acc.token == "NewToken1" and acc.app_secret == SECRET and acc.aes_key == AES
    audit = AuditLog.objects.filter(action="channel_account.change").get()
    assert audit.after == {"token": "NewToken1"}


def test_a_typed_secret_replaces_it_and_the_audit_log_never_holds_it(owner):
    workspace, _user, client = owner
    acc = account(workspace)
    new_secret, new_key = "fedcba9876543210fedcba9876543210", "a" * 43
    response = client.post(reverse("admin:connectors_channelaccount_change", args=[acc.pk]),
                           form_data(acc, app_secret=new_secret, aes_key=new_key))
    assert response.status_code == 302
    acc.refresh_from_db()
    assert acc.app_secret == new_secret and acc.aes_key == new_key
    rows = list(AuditLog.objects.filter(action="channel_account.change").values_list("before", "after"))
    assert rows and new_secret not in str(rows) and new_key not in str(rows) and SECRET not in str(rows)


def test_add_needs_the_secrets_and_checks_what_wechat_would_refuse(owner):
    workspace, _user, client = owner
    inbox = make_inbox(workspace, kind=Inbox.Kind.WECHAT_OA, name="Official account")
    url = reverse("admin:connectors_channelaccount_add")
    data = {"inbox": inbox.pk, "app_id": "wx5823bf96d3bd56c7", "app_secret": "", "token": "QDG6eK", "aes_key": "too-short",
            "mode": "safe", "open_kfid": "", "reply_window_hours": 48, "replies_per_message": 5}
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors.as_data()
    assert {e.code for e in errors["app_secret"]} == {"required"}
    assert {e.code for e in errors["aes_key"]} == {"aes_key"}
    response = client.post(url, {**data, "app_secret": SECRET, "aes_key": AES})
    assert response.status_code == 302
    stored = ChannelAccount.objects.get(inbox=inbox)
    assert stored.app_secret == SECRET and stored.aes_key == AES and SECRET not in stored.app_secret_encrypted


def test_field_errors_speak_the_users_language(owner):
    workspace, _user, client = owner
    acc = account(workspace)
    client.cookies["django_language"] = "zh-hans"
    response = client.post(reverse("admin:connectors_channelaccount_change", args=[acc.pk]), form_data(acc, aes_key="x" * 42),
                           HTTP_ACCEPT_LANGUAGE="zh-hans")
    form = response.context["adminform"].form
    assert [e.code for e in form.errors.as_data()["aes_key"]] == ["aes_key"]
    assert response.context["LANGUAGE_CODE"] == "zh-hans"  # messages are gettext: shown in Chinese once translated


def test_wecom_needs_safe_mode_and_the_kf_account(owner):
    workspace, _user, client = owner
    acc = account(workspace, kind=Inbox.Kind.WECOM_KF, open_kfid="wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw")
    response = client.post(reverse("admin:connectors_channelaccount_change", args=[acc.pk]), form_data(acc, mode="plain", open_kfid=""))
    errors = response.context["adminform"].form.errors.as_data()
    assert "mode" in errors and "open_kfid" in errors


def test_only_wechat_inboxes_of_the_users_workspaces_are_offered(owner):
    workspace, _user, client = owner
    web = make_inbox(workspace, name="Website")
    mine = make_inbox(workspace, kind=Inbox.Kind.WECHAT_MP, name="Mini program")
    theirs = make_inbox(make_workspace("Shop Z"), kind=Inbox.Kind.WECHAT_MP, name="Zebra mini program")
    choices = {pk for pk, _label in client.get(reverse("admin:connectors_channelaccount_add")).context["adminform"].form.fields["inbox"].choices
               if pk}
    assert {c.value if hasattr(c, "value") else c for c in choices} == {mine.pk}
    assert web.pk != mine.pk != theirs.pk


def test_another_workspaces_account_is_invisible_and_cannot_be_edited(owner):
    _workspace, _user, client = owner
    theirs = account(make_workspace("Shop Z"), name="Zebra inbox")
    for name in ("change", "delete", "history"):
        assert client.get(reverse(f"admin:connectors_channelaccount_{name}", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("admin:connectors_channelaccount_change", args=[theirs.pk]), form_data(theirs, token="Hijack1")).status_code == 404
    theirs.refresh_from_db()
    assert theirs.token == "QDG6eK"
    listing = client.get(reverse("admin:connectors_channelaccount_changelist")).content.decode()
    assert "Zebra" not in listing
    # nor may it be created on another workspace's inbox
    other_inbox = make_inbox(theirs.inbox.workspace, kind=Inbox.Kind.WECHAT_OA, name="Zebra OA")
    response = client.post(reverse("admin:connectors_channelaccount_add"),
                           {"inbox": other_inbox.pk, "app_id": "wx5823bf96d3bd56c7", "app_secret": SECRET, "token": "QDG6eK", "aes_key": AES,
                            "mode": "safe", "reply_window_hours": 48, "replies_per_message": 5})
    assert response.status_code == 200 and not ChannelAccount.objects.filter(inbox=other_inbox).exists()


def test_an_agent_without_configure_cannot_open_it():
    workspace = make_workspace()
    acc = account(workspace)
    user, _ = make_agent(workspace, role=Role.AGENT, username="plain_agent")
    client = verified_client(user)
    response = client.get(reverse("admin:connectors_channelaccount_change", args=[acc.pk]))
    assert response.status_code in (302, 403, 404)
    assert SECRET not in response.content.decode()
