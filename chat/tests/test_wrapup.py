"""咨询分类 (issue 19, item 7): a category chosen at resolve from the workspace's own list, stored
on the conversation with a wrapped_up event, optional or required per workspace, edited by the owner
in the admin (a form row per category, never JSON), counted per period by the report. Bad input
(another workspace's category, a retired one, garbage, none when one is required) is refused with a
clear error and stores nothing."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditLog
from chat import states, wrapup
from chat.models import Conversation, ConversationEvent, Disposition, WrapUpSettings
from conftest import make_visitor, send, verified_client
from helpdesk.errors import DomainError

pytestmark = pytest.mark.django_db


def categories(workspace, *names, required=False):
    settings = WrapUpSettings.objects.create(workspace=workspace, required=required)
    return settings, {name: Disposition.objects.create(wrap_up=settings, name=name, position=i) for i, name in enumerate(names)}


def assigned_chat(p, body="我要退货"):
    message, _ = send(p.visitor, body)
    Conversation.objects.filter(pk=message.conversation_id).update(assignee=p.agent_a_user, state="assigned")
    return Conversation.objects.get(pk=message.conversation_id)


def post_state(client, conversation_id, data):
    return client.post(f"/console/c/{conversation_id}/state/", json.dumps(data), content_type="application/json")


def events(conversation):
    return list(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))


def test_resolve_with_a_category_stores_it_with_an_event(personas):
    p = personas
    _, d = categories(p.workspace, "退货", "物流", "发票")
    conversation = assigned_chat(p)
    r = post_state(verified_client(p.agent_a_user), conversation.pk, {"state": "resolved", "disposition": d["物流"].pk})
    assert r.status_code == 200, r.content
    conversation.refresh_from_db()
    assert conversation.state == "resolved" and conversation.disposition_id == d["物流"].pk
    event = ConversationEvent.objects.get(conversation=conversation, kind="wrapped_up")
    assert event.data == {"disposition_id": d["物流"].pk, "name": "物流"}
    assert event.actor_user_id == p.agent_a_user.pk and event.actor_kind == "agent"
    assert events(conversation)[-2:] == ["state_changed", "wrapped_up"]  # in the resolve's transaction, after its state event


def test_optional_category_may_be_left_out_and_then_nothing_stays_from_an_earlier_resolve(personas):
    p = personas
    _, d = categories(p.workspace, "退货", "物流")
    conversation = assigned_chat(p)
    states.change_state(p.agent_a, conversation.pk, "resolved", disposition=d["退货"].pk)
    states.change_state(p.agent_a, conversation.pk, "queued")  # reopened
    resolved = states.change_state(p.agent_a, conversation.pk, "resolved", disposition="")
    assert resolved.state == "resolved"
    assert Conversation.objects.get(pk=conversation.pk).disposition_id is None
    assert events(conversation).count("wrapped_up") == 1


BAD_VALUES = ["not-a-number", "1.5", True, [1], {"id": 1}, -3, "٣", "物流", 987654321]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_category_not_in_the_list_is_refused_and_nothing_is_stored(personas, value):
    p = personas
    categories(p.workspace, "退货", "物流")
    conversation = assigned_chat(p)
    before = events(conversation)
    r = post_state(verified_client(p.agent_a_user), conversation.pk, {"state": "resolved", "disposition": value})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_disposition"
    assert r.json()["error"]["message"] == "该咨询分类不在本工作区的分类列表中。"  # the console speaks zh-Hans by default
    conversation.refresh_from_db()
    assert conversation.state == "assigned" and conversation.disposition_id is None and conversation.resolved_at is None
    assert events(conversation) == before


def test_another_workspaces_or_a_retired_category_is_refused(personas):
    p = personas
    _, ours = categories(p.workspace, "退货", "旧分类")
    _, theirs = categories(p.other_workspace, "Zebra 分类")
    Disposition.objects.filter(pk=ours["旧分类"].pk).update(is_active=False)
    conversation = assigned_chat(p)
    for foreign in (theirs["Zebra 分类"].pk, ours["旧分类"].pk):
        with pytest.raises(DomainError) as refused:
            states.change_state(p.agent_a, conversation.pk, "resolved", disposition=foreign)
        assert refused.value.code == "invalid_disposition" and refused.value.status == 400
    conversation.refresh_from_db()
    assert conversation.state == "assigned" and "wrapped_up" not in events(conversation)


def test_a_required_category_must_be_chosen_in_zh_hans(personas):
    p = personas
    _, d = categories(p.workspace, "退货", "物流", required=True)
    conversation = assigned_chat(p)
    client = verified_client(p.agent_a_user)
    r = client.post(f"/console/c/{conversation.pk}/state/", json.dumps({"state": "resolved"}), content_type="application/json",
                    HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "disposition_required"
    assert r.json()["error"]["message"] == "请先选择咨询分类，再解决会话。"
    assert Conversation.objects.get(pk=conversation.pk).state == "assigned"
    assert post_state(client, conversation.pk, {"state": "resolved", "disposition": str(d["退货"].pk)}).status_code == 200
    assert Conversation.objects.get(pk=conversation.pk).disposition_id == d["退货"].pk


def test_required_with_no_category_in_use_does_not_block_resolving(personas):
    p = personas
    settings, d = categories(p.workspace, "退货", required=True)
    Disposition.objects.filter(pk=d["退货"].pk).update(is_active=False)
    conversation = assigned_chat(p)
    assert states.change_state(p.agent_a, conversation.pk, "resolved").state == "resolved"


def test_a_category_only_goes_with_ending_a_conversation(personas):
    p = personas
    _, d = categories(p.workspace, "退货")
    conversation = assigned_chat(p)
    r = post_state(verified_client(p.agent_a_user), conversation.pk, {"state": "pending", "disposition": d["退货"].pk})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_disposition"
    assert Conversation.objects.get(pk=conversation.pk).state == "assigned"
    assert "wrapped_up" not in events(conversation)


def test_closing_an_open_conversation_is_no_way_around_a_required_category(personas):
    """Close ends a conversation as Resolve does: while it is open, the workspace's wrap-up rule
    holds (refused in the agent's language, nothing stored), and the category chosen is stored with
    its event. Closing a resolved conversation keeps its resolve's category and takes no other."""
    p = personas
    _, d = categories(p.workspace, "退货", "物流", required=True)
    conversation = assigned_chat(p)
    client = verified_client(p.agent_a_user)
    r = client.post(f"/console/c/{conversation.pk}/state/", json.dumps({"state": "closed"}), content_type="application/json",
                    HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 400 and r.json()["error"]["code"] == "disposition_required"
    assert r.json()["error"]["message"] == "请先选择咨询分类，再关闭会话。"
    assert Conversation.objects.get(pk=conversation.pk).state == "assigned" and events(conversation).count("state_changed") == 0
    assert post_state(client, conversation.pk, {"state": "closed", "disposition": d["物流"].pk}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.state == "closed" and conversation.disposition_id == d["物流"].pk
    assert events(conversation)[-2:] == ["state_changed", "wrapped_up"]

    resolved = assigned_chat(p, "发票")
    states.change_state(p.agent_a, resolved.pk, "resolved", disposition=d["退货"].pk)
    refused = post_state(client, resolved.pk, {"state": "closed", "disposition": d["物流"].pk})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_disposition"
    assert post_state(client, resolved.pk, {"state": "closed"}).status_code == 200  # no category asked again
    resolved.refresh_from_db()
    assert resolved.state == "closed" and resolved.disposition_id == d["退货"].pk
    assert events(resolved).count("wrapped_up") == 1


def test_the_close_button_opens_the_wrap_up_dialog_while_the_conversation_is_open(personas):
    p = personas
    categories(p.workspace, "退货")
    conversation = assigned_chat(p)
    client = verified_client(p.agent_a_user)
    html = client.get(f"/console/c/{conversation.pk}/pane/").content.decode()
    assert 'data-action="open-wrapup" data-state="closed"' in html and 'data-action="state" data-state="closed"' not in html
    assert 'data-wrapup-for="closed"' in html
    states.change_state(p.agent_a, conversation.pk, "resolved", disposition=Disposition.objects.get(name="退货").pk)
    html = client.get(f"/console/c/{conversation.pk}/pane/").content.decode()
    assert 'data-action="state" data-state="closed"' in html and 'data-action="open-wrapup" data-state="closed"' not in html


def test_the_api_resolves_with_a_category_and_refuses_a_foreign_one(personas):
    p = personas
    _, ours = categories(p.workspace, "退货")
    _, theirs = categories(p.other_workspace, "Zebra")
    conversation = assigned_chat(p)
    client = verified_client(p.agent_a_user)
    url = f"/api/v1/conversations/{conversation.pk}/state"
    refused = client.post(url, {"state": "resolved", "disposition": theirs["Zebra"].pk}, content_type="application/json")
    assert refused.status_code == 400 and "Zebra" not in refused.content.decode()
    assert Conversation.objects.get(pk=conversation.pk).state == "assigned"
    ok = client.post(url, {"state": "resolved", "disposition": ours["退货"].pk}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["conversation"]["state"] == "resolved"
    assert Conversation.objects.get(pk=conversation.pk).disposition_id == ours["退货"].pk


def test_the_pane_offers_the_workspace_list_in_order(personas):
    p = personas
    settings, d = categories(p.workspace, "退货", "物流", "发票")
    Disposition.objects.filter(pk=d["物流"].pk).update(is_active=False)
    categories(p.other_workspace, "Zebra")
    conversation = assigned_chat(p)
    html = verified_client(p.agent_a_user).get(f"/console/c/{conversation.pk}/pane/").content.decode()
    assert 'data-action="open-wrapup"' in html and 'id="wrapup-dialog"' in html
    assert html.index("退货") < html.index("发票") and "物流" not in html and "Zebra" not in html
    assert 'value="" checked' in html  # optional: "no category" offered
    WrapUpSettings.objects.filter(pk=settings.pk).update(required=True)
    html = verified_client(p.agent_a_user).get(f"/console/c/{conversation.pk}/pane/").content.decode()
    assert 'value="" checked' not in html
    # A workspace without categories resolves in one tap, as before.
    other_chat, _ = send(make_visitor(p.inbox_a)[0], "hi")
    Disposition.objects.all().delete()
    html = verified_client(p.agent_a_user).get(f"/console/c/{other_chat.conversation_id}/pane/").content.decode()
    assert 'data-state="resolved"' in html and "wrapup-dialog" not in html


# --- the report ------------------------------------------------------------------------------------


def test_report_counts_each_conversation_once_with_its_last_category(personas):
    p = personas
    settings, d = categories(p.workspace, "退货", "物流", "发票")
    chats = []
    for _ in range(4):
        visitor, _token = make_visitor(p.inbox_a)
        message, _ = send(visitor, "hi")
        Conversation.objects.filter(pk=message.conversation_id).update(assignee=p.agent_a_user, state="assigned")
        chats.append(message.conversation_id)
    states.change_state(p.agent_a, chats[0], "resolved", disposition=d["退货"].pk)
    states.change_state(p.agent_a, chats[1], "resolved", disposition=d["退货"].pk)
    states.change_state(p.agent_a, chats[2], "resolved", disposition=d["物流"].pk)
    states.change_state(p.agent_a, chats[2], "queued")
    states.change_state(p.agent_a, chats[2], "resolved", disposition=d["发票"].pk)  # counted once, as 发票
    states.change_state(p.agent_a, chats[3], "resolved")  # no category
    states.change_state(p.agent_a, chats[3], "closed")  # closing a resolved one: not ended twice
    visitor, _token = make_visitor(p.inbox_a)
    closed_open, _ = send(visitor, "hi")
    Conversation.objects.filter(pk=closed_open.conversation_id).update(assignee=p.agent_a_user, state="assigned")
    states.change_state(p.agent_a, closed_open.conversation_id, "closed", disposition=d["物流"].pk)  # ended by a close
    Disposition.objects.filter(pk=d["退货"].pk).update(name="退货退款")  # renamed: still one line
    # Another workspace's resolves are not ours.
    _, theirs = categories(p.other_workspace, "Zebra")
    other, _ = send(p.other_visitor, "hi")
    Conversation.objects.filter(pk=other.conversation_id).update(assignee=p.other_agent_user, state="assigned")
    states.change_state(p.other_agent, other.conversation_id, "resolved", disposition=theirs["Zebra"].pk)

    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        report = wrapup.counts(p.workspace.pk, now - timedelta(days=1), now + timedelta(seconds=1))
    assert sorted(report.rows) == sorted([("退货退款", 2), ("发票", 1), ("物流", 1)]) and report.rows[0] == ("退货退款", 2)
    assert report.resolved == 5 and report.unclassified == 1 and report.classified == 4
    assert len(queries) == 3  # the counts, the current names, the resolved total: whatever the volume
    assert wrapup.counts(p.workspace.pk, now + timedelta(days=1), now + timedelta(days=2)).rows == []

    # A deleted category keeps its name from the time.
    Disposition.objects.filter(pk=d["发票"].pk).delete()
    assert ("发票", 1) in wrapup.counts(p.workspace.pk, now - timedelta(days=1), now + timedelta(seconds=1)).rows

    out = StringIO()
    call_command("wrapup_report", workspace=p.workspace.slug, days=2, stdout=out)
    assert "退货退款: 2" in out.getvalue() and "(no category): 1" in out.getvalue() and "Zebra" not in out.getvalue()


# --- the owner's list, in the admin -----------------------------------------------------------------


def admin_form(p, *rows, required=False, prefix="dispositions", initial=0):
    data = {"workspace": p.workspace.pk, f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": initial,
            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    if required:
        data["required"] = "on"
    for i, (name, position) in enumerate(rows):
        data.update({f"{prefix}-{i}-name": name, f"{prefix}-{i}-position": position, f"{prefix}-{i}-is_active": "on"})
    return data


def test_owner_keeps_the_list_in_the_admin_with_field_errors_not_json(personas):
    p = personas
    owner = verified_client(p.owner_user)
    page = owner.get("/admin/chat/wrapupsettings/add/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="dispositions-0-name"' in html and "<textarea" not in html  # one text input per category, no JSON box
    # The same name twice (ignoring case and spaces): an error next to the second, nothing stored.
    r = owner.post("/admin/chat/wrapupsettings/add/", admin_form(p, ("退货", 0), (" 退货 ", 1), required=True))
    assert r.status_code == 200
    errors = r.context["inline_admin_formsets"][0].formset.forms[1].errors
    assert errors["name"] == ["该分类已在列表中。"]
    assert not WrapUpSettings.objects.exists() and not Disposition.objects.exists()
    # A good list is stored, and audited.
    r = owner.post("/admin/chat/wrapupsettings/add/", admin_form(p, ("退货", 0), ("物流", 1), required=True))
    assert r.status_code == 302, r.content.decode()[:2000]
    settings = WrapUpSettings.objects.get(workspace=p.workspace)
    assert settings.required and [d.name for d in settings.dispositions.all()] == ["退货", "物流"]
    assert AuditLog.objects.filter(workspace=p.workspace, action="wrap_up.categories").exists()
    # The change page shows the last 30 days' counts.
    conversation = assigned_chat(p)
    states.change_state(p.agent_a, conversation.pk, "resolved", disposition=settings.dispositions.get(name="物流").pk)
    change = owner.get(f"/admin/chat/wrapupsettings/{settings.pk}/change/").content.decode()
    assert "<td>物流</td><td>1</td>" in change
    # An agent has no such page; another workspace's owner does not see this one.
    assert verified_client(p.agent_a_user).get("/admin/chat/wrapupsettings/").status_code in (302, 403)
    assert verified_client(p.other_agent_user).get(f"/admin/chat/wrapupsettings/{settings.pk}/change/").status_code in (302, 403, 404)
