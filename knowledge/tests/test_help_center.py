"""The public help center: only the workspace's published articles, constant query counts,
SEO (canonical, hreflang, sitemap, Open Graph), locale fallback, XSS, votes, search log and
help sessions, "Contact us" through the workspace's web inbox."""

import json
from html import escape
from html.parser import HTMLParser
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Role
from chat.models import Inbox
from conftest import make_agent, make_inbox, make_workspace
from knowledge import actions
from knowledge.models import Article, ArticleVersion, ArticleVote, Category, HelpSession, SearchLog
from knowledge.rendering import render_markdown

pytestmark = [pytest.mark.django_db]

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
XHTML = "{http://www.w3.org/1999/xhtml}"
EVIL_TITLE = "<script>alert('t')</script>Evil <img src=x onerror=alert('ti')>"
EVIL_META = "<script>alert('m')</script><img src=x onerror=alert('mi')>"
EVIL_SIMILAR = ["<img src=x onerror=alert('s')>", "<script>alert('ss')</script>"]
EVIL_BODY = "Hi <script>alert('b')</script>\n\n<img src=x onerror=alert('bi')>\n\n[x](javascript:alert('bl'))"


def publish(actor, slug, category, versions):
    article = actions.save_article(actor, slug=slug, category_id=category.pk if category else None, versions=versions)
    actions.publish(actor, article.pk)
    return Article.objects.get(pk=article.pk)


@pytest.fixture
def kb(personas):
    owner = Membership.objects.get(user=personas.owner_user)
    k = SimpleNamespace(ws=personas.workspace.slug, owner=owner)
    k.orders = actions.save_category(owner, slug="orders", name_zh_hans="订单", name_en="Orders")
    k.shipping = actions.save_category(owner, slug="shipping", parent_id=k.orders.pk, name_zh_hans="物流", name_en="Shipping")
    k.refund = publish(owner, "refund", k.orders, {
        "zh-hans": {"title": "如何申请退款", "body": "在订单页点击**申请退款**，七天内到账。", "similar_questions": ["退款多久到账"]},
        "en": {"title": "How to get a refund", "body": "Open the order and tap **Refund**.", "meta_description": "Refunds in 7 days."},
    })
    k.track = publish(owner, "track", k.shipping, {"zh-hans": {"title": "如何查询物流", "body": "在订单详情查看物流信息。"}})
    Article.objects.filter(pk=k.track.pk).update(view_count=50)
    k.draft = actions.save_article(owner, slug="draft-secret", category_id=k.orders.pk,
                                   versions={"zh-hans": {"title": "未发布的草稿", "body": "草稿内容"}})
    other = Article.objects.create(workspace=personas.other_workspace, slug="elsewhere", status=Article.Status.PUBLISHED)
    ArticleVersion.objects.create(article=other, locale="zh-hans", title="别家的文章", body="x", body_html=render_markdown("x"))
    k.other = other
    other_cat = Category.objects.create(workspace=personas.other_workspace, slug="other-topic", name_zh_hans="别家分类")
    Article.objects.filter(pk=other.pk).update(category=other_cat)
    return k


@pytest.fixture
def engine(monkeypatch):
    """A stand-in for knowledge.search.search that, unlike the real one, returns every
    matching version of any workspace and status: the views must filter."""
    import knowledge.search as module

    calls = []

    def fake(workspace_id, query, *, locale=None, limit=10):
        calls.append((workspace_id, query, locale, limit))
        hits = []
        for v in ArticleVersion.objects.select_related("article").order_by("pk"):
            if query in v.title or query in v.body or any(query in q for q in v.similar_questions):
                snippet = escape(v.body[:40]).replace(escape(query), f"<mark>{escape(query)}</mark>")
                hits.append(SimpleNamespace(article_id=v.article_id, locale=v.locale, title=v.title, snippet=snippet, score=1.0,
                                            slug=v.article.slug, category_id=v.article.category_id))
        return hits[:limit]

    monkeypatch.setattr(module, "search", fake, raising=False)
    return calls


