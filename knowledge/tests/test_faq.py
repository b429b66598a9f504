"""常见问题 in the console (issue 19, item 4) and internal-only articles: agents find every published
article of their workspace from the composer (internal ones included, marked, with no card link);
the help center, the widget's search API and the bot never show an internal article, and still give
customers as many public results as before. Real search engine (Whoosh, this test's own index)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog, Membership
from chat.models import Conversation, Message
from conftest import make_visitor, send, verified_client
from knowledge import actions, faq, search
from knowledge.models import Article, ArticleVersion
from knowledge.rendering import render_markdown

pytestmark = pytest.mark.django_db

PUBLIC = ("returns", "如何退货", "收到商品 7 天内可以申请退货：\n\n1. 在订单页点击**申请售后**\n2. 填写退货原因", ["怎么退货", "我要退货"])
INTERNAL = ("returns-internal", "退货审核内部流程", "退货申请先查**物流签收**记录，再在后台点击“同意退货”。仅限客服查看。", ["退货审核怎么操作"])
MORE = [(f"returns-{i}", f"退货说明 {i}", f"退货相关说明第 {i} 条。", []) for i in range(6)]


def write(owner, slug, title, body, similar, *, internal=False):
    article = actions.save_article(owner, slug=slug, versions={"zh-hans": {"title": title, "body": body, "similar_questions": similar}},
                                   internal_only=internal)
    actions.publish(owner, article.pk)
    search.index_article(article.pk)  # the actions' after-commit hooks do not run inside a test transaction
    return Article.objects.get(pk=article.pk)


@pytest.fixture
def kb(personas, search_index):
    p = personas
    owner = Membership.objects.get(user=p.owner_user)
    p.public = write(owner, *PUBLIC)
    p.internal = write(owner, *INTERNAL, internal=True)
    p.draft = actions.save_article(owner, slug="draft", versions={"zh-hans": {"title": "退货草稿", "body": "未发布"}})
    theirs = Article.objects.create(workspace=p.other_workspace, slug="zebra", status=Article.Status.PUBLISHED, internal_only=True)
    ArticleVersion.objects.create(article=theirs, locale="zh-hans", title="Zebra 退货内部", body="Zebra", body_html=render_markdown("Zebra"))
    search.index_article(theirs.pk)
    return p


def faq_search(client, q=""):
    r = client.get("/console/faq/", {"q": q}, HTTP_ACCEPT="application/json")
    assert r.status_code == 200, r.content
    return r.json()["articles"]


def test_agents_find_public_and_internal_articles_of_their_workspace_only(kb):
    agent = verified_client(kb.agent_a_user)
    found = {a["title"]: a for a in faq_search(agent, "退货")}
    assert set(found) == {"如何退货", "退货审核内部流程"}  # no draft, nothing of the other workspace
    public, internal = found["如何退货"], found["退货审核内部流程"]
    assert public["internal"] is False and public["url"] == f"/help/{kb.workspace.slug}/zh-hans/articles/returns/"
    assert internal["internal"] is True and internal["url"] is None  # no help-center page to send as a card
    # The answer to paste: the text without Markdown marks, lines kept.
    assert public["answer"] == "收到商品 7 天内可以申请退货：\n\n在订单页点击申请售后\n填写退货原因"
    assert internal["answer"].startswith("退货申请先查物流签收记录")
    assert len(public["summary"]) <= faq.SUMMARY_CHARS
    # Similar questions are searched too; an empty query lists the most read.
    assert [a["title"] for a in faq_search(agent, "退货审核怎么操作")][0] == "退货审核内部流程"
    Article.objects.filter(pk=kb.internal.pk).update(view_count=10)
    assert [a["title"] for a in faq_search(agent, "")] == ["退货审核内部流程", "如何退货"]
    # The other workspace's agent sees only theirs.
    assert [a["title"] for a in faq_search(verified_client(kb.other_agent_user), "退货")] == ["Zebra 退货内部"]


def test_the_faq_needs_an_agent_and_costs_the_same_whatever_the_size(kb):
    assert Client().get("/console/faq/?q=退货").status_code in (302, 401, 403)
    customer = Client(HTTP_AUTHORIZATION=f"Customer {kb.visitor_token}")
    assert customer.get("/console/faq/?q=退货").status_code in (302, 401, 403)
    agent = verified_client(kb.agent_a_user)
    faq_search(agent, "")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        faq_search(agent, "")
    owner = Membership.objects.get(user=kb.owner_user)
    for item in MORE:
        write(owner, *item)
    with CaptureQueriesContext(connection) as many:
        assert len(faq_search(agent, "")) == 8
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as searched:
        assert len(faq_search(agent, "退货")) == 8  # every matching article (under AGENT_LIMIT)
    assert len(searched) <= len(few) + 2


def test_the_help_center_never_shows_an_internal_article(kb):
    ws = kb.workspace.slug
    client = Client()
    home = client.get(f"/help/{ws}/zh-hans/").content.decode()
    assert "如何退货" in home and "退货审核内部流程" not in home
    assert client.get(f"/help/{ws}/zh-hans/articles/returns-internal/").status_code == 404
    page = client.get(f"/help/{ws}/zh-hans/search/", {"q": "退货审核"}).content.decode()
    assert "退货审核内部流程" not in page and "物流签收" not in page
    results = client.get(f"/help/{ws}/zh-hans/search.json", {"q": "退货"}).json()["results"]
    assert [r["title"] for r in results] == ["如何退货"]
    assert "returns-internal" not in client.get(f"/help/{ws}/sitemap.xml").content.decode()
    r = client.post(f"/help/{ws}/zh-hans/articles/returns-internal/vote", {"helpful": True}, content_type="application/json")
    assert r.status_code in (403, 404)
    assert not actions.record_view(kb.internal.pk)
    assert Article.objects.get(pk=kb.internal.pk).view_count == 0


def test_customers_search_gets_as_many_public_results_as_before(kb):
    owner = Membership.objects.get(user=kb.owner_user)
    for slug, title, body, similar in MORE:  # 7 public articles about 退货 now, and the internal one ranks high
        write(owner, slug, title, body, similar)
    customer = Client(HTTP_AUTHORIZATION=f"Customer {kb.visitor_token}")
    results = customer.get("/api/v1/customer/help/search", {"q": "退货审核"}).json()["results"]
    assert len(results) == 5 and all("内部" not in r["title"] and "物流签收" not in r["snippet"] for r in results)
    assert "退货审核内部流程" in [h.title for h in search.search(kb.workspace.pk, "退货审核", limit=5)]  # the index has it
    hits = faq.customer_search(kb.workspace.pk, "退货审核", limit=5)
    assert len(hits) == 5 and kb.internal.pk not in {h.article_id for h in hits}


def test_the_bot_never_answers_with_an_internal_article(kb, django_capture_on_commit_callbacks):
    kb.inbox_a.bot_first = True
    kb.inbox_a.save()
    visitor, _token = make_visitor(kb.inbox_a)
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = send(visitor, "退货审核怎么操作")
    conversation = Conversation.objects.get(pk=message.conversation_id)
    said = list(Message.objects.filter(conversation=conversation, sender_kind="bot"))
    assert said  # it answered or suggested something
    for m in said:
        assert "退货审核内部流程" not in m.body and "物流签收" not in m.body
        assert all("returns-internal" not in (a.get("url") or "") and a.get("article") != kb.internal.pk for a in m.attachments)


def test_the_owner_marks_an_article_internal_in_the_admin_audited(kb):
    owner = Membership.objects.get(user=kb.owner_user)
    html = verified_client(kb.owner_user).get(f"/admin/knowledge/article/{kb.public.pk}/change/").content.decode()
    assert 'name="internal_only"' in html
    actions.save_article(owner, kb.public.pk, slug="returns", versions={}, internal_only=True)
    assert Article.objects.get(pk=kb.public.pk).internal_only is True
    row = AuditLog.objects.filter(action="article.change", target_id=str(kb.public.pk)).latest("pk")
    assert row.before["internal_only"] is False and row.after["internal_only"] is True
    assert Client().get(f"/help/{kb.workspace.slug}/zh-hans/articles/returns/").status_code == 404
    # Left out (None), the flag stays as it is.
    actions.save_article(owner, kb.public.pk, slug="returns", tags="x", versions={})
    assert Article.objects.get(pk=kb.public.pk).internal_only is True


@pytest.mark.parametrize("q", ["退" * 5000, "<script>alert(1)</script>", "   ", "*)(|&", "退货' OR 1=1 --"])
def test_odd_faq_queries_are_answered_without_error_or_markup(kb, q):
    articles = faq_search(verified_client(kb.agent_a_user), q)
    assert all(set(a) == {"id", "locale", "title", "summary", "answer", "internal", "url"} for a in articles)
    assert all("<" not in a["summary"] for a in articles)


def test_a_nul_in_the_faq_query_is_refused(kb):
    assert verified_client(kb.agent_a_user).get("/console/faq/?q=%00", HTTP_ACCEPT="application/json").status_code == 400
