"""The founder's onboarding checklist (issue 20 item 5): each step ticks itself from the database,
the whole checklist is one query, and the admin index shows it to founders only, until it is done."""

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import Membership, Role
from chat import identity
from chat.models import Conversation, CustomerVisit, Inbox
from conftest import make_agent, make_inbox, make_visitor, make_workspace, send, verified_client
from connectors.models import ChannelAccount
from knowledge import actions as kb_actions
from knowledge import search
from surfaces.onboarding import checklists_for

pytestmark = [pytest.mark.django_db]

WEEKDAY_HOURS = {"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]]}}


@pytest.fixture
def fresh(monkeypatch):
    """A founder's new workspace with one web inbox (as `make run` leaves it), and a rival workspace
    that has done every step (none of it may count for the founder)."""
    monkeypatch.setattr(search, "index_article", lambda article_id: None)
    monkeypatch.setattr(search, "remove_article", lambda article_id: None)
    workspace = make_workspace("茶馆")
    inbox = make_inbox(workspace, name="官网")
    founder, _actor = make_agent(workspace, [inbox], role=Role.FOUNDER, username="店主")
    rival = make_workspace("对手")
    rival_inbox = make_inbox(rival, business_hours=WEEKDAY_HOURS)
    rival_founder, _ = make_agent(rival, [rival_inbox], role=Role.FOUNDER, username="rival")
    make_agent(rival, [rival_inbox])
    ChannelAccount.objects.create(inbox=make_inbox(rival, kind=Inbox.Kind.WECHAT_OA), app_id="wx1", token="t")
    visitor, _token = make_visitor(rival_inbox)
    send(visitor, "你好")
    rival_member = Membership.objects.get(user=rival_founder)
    for n in range(5):
        article = kb_actions.save_article(rival_member, slug=f"a{n}", versions={"zh-hans": {"title": f"问题{n}", "body": "答"}})
        kb_actions.publish(rival_member, article.pk)
    return workspace, inbox, founder


def steps(user):
    (checklist,) = checklists_for(user)
    return {step.key: step.done for step in checklist.steps}


@pytest.mark.engine_db
def test_a_fresh_workspace_has_nothing_ticked_in_one_query(fresh, django_assert_num_queries):
    _workspace, inbox, founder = fresh
    with django_assert_num_queries(1):
        (checklist,) = checklists_for(founder)
    assert [step.key for step in checklist.steps] == ["channel", "agents", "hours", "faqs", "test_chat"]
    assert not any(step.done for step in checklist.steps) and checklist.done_count == 0 and checklist.percent == 0
    urls = {step.key: step.url for step in checklist.steps}
    assert urls["test_chat"] == f"{reverse('chat:widget-page')}?inbox={inbox.public_key}"
    assert urls["faqs"] == reverse("admin:knowledge_article_add") and urls["hours"] == reverse("admin:chat_inbox_changelist")


def test_connecting_wechat_ticks_the_channel(fresh):
    workspace, _inbox, founder = fresh
    ChannelAccount.objects.create(inbox=make_inbox(workspace, kind=Inbox.Kind.WECHAT_OA), app_id="wx2", token="t")
    assert steps(founder)["channel"] is True


def test_the_embedded_widget_ticks_the_channel_but_a_chat_on_our_own_page_does_not(fresh):
    _workspace, inbox, founder = fresh
    visitor, _token = make_visitor(inbox)
    send(visitor, "测试")  # the full-page chat: a conversation, no page of the merchant's site
    assert steps(founder) == {"channel": False, "agents": False, "hours": False, "faqs": False, "test_chat": True}
    identity.record_visit(visitor, {"url": "https://shop.example.com/item/1", "title": "商品"})
    assert CustomerVisit.objects.filter(inbox=inbox).exists()
    assert steps(founder)["channel"] is True


def test_an_agent_ticks_add_agents_but_another_admin_does_not(fresh):
    workspace, inbox, founder = fresh
    make_agent(workspace, role=Role.ADMIN)
    assert steps(founder)["agents"] is False
    make_agent(workspace, [inbox])
    assert steps(founder)["agents"] is True


@pytest.mark.engine_db
def test_business_hours_on_any_inbox_tick(fresh):
    workspace, _inbox, founder = fresh
    make_inbox(workspace, name="小程序", business_hours=WEEKDAY_HOURS)
    assert steps(founder)["hours"] is True


@pytest.mark.engine_db
def test_five_published_public_articles_tick_the_faqs(fresh):
    workspace, _inbox, founder = fresh
    member = Membership.objects.get(user=founder)
    articles = [kb_actions.save_article(member, slug=f"q{n}", versions={"zh-hans": {"title": f"常见问题{n}", "body": "答"}})
                for n in range(6)]
    for article in articles[:4]:
        kb_actions.publish(member, article.pk)
    internal = articles[5]
    kb_actions.save_article(member, internal, slug=internal.slug, versions={}, internal_only=True)
    kb_actions.publish(member, internal.pk)  # for agents only: not an FAQ customers see
    (checklist,) = checklists_for(founder)
    faqs = next(step for step in checklist.steps if step.key == "faqs")
    assert faqs.done is False and "4" in str(faqs.hint)
    kb_actions.publish(member, articles[4].pk)
    assert steps(founder)["faqs"] is True


def test_a_done_checklist_is_gone_and_the_index_shows_it_to_founders_only(fresh):
    workspace, inbox, founder = fresh
    client = verified_client(founder)
    with translation.override("zh-hans"):
        page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-onboarding="%s"' % workspace.pk in page and "开始使用" in page and "添加五条常见问题" in page
    admin_user, _ = make_agent(workspace, role=Role.ADMIN)
    assert "data-onboarding" not in verified_client(admin_user).get("/admin/").content.decode()

    # every step done: the checklist leaves the index
    Inbox.objects.filter(pk=inbox.pk).update(business_hours=WEEKDAY_HOURS)
    ChannelAccount.objects.create(inbox=make_inbox(workspace, kind=Inbox.Kind.WECOM_KF), app_id="ww1", token="t")
    make_agent(workspace, [inbox])
    member = Membership.objects.get(user=founder)
    for n in range(5):
        article = kb_actions.save_article(member, slug=f"f{n}", versions={"zh-hans": {"title": f"问{n}", "body": "答"}})
        kb_actions.publish(member, article.pk)
    send(make_visitor(inbox)[0], "测试")
    assert Conversation.objects.filter(workspace=workspace).exists()
    assert checklists_for(founder) == []
    assert "data-onboarding" not in client.get("/admin/").content.decode()


def test_a_founder_of_two_workspaces_gets_one_checklist_each_in_one_query(fresh, django_assert_num_queries):
    _workspace, _inbox, founder = fresh
    second = make_workspace("二店")
    Membership.objects.create(workspace=second, user=founder, role=Role.FOUNDER)
    with django_assert_num_queries(1):
        checklists = checklists_for(founder)
    assert [c.workspace.name for c in checklists] == ["茶馆", "二店"]
    assert "二店" in verified_client(founder).get("/admin/").content.decode()


@pytest.mark.parametrize("language,title,step", [("zh-hans", "开始使用", "设置营业时间"), ("zh-hant", "開始使用", "設定營業時間"),
                                                 ("en", "Get started", "Set business hours")])
def test_the_checklist_reads_in_the_founders_language(fresh, language, title, step):
    _workspace, _inbox, founder = fresh
    client = verified_client(founder)
    client.cookies["django_language"] = language
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert title in page and step in page