class Elements(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.elements, self.script_text, self._in_script = [], [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_text.append(data)

    def find(self, tag, **attrs):
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def assert_inert(html):
    """No inline script, no event handler attribute, no javascript: URL; scripts only ours."""
    doc = Elements(html)
    assert doc.script_text == []
    for tag, attrs in doc.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action"):
            assert not (attrs.get(name) or "").strip().lower().startswith("javascript:"), (tag, attrs)
        if tag == "script":
            assert attrs["src"].startswith("/static/"), attrs
    assert "<script>alert" not in html and "<img src=x" not in html and '<img src="x"' not in html


def get(path, client=None, **extra):
    return (client or Client()).get(path, **extra)


# --- pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("accept,target", [("zh-CN,zh;q=0.9", "zh-hans"), ("zh-TW,zh;q=0.9", "zh-hant"), ("en-US,en;q=0.9", "en"),
                                           ("fr-FR", "zh-hans")])
def test_root_redirects_by_browser_language(kb, accept, target):
    r = get(f"/help/{kb.ws}/", HTTP_ACCEPT_LANGUAGE=accept)
    assert r.status_code == 302 and r["Location"] == f"/help/{kb.ws}/{target}/"
    assert "Accept-Language" in r["Vary"]


def test_root_lang_parameter_and_unknown_workspace(kb):
    assert get(f"/help/{kb.ws}/?lang=en", HTTP_ACCEPT_LANGUAGE="zh-CN")["Location"] == f"/help/{kb.ws}/en/"
    assert get("/help/no-such-shop/").status_code == 404
    assert get("/help/no-such-shop/en/").status_code == 404
    assert get(f"/help/{kb.ws}/fr/").status_code == 404


def test_home_lists_published_articles_of_the_workspace_only(kb):
    r = get(f"/help/{kb.ws}/en/")
    html = r.content.decode()
    assert r.status_code == 200
    assert "How to get a refund" in html and "如何查询物流" in html  # track has no English version: its Chinese title
    assert html.index("如何查询物流") < html.index("How to get a refund")  # popular first
    assert "未发布的草稿" not in html and "别家" not in html
    doc = Elements(html)
    orders = doc.find("a", href=f"/help/{kb.ws}/en/categories/orders/")
    assert orders and "Orders" in html and "2 articles" in html  # refund + track (subcategory); not the draft
    assert doc.find("a", href=f"/help/{kb.ws}/en/categories/shipping/") == []  # subcategories on their parent's page
    assert doc.find("form", action=f"/help/{kb.ws}/en/search/")
    assert r["Cache-Control"] == "public, max-age=60"
    assert "script-src 'self'" in r["Content-Security-Policy"] and "frame-src 'self'" in r["Content-Security-Policy"]
    assert "Set-Cookie" not in r.headers or "hc_visitor" not in r.headers["Set-Cookie"]


def test_category_pages(kb):
    html = get(f"/help/{kb.ws}/zh-hans/categories/orders/").content.decode()
    assert "<h1>订单</h1>" in html and "如何申请退款" in html and "物流" in html and "未发布的草稿" not in html
    doc = Elements(html)
    assert doc.find("a", href=f"/help/{kb.ws}/zh-hans/articles/refund/")
    assert doc.find("a", href=f"/help/{kb.ws}/zh-hans/categories/shipping/")
    sub = get(f"/help/{kb.ws}/en/categories/shipping/").content.decode()
    assert "如何查询物流" in sub and Elements(sub).find("a", href=f"/help/{kb.ws}/en/categories/orders/")  # breadcrumb
    assert get(f"/help/{kb.ws}/en/categories/nope/").status_code == 404
    assert get(f"/help/{kb.ws}/en/categories/other-topic/").status_code == 404  # another workspace's category


