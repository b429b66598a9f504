"""分流 without JSON (issue 20 item 1): the rule builder on the group page, its field errors, the
new conditions (channel, language, time of day) routing real chats, and the 试一试 preview."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import translation

from chat.models import Conversation, Customer
from conftest import make_visitor, send, verified_client
from routing import actions
from routing.admin import AgentGroupForm
from routing.models import AgentGroup

pytestmark = [pytest.mark.django_db(transaction=True)]


def rows(*conditions):
    data = {}
    for n, (field, values, *key) in enumerate(conditions):
        data.update({f"rules_{3 * n}": field, f"rules_{3 * n + 1}": key[0] if key else "", f"rules_{3 * n + 2}": values})
    return data


def group_form(personas, *conditions, instance=None, **extra):
    data = {"workspace": personas.workspace.pk, "name": "East China", "priority": "1", "strategy": "least_loaded", "enabled": "on",
            **rows(*conditions), **extra}
    return AgentGroupForm(data=data, instance=instance)


def test_conditions_are_stored_as_the_router_reads_them(personas):
    with translation.override("zh-hans"):
        form = group_form(personas, ("region", "上海、浙江/杭州"), ("channel", "微信小程序, app"), ("inbox", "App B"),
                          ("time_of_day", "21:00-08:00"), ("attribute", "wholesale", "buyer_type"))
        assert form.is_valid(), form.errors
        group = form.save()
    assert group.rules == [
        {"field": "region", "values": ["上海", "浙江/杭州"]}, {"field": "channel", "values": ["wechat_mp", "app"]},
        {"field": "inbox", "values": [personas.inbox_b.pk]}, {"field": "time_of_day", "values": ["21:00-08:00"]},
        {"field": "attribute", "values": ["wholesale"], "key": "buyer_type"}]


def test_stored_rules_read_back_with_names_and_save_unchanged(personas):
    stored = [{"field": "inbox", "values": [personas.inbox_a.pk]}, {"field": "channel", "values": ["wechat_oa"]},
              {"field": "entry_page", "values": ["*/pre-sale/*", "*/vip/*"]}]
    group = AgentGroup.objects.create(workspace=personas.workspace, name="Pre-sale", priority=2, rules=stored)
    with translation.override("zh-hans"):
        html = str(AgentGroupForm(instance=group)["rules"])
        assert "Site A" in html and "微信公众号" in html and "*/pre-sale/*、*/vip/*" in html
        form = group_form(personas, ("inbox", "Site A"), ("channel", "微信公众号"), ("entry_page", "*/pre-sale/*、*/vip/*"), instance=group)
        assert form.is_valid(), form.errors
        assert form.save().rules == stored


@pytest.mark.parametrize("conditions, words", [
    ((("region", ""),), "at least one value"),
    ((("", "上海"),), "choose what it looks at"),
    ((("attribute", "wholesale"),), "name the custom attribute"),
    ((("time_of_day", "9点到18点"),), "21:00-08:00"),
    ((("inbox", "Somebody else's inbox"),), "no inbox named"),
    ((("channel", "抖音"),), "not a channel type"),
    ((("tag", "、".join(str(n) for n in range(201))),), "at most 200 values"),
])
def test_bad_conditions_are_field_errors_and_nothing_is_saved(personas, conditions, words):
    with translation.override("en"):
        form = group_form(personas, *conditions)
        assert not form.is_valid()
        assert words in " ".join(form.errors["rules"]), form.errors
    assert not AgentGroup.objects.filter(name="East China").exists()


def test_another_workspaces_inbox_is_unknown_here(personas):
    form = group_form(personas, ("inbox", personas.other_inbox.name))
    assert not form.is_valid() and "rules" in form.errors


def chat_from(inbox, **attributes):
    visitor, _ = make_visitor(inbox)
    Customer.objects.filter(pk=visitor.customer_id).update(attributes=attributes)
    message, _ = send(visitor, "你好")
    return Conversation.objects.get(pk=message.conversation_id)


def test_a_region_and_a_night_rule_route_real_chats(personas):
    east = AgentGroup.objects.create(workspace=personas.workspace, name="East China", priority=1,
                                     rules=[{"field": "region", "values": ["上海"]}])
    east.members.add(personas.agent_a_user)
    night = AgentGroup.objects.create(workspace=personas.workspace, name="Night desk", priority=2,
                                      rules=[{"field": "time_of_day", "values": ["21:00-08:00"]}, {"field": "language", "values": ["en"]}])
    night.members.add(personas.owner_user)
    actions.set_status(personas.agent_a, "online", capacity=3)
    actions.set_status(personas.owner, "online", capacity=3)
    assert chat_from(personas.inbox_a, region="上海/浦东").group_id == east.pk
    shanghai = ZoneInfo("Asia/Shanghai")
    with time_machine.travel(datetime(2026, 12, 5, 22, 30, tzinfo=shanghai)):
        assert chat_from(personas.inbox_a, language="en-GB").group_id == night.pk
        assert chat_from(personas.inbox_a, language="zh-hans").group_id != night.pk
    with time_machine.travel(datetime(2026, 12, 5, 12, 0, tzinfo=shanghai)):
        assert chat_from(personas.inbox_a, language="en").group_id != night.pk


def test_try_it_says_where_a_customer_goes(personas):
    east = AgentGroup.objects.create(workspace=personas.workspace, name="华东组", priority=1,
                                     rules=[{"field": "region", "values": ["上海"]}, {"field": "entry_page", "values": ["*/shop/*"]}])
    AgentGroup.objects.create(workspace=personas.other_workspace, name="Their secret desk", priority=1,
                              rules=[{"field": "region", "values": ["上海"]}])
    client = verified_client(personas.owner_user)
    client.cookies["django_language"] = "zh-hans"
    page = client.get("/admin/routing/agentgroup/try/", {"region": "上海", "entry_page": "https://shop.example/shop/123", "time": "21:00"},
                      HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    outcome = page.context["outcome"]
    assert outcome["group"] == east.name
    assert page.context["form"].fields["workspace"].widget.input_type == "hidden"
    text = page.content.decode()
    assert "来自上海" in text and "在 21:00" in text and "华东组" in text and "Their secret desk" not in text
    elsewhere = client.get("/admin/routing/agentgroup/try/", {"region": "北京"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert elsewhere.context["outcome"]["group"] != east.name
    listing = client.get("/admin/routing/agentgroup/").content.decode()
    assert "/admin/routing/agentgroup/try/" in listing


@pytest.mark.parametrize("query", [{"time": "25:00"}, {"inbox": "999999"}, {"workspace": "999999"}, {"region": "x" * 10_000},
                                   {"channel": "douyin"}])
def test_try_it_refuses_bad_input_with_a_field_error(personas, query):
    page = verified_client(personas.owner_user).get("/admin/routing/agentgroup/try/", query)
    assert page.status_code == 200 and page.context["outcome"] is None and page.context["form"].errors


def test_try_it_is_not_for_agents_or_other_workspaces(personas):
    assert verified_client(personas.agent_a_user).get("/admin/routing/agentgroup/try/").status_code in (302, 403)
    other_inbox = personas.other_inbox.pk
    page = verified_client(personas.owner_user).get("/admin/routing/agentgroup/try/", {"inbox": other_inbox})
    assert page.context["outcome"] is None and "inbox" in page.context["form"].errors


def test_the_group_page_names_members_and_strategies_in_words(personas):
    from accounts.models import Membership

    Membership.objects.filter(user=personas.agent_a_user, workspace=personas.workspace).update(display_name="李小明")
    client = verified_client(personas.owner_user)
    page = client.get("/admin/routing/agentgroup/add/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">李小明</option>" in page and ">agent_a</option>" not in page
    assert "轮流分配" in page and ">least_loaded<" not in page
    AgentGroup.objects.create(workspace=personas.workspace, name="Pool", strategy="claim")
    listing = client.get("/admin/routing/agentgroup/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "抢单" in listing
