"""The agent console's server side: lists, rows, panes, tags, snooze, quick phrases,
preferences. Personas: owner (both inboxes, sees all), agent_a (inbox A), agent_b (inbox B),
a visitor on A, and another workspace whose rows must never show up."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership, Role
from chat import messages as chat_messages
from chat import states
from chat.models import Conversation, ConversationEvent, Customer, Tag
from conftest import make_agent, make_visitor, send, verified_client
from replies.models import QuickPhrase
from routing.models import AgentGroup, AgentPresence

pytestmark = pytest.mark.django_db


def conversation_of(visitor, body="hello"):
    message, _ = send(visitor, body)
    return message.conversation


def post_json(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def listed_ids(client, query):
    response = client.get(f"/console/list/?{query}")
    assert response.status_code == 200, response.content
    return {r.pk for r in response.context["rows"]}


def test_lists_follow_access_rules_and_views(personas):
    p = personas
    conv_a = conversation_of(p.visitor)
    visitor_b, _ = make_visitor(p.inbox_b)
    conv_b = conversation_of(visitor_b)
    other = conversation_of(p.other_visitor)
    Conversation.objects.filter(pk=conv_b.pk).update(assignee=p.agent_b_user, state="assigned")

    agent_a = verified_client(p.agent_a_user)
    assert listed_ids(agent_a, "view=pool") == {conv_a.pk}
    assert listed_ids(agent_a, "view=all") == {conv_a.pk}  # not inbox B, never workspace Z
    assert listed_ids(agent_a, "view=mine") == set()
    owner = verified_client(p.owner_user)
    assert listed_ids(owner, "view=all") == {conv_a.pk, conv_b.pk}
    assert listed_ids(owner, f"view=all&inbox={p.inbox_b.pk}") == {conv_b.pk}
    assert listed_ids(owner, "view=all&state=queued") == {conv_a.pk}
    assert listed_ids(verified_client(p.agent_b_user), "view=mine") == {conv_b.pk}
    assert other.pk not in listed_ids(owner, "view=all")


def test_group_and_leave_message_views(personas):
    p = personas
    group = AgentGroup.objects.create(workspace=p.workspace, name="After-sales")
    in_group = conversation_of(p.visitor)
    Conversation.objects.filter(pk=in_group.pk).update(group=group)
    visitor2, _ = make_visitor(p.inbox_a)
    left = conversation_of(visitor2)
    Conversation.objects.filter(pk=left.pk).update(is_leave_message=True, state="pending")
    owner = verified_client(p.owner_user)
    assert listed_ids(owner, f"view=group:{group.pk}") == {in_group.pk}
    assert listed_ids(owner, "view=leave") == {left.pk}


def test_console_pages_cost_a_constant_number_of_queries(personas):
    p = personas
    tag = Tag.objects.create(workspace=p.workspace, name="VIP")

    def add(n):
        for _ in range(n):
            visitor, _ = make_visitor(p.inbox_a)
            conversation = conversation_of(visitor)
            conversation.customer.tags.add(tag)
            send(visitor, "second")

    owner = verified_client(p.owner_user)
    owner.get("/console/")  # warm caches (content types, session)
    add(2)
    with CaptureQueriesContext(connection) as few:
        assert owner.get("/console/?view=all").status_code == 200
    add(28)
    with CaptureQueriesContext(connection) as many:
        response = owner.get("/console/?view=all")
    assert len(response.context["rows"]) == 30
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    with CaptureQueriesContext(connection) as listed:
        owner.get("/console/list/?view=all")
    assert len(listed) <= 12


def test_unread_count_and_read(personas):
    p = personas
    conversation = conversation_of(p.visitor, "one")
    send(p.visitor, "two")
    send(p.visitor, "three")
    agent_a = verified_client(p.agent_a_user)
    row = agent_a.get(f"/console/rows/{conversation.pk}/?view=pool")
    assert row.status_code == 200 and row.context["c"].unread == 3
    assert json.loads(row["X-Counts"])["pool"] == 1
    chat_messages.mark_read(p.agent_a, conversation.pk, 2)
    assert agent_a.get(f"/console/rows/{conversation.pk}/?view=pool").context["c"].unread == 1
    # Not in that list any more: 204 (the console removes the row).
    assert agent_a.get(f"/console/rows/{conversation.pk}/?view=mine").status_code == 204


def test_pane_history_and_messages_render_escaped(personas):
    p = personas
    conversation = conversation_of(p.visitor, "<img src=x onerror=alert(1)>")
    for i in range(40):
        send(p.visitor, f"m{i}")
    agent_a = verified_client(p.agent_a_user)
    pane = agent_a.get(f"/console/c/{conversation.pk}/pane/")
    assert pane.status_code == 200
    assert [m.seq for m in pane.context["messages"]] == list(range(12, 42)) and pane.context["has_more"]
    older = agent_a.get(f"/console/c/{conversation.pk}/history/?before_seq=12")
    assert [m.seq for m in older.context["messages"]] == list(range(1, 12)) and older["X-Has-More"] == "0"
    assert b"<img src=x" not in older.content and b"&lt;img src=x" in older.content
    live = agent_a.get(f"/console/c/{conversation.pk}/messages/?after_seq=40")
    assert [m.seq for m in live.context["messages"]] == [41]
    assert agent_a.get(f"/console/c/{conversation.pk}/history/?before_seq=abc").status_code == 400


def test_other_workspace_and_other_inbox_answer_not_found(personas):
    p = personas
    other = conversation_of(p.other_visitor)
    visitor_b, _ = make_visitor(p.inbox_b)
    conv_b = conversation_of(visitor_b)
    agent_a = verified_client(p.agent_a_user)
    for conversation in (other, conv_b):
        for url in (f"/console/c/{conversation.pk}/", f"/console/c/{conversation.pk}/pane/",
                    f"/console/c/{conversation.pk}/history/?before_seq=5", f"/console/c/{conversation.pk}/messages/"):
            assert agent_a.get(url).status_code == 404, url
        assert post_json(agent_a, f"/console/c/{conversation.pk}/state/", {"state": "resolved"}).status_code == 404
        assert post_json(agent_a, f"/console/customers/{conversation.customer_id}/tags/", {"name": "x"}).status_code == 404
    assert Tag.objects.count() == 0
    assert Conversation.objects.get(pk=conv_b.pk).state == "queued"


def test_tags_add_remove_with_events_and_bad_input(personas):
    p = personas
    conversation = conversation_of(p.visitor)
    agent_a = verified_client(p.agent_a_user)
    url = f"/console/customers/{conversation.customer_id}/tags/"
    response = post_json(agent_a, url, {"name": "回头客"})
    assert response.status_code == 200 and "回头客" in response.content.decode()
    post_json(agent_a, url, {"name": "回头客"})  # a repeat is a no-op
    customer = Customer.objects.get(pk=conversation.customer_id)
    assert list(customer.tags.values_list("name", flat=True)) == ["回头客"]
    for bad in ("", "<b>x</b>", "x" * 41, 12):
        r = post_json(agent_a, url, {"name": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_tag"
    assert Tag.objects.filter(workspace=p.workspace).count() == 1
    post_json(agent_a, url + "remove/", {"name": "回头客"})
    assert customer.tags.count() == 0
    kinds = list(ConversationEvent.objects.filter(conversation=conversation, kind="tagged").values_list("data", flat=True))
    assert kinds == [{"added": "回头客"}, {"removed": "回头客"}]
    # The routing context sees agent tags too.
    post_json(agent_a, url, {"name": "VIP"})
    from routing.actions import context_for

    assert "VIP" in context_for(Conversation.objects.get(pk=conversation.pk), need_last_agent=False).tags


def test_snooze_and_wake(personas):
    p = personas
    conversation = conversation_of(p.visitor)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=p.agent_a_user, state="assigned")
    agent_a = verified_client(p.agent_a_user)
    url = f"/console/c/{conversation.pk}/snooze/"
    for bad in ({"until": "soon"}, {"until": (timezone.now() - timedelta(hours=1)).isoformat()}, {"until": "2999-01-01T00:00:00"}):
        r = post_json(agent_a, url, bad)
        assert r.status_code == 400, bad
    assert Conversation.objects.get(pk=conversation.pk).state == "assigned"
    assert post_json(agent_a, url, {"until": "1h"}).json()["state"] == "pending"
    snoozed = Conversation.objects.get(pk=conversation.pk)
    assert snoozed.snoozed_until > timezone.now() + timedelta(minutes=59)
    assert states.wake_due_snoozes(timezone.now()) == 0
    assert states.wake_due_snoozes(timezone.now() + timedelta(hours=2)) == 1
    woken = Conversation.objects.get(pk=conversation.pk)
    assert (woken.state, woken.snoozed_until, woken.assignee_id) == ("assigned", None, p.agent_a_user.pk)
    kinds = list(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))
    assert kinds[-2:] == ["snoozed", "woken"]
    # The customer writing ends a snooze at once.
    post_json(agent_a, url, {"until": "1d"})
    send(p.visitor, "are you there?")
    assert Conversation.objects.get(pk=conversation.pk).state == "assigned"


def test_quick_phrases_scopes_validity_and_use(personas):
    p = personas
    group = AgentGroup.objects.create(workspace=p.workspace, name="Pre-sales")
    group.members.add(p.agent_a_user)
    now = timezone.now()
    make = lambda shortcut, **kw: QuickPhrase.objects.create(workspace=p.workspace, shortcut=shortcut, title=shortcut, body=f"{shortcut} body", **kw)  # noqa: E731
    make("ws")
    make("grp", scope="group", group=group)
    mine = make("mine", scope="personal", owner=p.agent_a_user)
    theirs = make("theirs", scope="personal", owner=p.agent_b_user)
    make("campaign", valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=1))
    make("expired", valid_until=now - timedelta(minutes=1))
    make("future", valid_from=now + timedelta(days=1))
    QuickPhrase.objects.create(workspace=p.other_workspace, shortcut="other", title="o", body="o")

    agent_a = verified_client(p.agent_a_user)
    shortcuts = {row["shortcut"] for row in agent_a.get("/console/phrases/").json()["phrases"]}
    assert shortcuts == {"ws", "grp", "mine", "campaign"}
    agent_b = verified_client(p.agent_b_user)
    assert {row["shortcut"] for row in agent_b.get("/console/phrases/").json()["phrases"]} == {"ws", "theirs", "campaign"}
    assert agent_a.post(f"/console/phrases/{mine.pk}/use/").status_code == 200
    assert agent_a.post(f"/console/phrases/{theirs.pk}/use/").status_code == 404
    assert list(QuickPhrase.objects.filter(pk__in=[mine.pk, theirs.pk]).order_by("shortcut").values_list("usage_count", flat=True)) == [1, 0]


def test_language_follows_the_agents_preference(personas):
    from django.test import Client

    from accounts.models import UserPreferences

    agent_a = verified_client(personas.agent_a_user)
    agent_a.post("/console/settings/", {"language": "en", "sound": "on"})
    assert "Unassigned" in agent_a.get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert agent_a.post("/console/settings/", {"language": "zh-hant"}).status_code == 302
    assert "待分配" in agent_a.get("/console/").content.decode()  # zh-Hant derives from zh-Hans (OpenCC)
    prefs = UserPreferences.objects.get(user=personas.agent_a_user)
    assert (prefs.language, prefs.sound) == ("zh-hant", False)
    response = agent_a.post("/console/settings/", {"language": "xx"})
    assert response.status_code == 400
    assert UserPreferences.objects.get(user=personas.agent_a_user).language == "zh-hant"
    # On another device the login sets the chosen language, whatever the browser says.
    other_device = Client(HTTP_ACCEPT_LANGUAGE="en")
    other_device.post("/accounts/login/", {"username": "agent_a", "password": "pw-for-tests-123"})
    assert other_device.cookies["django_language"].value == "zh-hant"
    assert "待分配" in other_device.get("/console/").content.decode()


def test_status_switch_and_filter_validation(personas):
    agent_a = verified_client(personas.agent_a_user)
    assert post_json(agent_a, "/console/status/", {"status": "online"}).json()["status"] == "online"
    assert AgentPresence.objects.get(user=personas.agent_a_user).status == "online"
    assert post_json(agent_a, "/console/status/", {"status": "sleeping"}).status_code == 400
    assert post_json(agent_a, "/console/status/", {"status": "busy", "capacity": "lots"}).status_code == 400
    assert AgentPresence.objects.get(user=personas.agent_a_user).status == "online"
    for query in ("view=nope", "state=flying", "inbox=abc", "view=all&before=garbage"):
        response = agent_a.get(f"/console/list/?{query}", HTTP_ACCEPT="application/json")
        assert response.status_code == 400, query
        assert response.json()["error"]["message"]


def test_verifier_and_anonymous_are_kept_out(personas):
    from django.test import Client

    user, _ = make_agent(personas.workspace, role=Role.VERIFIER, username="checker")
    client = verified_client(user)
    assert client.get("/console/")["Location"] == "/verify/"  # their page, not a broken console
    assert client.get("/console/list/", HTTP_ACCEPT="application/json").status_code == 403
    response = Client().get("/console/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_chinese_is_the_default_interface(personas):
    page = verified_client(personas.agent_a_user).get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "待分配" in page and "客服工作台" in page


# --- what was seen broken (issue 19) -------------------------------------------------------


def test_bot_chats_have_their_own_list_and_stay_out_of_all(personas):
    p = personas
    human = conversation_of(p.visitor)
    visitor2, _ = make_visitor(p.inbox_a)
    bot = conversation_of(visitor2, "still talking to the bot")
    Conversation.objects.filter(pk=bot.pk).update(state="bot")
    owner = verified_client(p.owner_user)
    assert listed_ids(owner, "view=all") == {human.pk}
    assert listed_ids(owner, "view=bot") == {bot.pk}
    assert listed_ids(owner, "view=all&state=bot") == {bot.pk}  # asked for by state: still found
    page = owner.get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-view="bot"' in page and "机器人会话" in page


def test_rows_header_and_transfer_dialog_name_people_by_display_name(personas):
    p = personas
    conversation = conversation_of(p.visitor)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=p.agent_a_user, state="assigned")
    Membership.objects.filter(user=p.agent_a_user).update(display_name="小王")
    Membership.objects.filter(user=p.owner_user).update(display_name="店长老李")
    AgentPresence.objects.create(workspace=p.workspace, user=p.owner_user, status="online", open_chats=2)
    agent_a = verified_client(p.agent_a_user)
    row = agent_a.get(f"/console/rows/{conversation.pk}/?view=all", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "· 小王" in row and "agent_a" not in row
    pane = agent_a.get(f"/console/c/{conversation.pk}/pane/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "小王" in pane and "with agent_a" not in pane
    # The transfer dialog: the colleague's status as it is now, in the agent's language.
    assert "店长老李（在线，进行中会话：2）" in pane and "(online" not in pane
    AgentPresence.objects.filter(user=p.owner_user).update(status="busy")
    pane = agent_a.get(f"/console/c/{conversation.pk}/pane/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "店长老李（忙碌，进行中会话：2）" in pane