def test_article_page(kb, personas):
    client = Client()
    r = get(f"/help/{kb.ws}/zh-hans/articles/refund/", client)
    html = r.content.decode()
    assert r.status_code == 200
    assert "<h1>如何申请退款</h1>" in html and "<strong>申请退款</strong>" in html and "退款多久到账" in html
    doc = Elements(html)
    assert doc.find("time")
    assert doc.find("a", href=f"/help/{kb.ws}/zh-hans/categories/orders/")  # breadcrumbs
    assert doc.find("form", action=f"/help/{kb.ws}/zh-hans/articles/refund/vote", method="post")
    assert doc.find("input", name="csrfmiddlewaretoken")
    assert doc.find("button", name="helpful", value="yes") and doc.find("button", name="helpful", value="no")
    # "Contact us": the workspace's first web inbox; full-page chat as the fallback.
    assert doc.find("script", **{"data-inbox": personas.inbox_a.public_key})
    contact = doc.find("form", action="/widget/chat/")
    assert contact and "data-contact" in contact[0]
    assert doc.find("input", name="inbox", value=personas.inbox_a.public_key)
    assert doc.find("input", name="page", value=f"http://testserver/help/{kb.ws}/zh-hans/articles/refund/")
    assert [b for t, b in doc.elements if t == "button" and b.get("type") == "submit"]
    assert r["Cache-Control"] == "private, no-cache"
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert r.cookies["hc_visitor"].value and r.cookies["hc_visitor"]["httponly"]
    assert Article.objects.get(pk=kb.refund.pk).view_count == 1
    get(f"/help/{kb.ws}/zh-hans/articles/refund/", client)
    assert Article.objects.get(pk=kb.refund.pk).view_count == 2
    assert client.head(f"/help/{kb.ws}/zh-hans/articles/refund/").status_code == 200  # a probe, not a read
    assert Article.objects.get(pk=kb.refund.pk).view_count == 2
    # Related: same category, published only.
    Article.objects.filter(pk=kb.track.pk).update(category=kb.orders)
    html = get(f"/help/{kb.ws}/en/articles/refund/").content.decode()
    assert "如何查询物流" in html and "未发布的草稿" not in html


def test_drafts_other_workspaces_and_unknown_articles_are_404(kb, personas):
    assert get(f"/help/{kb.ws}/zh-hans/articles/draft-secret/").status_code == 404
    assert get(f"/help/{kb.ws}/zh-hans/articles/elsewhere/").status_code == 404  # another workspace's, under this slug
    assert get(f"/help/{personas.other_workspace.slug}/zh-hans/articles/elsewhere/").status_code == 200
    assert get(f"/help/{kb.ws}/zh-hans/articles/nope/").status_code == 404
    actions.unpublish(kb.owner, kb.refund.pk)
    assert get(f"/help/{kb.ws}/zh-hans/articles/refund/").status_code == 404
    assert "如何申请退款" not in get(f"/help/{kb.ws}/zh-hans/").content.decode()
    assert Article.objects.get(pk=kb.draft.pk).view_count == 0


def test_no_web_inbox_no_contact_button(personas):
    workspace = make_workspace("App only")
    make_inbox(workspace, name="App", kind=Inbox.Kind.APP)
    user, _actor = make_agent(workspace, role=Role.FOUNDER)
    owner = Membership.objects.get(user=user)
    publish(owner, "a1", None, {"en": {"title": "Only article", "body": "text"}})
    html = get(f"/help/{workspace.slug}/en/articles/a1/").content.decode()
    assert "Only article" in html
    assert Elements(html).find("form", action="/widget/chat/") == [] and "loader.js" not in html


def _count(path):
    with CaptureQueriesContext(connection) as queries:
        assert Client().get(path).status_code == 200
    return len(queries)


def test_query_counts_do_not_grow_with_content(kb):
    publish(kb.owner, "one-related", kb.orders, {"en": {"title": "One related", "body": "b"}})
    pages = [f"/help/{kb.ws}/en/", f"/help/{kb.ws}/en/categories/orders/", f"/help/{kb.ws}/en/articles/refund/", f"/help/{kb.ws}/sitemap.xml"]
    before = [_count(p) for p in pages]
    for n in range(6):
        category = actions.save_category(kb.owner, slug=f"topic-{n}", name_en=f"Topic {n}")
        publish(kb.owner, f"more-{n}", kb.orders if n % 2 else category,
                {"en": {"title": f"More {n}", "body": "b"}, "zh-hans": {"title": f"更多 {n}", "body": "b"}})
    after = [_count(p) for p in pages]
    assert after == before
    home, category, article, sitemap = after
    assert home <= 4 and category <= 4 and sitemap <= 4  # workspace (+ inbox), categories with counts, articles, titles
    assert article <= 8  # workspace, article, versions, related + titles, view count, help session (first view of the day)


