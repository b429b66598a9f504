"""The founder's 开始使用 card on the console (issue 20 item 5): a founder lands on /console/, not on
the admin index, so the checklist of the workspace they are in shows above the chat list, ticks
itself from the database, can be put off (a POST, stored on their membership) and brought back from
the settings page, and is retired for good once the console has seen it complete. Nobody else
sees it, and no other workspace's progress leaks into it."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import actions as account_actions
from accounts.models import Membership, Role
from chat.models import Inbox
from conftest import make_agent, make_inbox, make_visitor, make_workspace, send, verified_client
from connectors.models import ChannelAccount
from helpdesk.errors import DomainError
from knowledge import actions as kb_actions
from knowledge import search

pytestmark = [pytest.mark.django_db]

WEEKDAY_HOURS = {"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]]}}
CARD = "data-onboarding-card"


@pytest.fixture
def shop(monkeypatch):
    """A founder's fresh workspace (one web inbox, as `make run` leaves it) with an admin, and a rival
    workspace whose founder has done every step (none of it may show in the founder's card)."""
    monkeypatch.setattr(search, "index_article", lambda article_id: None)
    monkeypatch.setattr(search, "remove_article", lambda article_id: None)
    workspace = make_workspace("茶馆")
    inbox = make_inbox(workspace, name="官网")
    founder, _ = make_agent(workspace, [inbox], role=Role.FOUNDER, username="店主")
    admin_user, _ = make_agent(workspace, [inbox], role=Role.ADMIN, username="管理员")
    rival = make_workspace("对手")
    rival_inbox = make_inbox(rival, business_hours=WEEKDAY_HOURS)
    rival_founder, _ = make_agent(rival, [rival_inbox], role=Role.FOUNDER, username="rival")
    make_agent(rival, [rival_inbox])
    ChannelAccount.objects.create(inbox=make_inbox(rival, kind=Inbox.Kind.WECHAT_OA), app_id="wx1", token="t")
    send(make_visitor(rival_inbox)[0], "你好")
    publish_faqs(Membership.objects.get(user=rival_founder), 5, prefix="r")
    return workspace, inbox, founder, admin_user


def publish_faqs(member, count, prefix="q"):
    for n in range(count):
        article = kb_actions.save_article(member, slug=f"{prefix}{n}", versions={"zh-hans": {"title": f"问题{prefix}{n}", "body": "答"}})
        kb_actions.publish(member, article.pk)


def console(client, path="/console/"):
    return client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def card(page):
    """The card's markup (empty when absent)."""
    match = re.search(r'<details id="onboarding".*?</details>', page, re.S)
    return match.group(0) if match else ""


def done_steps(page):
    return set(re.findall(r'class="onboarding-step done" data-step="(\w+)"', card(page)))


def state(user, workspace):
    return Membership.objects.get(user=user, workspace=workspace).onboarding


def test_a_fresh_founder_sees_the_card_at_0_of_5_and_it_ticks_itself(shop):
    workspace, inbox, founder, _admin = shop
    client = verified_client(founder)
    page = console(client)
    html = card(page)
    assert f'{CARD}="{workspace.pk}"' in html and "开始使用" in html and "· 0/5" in html and "已完成 0 / 5 步" in html
    assert re.findall(r'data-step="(\w+)"', html) == ["channel", "agents", "hours", "faqs", "test_chat"]
    assert done_steps(page) == set()
    # each step links to its page; the test chat opens the inbox's chat page
    assert '<a href="/admin/chat/inbox/">设置营业时间</a>' in html and '<a href="/admin/knowledge/article/add/">添加五条常见问题</a>' in html
    assert f'?inbox={inbox.public_key}" target="_blank" rel="noopener">发起一次测试会话</a>' in html
    assert "稍后再说" in html and 'name="show" value="0"' in html and "csrfmiddlewaretoken" in html
    assert 'src="/static/surfaces/onboarding.js"' in page and 'href="/static/surfaces/onboarding.css"' in page

    Inbox.objects.filter(pk=inbox.pk).update(business_hours=WEEKDAY_HOURS)
    make_agent(workspace, [inbox])
    page = console(client)
    assert done_steps(page) == {"hours", "agents"} and "· 2/5" in card(page) and "已完成 2 / 5 步" in card(page)
    publish_faqs(Membership.objects.get(user=founder), 4)
    assert "4 / 5" in card(console(client))  # the FAQ step counts on
    publish_faqs(Membership.objects.get(user=founder), 1, prefix="last")
    conversation_id = send(make_visitor(inbox)[0], "测试")[0].conversation_id
    page = console(client)
    assert done_steps(page) == {"hours", "agents", "faqs", "test_chat"} and "· 4/5" in card(page)
    # the conversation page shows it too (same list pane)
    assert f'{CARD}="{workspace.pk}"' in console(client, f"/console/c/{conversation_id}/")


def test_agents_and_admins_never_see_it(shop):
    workspace, inbox, _founder, admin_user = shop
    agent_user, _ = make_agent(workspace, [inbox])
    senior_user, _ = make_agent(workspace, [inbox], role=Role.SENIOR_ADMIN)
    for user in (admin_user, agent_user, senior_user):
        client = verified_client(user)
        page = console(client)
        assert CARD not in page and "onboarding.js" not in page and "稍后再说" not in page
        assert "开始使用" not in console(client, "/console/settings/")
        # nor can they change a founder's card
        response = client.post("/console/onboarding/", {"show": "0"})
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert set(Membership.objects.filter(workspace=workspace).values_list("onboarding", flat=True)) == {""}


def test_put_off_stays_off_until_settings_bring_it_back(shop):
    workspace, _inbox, founder, _admin = shop
    client = verified_client(founder)
    assert "开始使用" not in console(client, "/console/settings/")  # shown on the console: nothing to bring back
    response = client.post("/console/onboarding/", {"show": "0"})
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert state(founder, workspace) == Membership.Onboarding.HIDDEN
    assert CARD not in console(client) and "onboarding.js" not in console(client)
    assert CARD not in console(verified_client(founder))  # another session, another device: still off
    assert f'data-onboarding="{workspace.pk}"' in client.get("/admin/").content.decode()  # the admin index keeps it

    settings_page = console(client, "/console/settings/")
    assert "开始使用" in settings_page and "已完成 0 / 5 步" in settings_page
    assert 'name="show" value="1"' in settings_page and "在客服工作台显示开始使用清单" in settings_page
    response = client.post("/console/onboarding/", {"show": "1"})
    assert response.status_code == 302 and response["Location"] == "/console/#onboarding"
    assert state(founder, workspace) == Membership.Onboarding.SHOWN
    assert f'{CARD}="{workspace.pk}"' in console(client)
    assert "在客服工作台显示开始使用清单" not in console(client, "/console/settings/")


def test_the_choice_is_a_post_with_a_csrf_token(shop):
    workspace, _inbox, founder, _admin = shop
    assert verified_client(founder).get("/console/onboarding/").status_code == 405
    strict = verified_client(founder, Client(enforce_csrf_checks=True))
    assert strict.post("/console/onboarding/", {"show": "0"}).status_code == 403
    assert state(founder, workspace) == Membership.Onboarding.SHOWN
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', card(console(strict))).group(1)
    assert strict.post("/console/onboarding/", {"show": "0", "csrfmiddlewaretoken": token}).status_code == 302
    assert state(founder, workspace) == Membership.Onboarding.HIDDEN


@pytest.mark.engine_db
def test_complete_it_is_gone_for_good(shop):
    workspace, inbox, founder, _admin = shop
    client = verified_client(founder)
    client.post("/console/onboarding/", {"show": "0"})  # put off, then finished meanwhile: retired all the same
    Inbox.objects.filter(pk=inbox.pk).update(business_hours=WEEKDAY_HOURS)
    ChannelAccount.objects.create(inbox=make_inbox(workspace, kind=Inbox.Kind.WECOM_KF), app_id="ww1", token="t")
    make_agent(workspace, [inbox])
    member = Membership.objects.get(user=founder)
    publish_faqs(member, 5)
    send(make_visitor(inbox)[0], "测试")

    settings_page = console(client, "/console/settings/")
    assert "开始使用" not in settings_page
    assert state(founder, workspace) == Membership.Onboarding.DONE
    assert CARD not in console(client)
    # a step undone later (an FAQ taken back) does not bring it back, here or on the admin index,
    # and nothing the founder posts revives it
    Inbox.objects.filter(pk=inbox.pk).update(business_hours={})
    client.post("/console/onboarding/", {"show": "1"})
    assert state(founder, workspace) == Membership.Onboarding.DONE
    assert CARD not in console(client) and "开始使用" not in console(client, "/console/settings/")
    assert "data-onboarding" not in client.get("/admin/").content.decode()


@pytest.mark.engine_db
def test_the_card_is_the_workspace_the_console_is_in(shop):
    workspace, inbox, founder, _admin = shop
    rival = Membership.objects.get(user__username="rival").workspace
    # the founder also founded a second shop and is an agent in the rival's
    second = make_workspace("二店")
    Membership.objects.create(workspace=second, user=founder, role=Role.FOUNDER)
    make_inbox(second, business_hours=WEEKDAY_HOURS)
    Membership.objects.create(workspace=rival, user=founder, role=Role.AGENT)
    client = verified_client(founder)

    page = console(client, f"/console/?workspace={workspace.pk}")
    assert f'{CARD}="{workspace.pk}"' in page and done_steps(page) == set() and "· 0/5" in card(page)
    page = console(client, f"/console/?workspace={second.pk}")
    assert f'{CARD}="{second.pk}"' in page and done_steps(page) == {"hours"} and "· 1/5" in card(page)
    page = console(client, f"/console/?workspace={rival.pk}")  # every step done there, but not theirs to set up
    assert CARD not in page

    # putting one off leaves the other
    console(client, f"/console/?workspace={workspace.pk}")
    client.post("/console/onboarding/", {"show": "0"})
    assert CARD not in console(client)
    assert f'{CARD}="{second.pk}"' in console(client, f"/console/?workspace={second.pk}")
    assert state(founder, second) == Membership.Onboarding.SHOWN


def test_the_action_refuses_unknown_choices_and_other_roles(shop):
    workspace, _inbox, founder, admin_user = shop
    with pytest.raises(DomainError) as refused:
        account_actions.set_onboarding(founder, workspace.pk, "gone")
    assert refused.value.status == 400
    with pytest.raises(DomainError) as refused:
        account_actions.set_onboarding(admin_user, workspace.pk, Membership.Onboarding.HIDDEN)
    assert refused.value.status == 403
    rival = Membership.objects.get(user__username="rival").workspace
    with pytest.raises(DomainError):
        account_actions.set_onboarding(founder, rival.pk, Membership.Onboarding.HIDDEN)


@pytest.mark.engine_db
def test_the_card_costs_one_query_whether_shown_put_off_or_absent(shop):
    workspace, inbox, founder, admin_user = shop
    client = verified_client(founder)
    console(client)  # warm caches (content types, session)

    def count():
        with CaptureQueriesContext(connection) as queries:
            page = console(client)
        return len(queries), sum('AS "has_conversation"' in q["sql"] for q in queries.captured_queries), page

    shown, onboarding_queries, page = count()
    assert CARD in page and onboarding_queries == 1
    client.post("/console/onboarding/", {"show": "0"})
    put_off, onboarding_queries, page = count()
    assert CARD not in page and onboarding_queries == 1 and put_off == shown
    # an admin pays the same one query (it finds no founder's membership)
    admin = verified_client(admin_user)
    console(admin)
    with CaptureQueriesContext(connection) as queries:
        console(admin)
    assert sum('AS "has_conversation"' in q["sql"] for q in queries.captured_queries) == 1


@pytest.mark.parametrize("language,title,later", [("zh-hans", "开始使用", "稍后再说"), ("zh-hant", "開始使用", "稍後再說"),
                                                  ("en", "Get started", "Not now")])
def test_the_card_reads_in_the_founders_language(shop, language, title, later):
    _workspace, _inbox, founder, _admin = shop
    client = verified_client(founder)
    client.cookies["django_language"] = language
    html = card(client.get("/console/", HTTP_ACCEPT_LANGUAGE=language).content.decode())
    assert title in html and later in html