# --- SEO ---------------------------------------------------------------------------------------


def test_canonical_hreflang_and_open_graph(kb):
    html = get(f"/help/{kb.ws}/en/articles/refund/").content.decode()
    doc = Elements(html)
    base = f"http://testserver/help/{kb.ws}"
    assert doc.find("link", rel="canonical") == [{"rel": "canonical", "href": f"{base}/en/articles/refund/"}]
    alternates = {a["hreflang"]: a["href"] for a in doc.find("link", rel="alternate")}
    assert alternates == {"zh-Hans": f"{base}/zh-hans/articles/refund/", "en": f"{base}/en/articles/refund/",
                          "x-default": f"{base}/zh-hans/articles/refund/"}  # no zh-Hant version: not listed
    assert doc.find("meta", name="description")[0]["content"] == "Refunds in 7 days."
    assert doc.find("meta", property="og:title")[0]["content"] == "How to get a refund"
    assert doc.find("meta", property="og:description")[0]["content"] == "Refunds in 7 days."
    assert doc.find("meta", property="og:url")[0]["content"] == f"{base}/en/articles/refund/"
    assert doc.find("meta", property="og:type")[0]["content"] == "article"
    assert "<title>How to get a refund · " in html and '<html lang="en">' in html
    # Without a meta description: the start of the text.
    zh = Elements(get(f"/help/{kb.ws}/zh-hans/articles/refund/").content.decode())
    assert zh.find("meta", name="description")[0]["content"] == "在订单页点击申请退款，七天内到账。"
    home = Elements(get(f"/help/{kb.ws}/zh-hant/").content.decode())
    assert {a["hreflang"]: a["href"] for a in home.find("link", rel="alternate")} == {
        "zh-Hans": f"{base}/zh-hans/", "zh-Hant": f"{base}/zh-hant/", "en": f"{base}/en/", "x-default": f"{base}/"}
    assert home.find("link", rel="canonical")[0]["href"] == f"{base}/zh-hant/"
    search = Elements(get(f"/help/{kb.ws}/en/search/").content.decode())
    assert search.find("meta", name="robots")[0]["content"] == "noindex, follow"


def test_locale_fallback_shows_another_version_with_a_notice(kb):
    html = get(f"/help/{kb.ws}/en/articles/track/").content.decode()
    doc = Elements(html)
    assert "<h1>如何查询物流</h1>" in html and "not available in your language" in html and "简体中文" in html
    assert doc.find("article", lang="zh-Hans") and '<html lang="en">' in html
    base = f"http://testserver/help/{kb.ws}"
    assert {a["hreflang"] for a in doc.find("link", rel="alternate")} == {"zh-Hans", "x-default"}
    assert doc.find("link", rel="canonical")[0]["href"] == f"{base}/zh-hans/articles/track/"
    assert "not available in your language" not in get(f"/help/{kb.ws}/zh-hans/articles/track/").content.decode()
    # zh-Hant falls back to zh-Hans first.
    assert "在订单页点击" in get(f"/help/{kb.ws}/zh-hant/articles/refund/").content.decode()


def test_sitemap_lists_published_versions_with_alternates(kb):
    r = get(f"/help/{kb.ws}/sitemap.xml")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/xml") and r["Cache-Control"].startswith("public")
    root = ElementTree.fromstring(r.content)
    assert root.tag == f"{SM}urlset"
    urls = {u.find(f"{SM}loc").text: u for u in root.findall(f"{SM}url")}
    base = f"http://testserver/help/{kb.ws}"
    for locale in ("zh-hans", "zh-hant", "en"):
        assert f"{base}/{locale}/" in urls and f"{base}/{locale}/categories/orders/" in urls
        assert f"{base}/{locale}/categories/shipping/" in urls
    articles = sorted(loc for loc in urls if "/articles/" in loc)
    assert articles == [f"{base}/en/articles/refund/", f"{base}/zh-hans/articles/refund/", f"{base}/zh-hans/articles/track/"]
    refund = urls[f"{base}/en/articles/refund/"]
    assert refund.find(f"{SM}lastmod").text.endswith("+00:00")
    links = {link.get("hreflang"): link.get("href") for link in refund.findall(f"{XHTML}link")}
    assert links == {"zh-Hans": f"{base}/zh-hans/articles/refund/", "en": f"{base}/en/articles/refund/",
                     "x-default": f"{base}/zh-hans/articles/refund/"}
    assert all(link.get("rel") == "alternate" for link in refund.findall(f"{XHTML}link"))
    assert b"draft-secret" not in r.content and b"elsewhere" not in r.content
    assert get("/help/no-such-shop/sitemap.xml").status_code == 404


# --- XSS ---------------------------------------------------------------------------------------


def test_hostile_article_text_is_neutralised_everywhere(kb, monkeypatch):
    evil = publish(kb.owner, "evil", kb.orders, {"zh-hans": {"title": EVIL_TITLE, "body": EVIL_BODY, "meta_description": EVIL_META,
                                                              "similar_questions": EVIL_SIMILAR}})
    Article.objects.filter(pk=evil.pk).update(view_count=999)
    import knowledge.search as module

    def hostile_engine(workspace_id, query, *, locale=None, limit=10):
        # A snippet as a broken engine might send it: markup must not get through.
        return [SimpleNamespace(article_id=evil.pk, locale="zh-hans", title=EVIL_TITLE, score=1.0, slug="evil", category_id=kb.orders.pk,
                                snippet="Hi <script>alert('x')</script><img src=x onerror=alert('y')><mark>Evil</mark> &lt;b&gt;")]

    monkeypatch.setattr(module, "search", hostile_engine, raising=False)
    pages = [f"/help/{kb.ws}/zh-hans/", f"/help/{kb.ws}/zh-hans/categories/orders/", f"/help/{kb.ws}/zh-hans/articles/evil/",
             f"/help/{kb.ws}/zh-hans/search/?q=Evil"]
    for path in pages:
        r = get(path)
        assert r.status_code == 200, path
        html = r.content.decode()
        assert_inert(html)
        assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;Evil" in html, path  # the title, escaped
    article = Elements(get(f"/help/{kb.ws}/zh-hans/articles/evil/").content.decode())
    assert article.find("meta", name="description")[0]["content"] == EVIL_META  # an attribute value, escaped on the wire
    search = get(f"/help/{kb.ws}/zh-hans/search/?q=Evil").content.decode()
    assert "<mark>Evil</mark> &lt;b&gt;" in search

    r = get(f"/help/{kb.ws}/zh-hans/search.json?q=Evil")
    assert r["Content-Type"] == "application/json" and b"<" not in r.content and b">" not in r.content
    result = r.json()["results"][0]
    assert result["title"] == EVIL_TITLE  # text, for textContent
    assert result["snippet"] == "Hi <mark>Evil</mark> &lt;b&gt;"
    assert_inert(result["snippet"])


def test_real_search_engine_results_are_published_only_and_neutralised(kb, search_index):
    """The same pages with knowledge.search's real engine (Whoosh index in this test's folder)."""
    from knowledge import search

    evil = publish(kb.owner, "evil", kb.orders, {"zh-hans": {"title": EVIL_TITLE + " 退款", "body": EVIL_BODY + "\n\n退款说明",
                                                              "meta_description": EVIL_META, "similar_questions": EVIL_SIMILAR}})
    for article in (kb.refund, kb.track, kb.draft, kb.other, evil):
        search.index_article(article.pk)  # the actions' after-commit hooks do not run inside a test transaction
    html = get(f"/help/{kb.ws}/zh-hans/search/?q=退款").content.decode()
    assert_inert(html)
    assert "如何申请退款" in html and "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;Evil" in html and "<mark>退款</mark>" in html
    r = get(f"/help/{kb.ws}/zh-hans/search.json?q=退款")
    assert b"<" not in r.content
    results = r.json()["results"]
    assert {x["url"] for x in results} == {f"/help/{kb.ws}/zh-hans/articles/refund/", f"/help/{kb.ws}/zh-hans/articles/evil/"}
    for x in results:
        assert_inert(x["snippet"])
        assert "<mark>退款</mark>" in x["snippet"]
    assert "未发布的草稿" not in get(f"/help/{kb.ws}/zh-hans/search/?q=草稿").content.decode()
    assert "别家的文章" not in get(f"/help/{kb.ws}/zh-hans/search/?q=别家").content.decode()
    assert list(SearchLog.objects.filter(result_count=0).values_list("query", flat=True)) == ["草稿", "别家"]


# --- votes ---------------------------------------------------------------------------------------


def _csrf_client(kb):
    client = Client(enforce_csrf_checks=True)
    html = client.get(f"/help/{kb.ws}/en/articles/refund/").content.decode()
    token = Elements(html).find("input", name="csrfmiddlewaretoken")[0]["value"]
    return client, token


def test_vote_requires_csrf_and_counts_through_actions(kb, monkeypatch):
    url = f"/help/{kb.ws}/en/articles/refund/vote"
    client, token = _csrf_client(kb)
    assert client.post(url, {"helpful": True}, content_type="application/json").status_code == 403
    assert Client(enforce_csrf_checks=True).post(url, {"helpful": "yes"}).status_code == 403
    calls = []
    real_vote = actions.vote
    monkeypatch.setattr(actions, "vote", lambda *a: calls.append(a) or real_vote(*a))
    r = client.post(url, {"helpful": True}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 200 and r.json() == {"helpful": True, "helpful_count": 1, "not_helpful_count": 0}
    visitor = client.cookies["hc_visitor"].value
    assert calls == [(kb.refund.pk, visitor, True)]
    # A changed mind moves the vote; the same answer again counts once.
    assert client.post(url, {"helpful": False}, content_type="application/json", HTTP_X_CSRFTOKEN=token).json()["not_helpful_count"] == 1
    client.post(url, {"helpful": False}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    article = Article.objects.get(pk=kb.refund.pk)
    assert (article.helpful_count, article.not_helpful_count) == (0, 1)
    assert ArticleVote.objects.get(article=kb.refund, voter_key=visitor).helpful is False
    # The page's form without JavaScript: a redirect back with a thank-you.
    r = client.post(url, {"helpful": "yes", "csrfmiddlewaretoken": token})
    assert r.status_code == 303 and r["Location"] == f"/help/{kb.ws}/en/articles/refund/?voted=1#feedback"
    assert "Thanks for your feedback" in client.get(r["Location"]).content.decode()
    assert Article.objects.get(pk=kb.refund.pk).helpful_count == 1


@pytest.mark.parametrize("body,kind", [({"helpful": "maybe"}, "json"), ({"helpful": 1}, "json"), ([True], "json"), ("{not json", "raw"),
                                       ({}, "json"), ({"helpful": "perhaps"}, "form"), ({}, "form")])
def test_vote_bad_input_is_400(kb, body, kind):
    client, token = _csrf_client(kb)
    url = f"/help/{kb.ws}/en/articles/refund/vote"
    if kind == "form":
        r = client.post(url, {**body, "csrfmiddlewaretoken": token})
    else:
        r = client.post(url, body if kind == "json" else body.encode(), content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_vote"
    assert ArticleVote.objects.count() == 0


def test_vote_on_unpublished_or_foreign_article_is_404_and_get_405(kb):
    client, token = _csrf_client(kb)
    for slug in ("draft-secret", "elsewhere", "nope"):
        r = client.post(f"/help/{kb.ws}/en/articles/{slug}/vote", {"helpful": True}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
        assert r.status_code == 404
    assert client.get(f"/help/{kb.ws}/en/articles/refund/vote").status_code == 405
    assert ArticleVote.objects.count() == 0


# --- search, search log, help sessions -----------------------------------------------------------


def test_search_page_shows_only_published_articles_of_the_workspace(kb, engine):
    html = get(f"/help/{kb.ws}/zh-hans/search/?q=如何").content.decode()
    assert "如何申请退款" in html and "如何查询物流" in html
    assert "未发布的草稿" not in html and "别家的文章" not in html
    html = get(f"/help/{kb.ws}/zh-hans/search/?q=草稿").content.decode()  # only the draft matches
    assert "未发布的草稿" not in html and "hc-empty" in html  # the "no articles match" notice
    assert Elements(html).find("form", action="/widget/chat/")  # contact us after a failed search
    assert Elements(html).find("input", name="page")[0]["value"] == f"http://testserver/help/{kb.ws}/zh-hans/search/?q=%E8%8D%89%E7%A8%BF"
    assert engine[0][:3] == (kb.refund.workspace_id, "如何", "zh-hans")


def test_search_json(kb, engine):
    r = get(f"/help/{kb.ws}/zh-hans/search.json?q=退款")
    data = r.json()
    assert data["query"] == "退款" and data["count"] == 1
    assert data["results"] == [{"title": "如何申请退款", "snippet": "在订单页点击**申请<mark>退款</mark>**，七天内到账。",
                                "url": f"/help/{kb.ws}/zh-hans/articles/refund/", "locale": "zh-hans"}]
    assert r["Cache-Control"] == "private, no-store"
    assert get(f"/help/{kb.ws}/zh-hans/search.json?q=").json() == {"query": "", "count": 0, "results": []}
    assert get("/help/nope/zh-hans/search.json?q=x").status_code == 404


def test_searches_are_logged_including_zero_results(kb, engine):
    client = Client()
    get(f"/help/{kb.ws}/zh-hans/search/?q=退款", client)
    visitor = client.cookies["hc_visitor"].value
    get(f"/help/{kb.ws}/en/search/?q=  no   such thing ", client)
    rows = list(SearchLog.objects.order_by("pk").values_list("query", "locale", "source", "result_count", "visitor_key", "workspace__slug"))
    assert rows == [("退款", "zh-hans", "help_center", 1, visitor, kb.ws), ("no such thing", "en", "help_center", 0, visitor, kb.ws)]
    assert get(f"/help/{kb.ws}/en/search/?q=", client).status_code == 200
    assert SearchLog.objects.count() == 2  # an empty query is not a search


def test_typing_in_the_instant_search_is_one_logged_search(kb, engine):
    client = Client()
    for q in ("物", "物流", "物流信", "物流信息"):
        get(f"/help/{kb.ws}/zh-hans/search.json?q={q}", client)
    get(f"/help/{kb.ws}/zh-hans/search/?q=物流信息", client)  # then Enter: still the same search
    get(f"/help/{kb.ws}/zh-hans/search.json?q=退款", client)  # another search
    assert list(SearchLog.objects.order_by("pk").values_list("query", "result_count")) == [("物流信息", 1), ("退款", 1)]


def test_one_help_session_per_visitor_per_day(kb, engine):
    client = Client()
    get(f"/help/{kb.ws}/zh-hans/", client)
    assert HelpSession.objects.count() == 0  # browsing the home page is not yet a self-service session
    get(f"/help/{kb.ws}/zh-hans/articles/refund/", client)
    get(f"/help/{kb.ws}/zh-hans/search/?q=退款", client)
    get(f"/help/{kb.ws}/zh-hans/articles/track/", client)
    sessions = list(HelpSession.objects.values_list("workspace__slug", "visitor_key", "source", "customer"))
    assert sessions == [(kb.ws, client.cookies["hc_visitor"].value, "help_center", None)]
    get(f"/help/{kb.ws}/zh-hans/search.json?q=退款")  # another visitor
    assert HelpSession.objects.count() == 2
    # The next day (cache forgotten too): a new session.
    from django.core.cache import cache

    HelpSession.objects.update(started_at=HelpSession.objects.first().started_at.replace(year=2020))
    cache.clear()
    get(f"/help/{kb.ws}/zh-hans/articles/refund/", client)
    assert HelpSession.objects.filter(visitor_key=client.cookies["hc_visitor"].value).count() == 2


def test_visitor_cookie_is_validated(kb, engine):
    client = Client()
    client.cookies["hc_visitor"] = "<script>"
    r = get(f"/help/{kb.ws}/zh-hans/search.json?q=退款", client)
    assert r.cookies["hc_visitor"].value != "<script>"
    assert SearchLog.objects.get().visitor_key == r.cookies["hc_visitor"].value
    assert json.loads(r.content)["count"] == 1
