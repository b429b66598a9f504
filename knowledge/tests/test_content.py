"""Knowledge-base content: safe Markdown rendering, authoring actions (versions,
revisions, publish, audit, search hooks after commit), counters under concurrency,
permissions, and the admin pages built on the same actions."""

import threading

import pytest

from accounts.models import AuditLog, Membership, Role
from conftest import make_agent, run_threads, verified_client
from helpdesk.errors import DomainError
from knowledge import actions, search
from knowledge.models import Article, ArticleRevision, ArticleVersion, ArticleVote, Category
from knowledge.rendering import plain_text, render_markdown

# --- rendering -----------------------------------------------------------------------


def test_markdown_keeps_the_usual_formatting():
    html = render_markdown(
        "# Refunds\n\nWe refund **within 7 days**, see *terms* and `ORDER-1`.\n\n## Steps\n\n1. Open the order\n2. Tap refund\n\n"
        "- one\n- two\n\n> Note\n\n---\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode block\n```\n\n"
        "[help](https://example.com/help \"Help\") [page](/help/other) [mail](mailto:help@example.com) ![pic](https://example.com/a.png \"P\")"
    )
    for fragment in ["<h2>Refunds</h2>", "<strong>within 7 days</strong>", "<em>terms</em>", "<code>ORDER-1</code>", "<ol>", "<li>Open the order</li>",
                     "<ul>", "<blockquote>", "<hr>", "<table>", "<th>a</th>", "<td>2</td>", "<pre><code>code block",
                     '<a href="https://example.com/help" title="Help" rel="noopener noreferrer nofollow">help</a>',
                     '<a href="/help/other" rel="noopener noreferrer nofollow">page</a>', 'href="mailto:help@example.com"',
                     '<img src="https://example.com/a.png" alt="pic" title="P">']:
        assert fragment in html, fragment
    assert "<h1>" not in html  # the page title is the h1: headings are clamped to h2-h4
    assert "<h4>deep</h4>" in render_markdown("###### deep")


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "Hello <script>alert(1)</script> there",
    '<img src="x" onerror="alert(1)">',
    "<iframe src=\"https://evil.example\"></iframe>",
    '<div onclick="alert(1)">\n\n**raw block**\n\n</div>',
    "<style>body{display:none}</style>",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
])
def test_raw_html_is_shown_as_text_never_as_markup(source):
    html = render_markdown(source)
    lowered = html.lower()
    for tag in ["<script", "<img", "<iframe", "<div", "<style", "<svg", "<a "]:
        assert tag not in lowered, (source, html)
    assert "&lt;" in html  # escaped, so the reader sees what was typed


@pytest.mark.parametrize("source", [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2Zy8+)",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
])
def test_dangerous_urls_are_dropped(source):
    html = render_markdown(source).lower()
    assert 'href="javascript' not in html and 'src="javascript' not in html
    assert 'href="data:' not in html and 'src="data:' not in html
    assert 'href="vbscript' not in html


def test_link_titles_cannot_inject_attributes():
    html = render_markdown('[t](https://example.com "x&quot; onmouseover=&quot;alert(1)") and [u](https://example.com \'a" onclick="b\')')
    assert ' onmouseover="' not in html and ' onclick="' not in html
    assert 'title="x&quot; onmouseover=&quot;alert(1)"' in html  # the quote stays inside the attribute value


def test_only_allowed_attributes_survive():
    from knowledge.rendering import sanitize

    html = sanitize('<p style="x" class="c" id="i">a <a href="https://e.x" target="_blank" onclick="x">b</a></p><h1>t</h1><video src="v"></video>')
    assert html == '<p>a <a href="https://e.x" rel="noopener noreferrer nofollow">b</a></p>t'


def test_plain_text_for_snippets():
    assert plain_text("# Refunds\n\nWe **refund** within 7 days.\n\n- fast\n- easy") == "Refunds We refund within 7 days. fast easy"
    assert plain_text(render_markdown("One <b>two</b> & three")) == "One <b>two</b> & three"  # plain text: the template escapes it
    assert plain_text("<p>Hello <strong>there</strong></p><script>x()</script>") == "Hello there"
    long = plain_text("word " * 100, limit=40)
    assert len(long) <= 40 and long.endswith("…")
    assert plain_text("") == ""


# --- authoring actions ---------------------------------------------------------------


@pytest.fixture
def kb(personas):
    personas.owner_member = Membership.objects.get(user=personas.owner_user)
    personas.agent_member = Membership.objects.get(user=personas.agent_a_user)
    personas.other_member = Membership.objects.get(user=personas.other_agent_user)
    personas.other_founder_user, _ = make_agent(personas.other_workspace, role=Role.FOUNDER, username="founder_z")
    personas.other_founder = Membership.objects.get(user=personas.other_founder_user)
    return personas


@pytest.fixture
def hooks(monkeypatch):
    calls = []
    monkeypatch.setattr(search, "index_article", lambda article_id: calls.append(("index", article_id)))
    monkeypatch.setattr(search, "remove_article", lambda article_id: calls.append(("remove", article_id)))
    return calls


def v(title, body="Body", questions=(), meta=""):
    return {"title": title, "body": body, "similar_questions": list(questions), "meta_description": meta}


def make_article(kb, slug="refunds", **versions):
    versions = versions or {"zh-hans": v("如何退款", "退款说明 **七天内**", ["怎么退钱", "退款流程"])}
    return actions.save_article(kb.owner_member, workspace_id=kb.workspace.pk, slug=slug, tags="退款, refund", versions=versions)


@pytest.mark.django_db
def test_save_article_creates_versions_revisions_and_rendering(kb):
    article = make_article(kb, en=v("How to get a refund", "Within **7 days**.\n\n<script>x</script>"), **{"zh-hans": v("如何退款", "七天内")})
    assert article.status == Article.Status.DRAFT and article.tags == "退款, refund"
    versions = {ver.locale: ver for ver in article.versions.all()}
    assert set(versions) == {"en", "zh-hans"}
    assert versions["en"].body_html.startswith("<p>Within <strong>7 days</strong>.</p>")
    assert "<script>" not in versions["en"].body_html
    assert ArticleRevision.objects.filter(version__article=article).count() == 2
    assert ArticleRevision.objects.filter(version=versions["en"], author=kb.owner_user).count() == 1
    assert AuditLog.objects.filter(action="article.add", actor=kb.owner_user, target_id=str(article.pk), denied=False).count() == 1


@pytest.mark.django_db
def test_revision_only_for_changed_locales(kb):
    article = make_article(kb, en=v("Refunds", "A"), **{"zh-hans": v("退款", "甲")})
    save = lambda **versions: actions.save_article(kb.owner_member, article, workspace_id=kb.workspace.pk, slug="refunds",  # noqa: E731
                                                   tags="退款, refund", versions=versions)
    save(en=v("Refunds", "A"), **{"zh-hans": v("退款", "甲")})  # nothing changed
    assert ArticleRevision.objects.filter(version__article=article).count() == 2
    assert AuditLog.objects.filter(action="article.change").count() == 0
    save(en=v("Refunds", "A, edited"), **{"zh-hans": v("退款", "甲")})  # only English changed
    en = ArticleVersion.objects.get(article=article, locale="en")
    assert en.revisions.count() == 2 and ArticleVersion.objects.get(article=article, locale="zh-hans").revisions.count() == 1
    assert en.body_html == "<p>A, edited</p>"
    save(en=v("Refunds", "A, edited\r\n"))  # same text as typed in a browser textarea; zh-hans left as it is
    assert ArticleRevision.objects.filter(version__article=article).count() == 3
    save(**{"zh-hant": v("退款", "乙"), "zh-hans": None})
    assert set(article.versions.values_list("locale", flat=True)) == {"en", "zh-hant"}
    change = AuditLog.objects.filter(action="article.change").order_by("-pk").first()
    assert change.after["versions"] == {"zh-hant": "added", "zh-hans": "removed"}


@pytest.mark.django_db
def test_validation_errors_are_clear(kb):
    make_article(kb)
    cases = [
        ({"slug": "refunds"}, "slug_taken"),
        ({"slug": "has space"}, "invalid_slug"),
        ({"versions": {}}, "version_required"),
        ({"versions": {"fr": v("Bonjour")}}, "invalid_locale"),
        ({"versions": {"en": v("")}}, "title_required"),
        ({"versions": {"en": v("T", questions=[f"q{i}" for i in range(31)])}}, "too_many_similar_questions"),
        ({"versions": {"en": v("T", questions=["x" * 121])}}, "similar_question_too_long"),
        ({"versions": {"en": v("T", meta="m" * 301)}}, "meta_too_long"),
        ({"category_id": Category.objects.create(workspace=kb.other_workspace, slug="z").pk}, "invalid_category"),
    ]
    for override, code in cases:
        kwargs = {"workspace_id": kb.workspace.pk, "slug": "new", "tags": "", "versions": {"en": v("T")}, **override}
        with pytest.raises(DomainError) as err:
            actions.save_article(kb.owner_member, **kwargs)
        assert err.value.code == code and str(err.value.message)
    assert Article.objects.filter(workspace=kb.workspace).count() == 1
    # repeats and blank lines in similar questions are dropped, 30 x 120 characters is fine
    article = actions.save_article(kb.owner_member, workspace_id=kb.workspace.pk, slug="ok", versions={"en": v("T", questions=["a", " a ", "", *[f"{i}" * 1 + "x" * 118 for i in range(29)]])})
    assert len(article.versions.get().similar_questions) == 30


@pytest.mark.django_db
def test_categories_nest_one_level_within_the_workspace(kb):
    top = actions.save_category(kb.owner_member, slug="orders", name_zh_hans="订单")
    child = actions.save_category(kb.owner_member, slug="refunds", parent_id=top.pk, name_en="Refunds")
    assert child.parent_id == top.pk
    with pytest.raises(DomainError) as err:
        actions.save_category(kb.owner_member, slug="deep", parent_id=child.pk, name_en="Deep")
    assert err.value.code == "invalid_parent"
    other = actions.save_category(kb.other_founder, slug="theirs", name_en="Theirs")
    with pytest.raises(DomainError) as err:
        actions.save_category(kb.owner_member, slug="x", parent_id=other.pk, name_en="X")
    assert err.value.code == "invalid_parent"
    with pytest.raises(DomainError) as err:  # a category with children stays top-level
        actions.save_category(kb.owner_member, top, slug="orders", parent_id=actions.save_category(kb.owner_member, slug="t2", name_en="T2").pk,
                              name_zh_hans="订单")
    assert err.value.code == "has_subcategories"
    with pytest.raises(DomainError) as err:
        actions.save_category(kb.owner_member, slug="orders", name_en="dup")
    assert err.value.code == "slug_taken"
    assert actions.save_category(kb.other_founder, slug="orders", name_en="Same slug elsewhere").workspace_id == kb.other_workspace.pk
    with pytest.raises(DomainError) as err:
        actions.delete_category(kb.owner_member, top.pk)
    assert err.value.code == "has_subcategories"
    article = make_article(kb)
    actions.save_article(kb.owner_member, article, slug="refunds", category_id=child.pk, versions={})
    actions.delete_category(kb.owner_member, child.pk)
    article.refresh_from_db()
    assert article.category_id is None
    assert AuditLog.objects.filter(action="kb_category.delete", actor=kb.owner_user, denied=False).count() == 1
    assert AuditLog.objects.filter(action="kb_category.delete", actor=kb.owner_user, denied=True).count() == 1  # the refused one


@pytest.mark.django_db
def test_publish_unpublish_delete_call_the_index_after_commit(kb, hooks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        article = make_article(kb)
    assert hooks == [("index", article.pk)]
    hooks.clear()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        actions.publish(kb.owner_member, article.pk)
        assert hooks == []  # nothing reaches the index before the commit
    assert len(pending) == 1
    pending[0]()
    assert hooks == [("index", article.pk)]
    article.refresh_from_db()
    assert article.status == Article.Status.PUBLISHED and article.published_at is not None
    hooks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.publish(kb.owner_member, article.pk)  # already published: nothing to do
    assert hooks == []
    with django_capture_on_commit_callbacks(execute=True):
        actions.unpublish(kb.owner_member, article.pk)
    assert hooks == [("remove", article.pk)]
    assert Article.objects.get(pk=article.pk).status == Article.Status.DRAFT
    hooks.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_article(kb.owner_member, article.pk)
    assert hooks == [("remove", article.pk)]
    assert not Article.objects.filter(pk=article.pk).exists() and not ArticleRevision.objects.exists()
    assert list(AuditLog.objects.filter(target_type="knowledge.article").order_by("pk").values_list("action", flat=True)) == [
        "article.add", "article.publish", "article.unpublish", "article.delete"]


@pytest.mark.django_db
def test_an_index_failure_does_not_undo_the_change(kb, monkeypatch, django_capture_on_commit_callbacks):
    article = make_article(kb)

    def broken(article_id):
        raise RuntimeError("index down")

    monkeypatch.setattr(search, "index_article", broken)
    with django_capture_on_commit_callbacks(execute=True):
        actions.publish(kb.owner_member, article.pk)
    assert Article.objects.get(pk=article.pk).status == Article.Status.PUBLISHED


@pytest.mark.django_db
def test_agents_cannot_author_and_are_audited(kb, hooks, django_capture_on_commit_callbacks):
    article = make_article(kb)
    attempts = [
        ("article.add", lambda: actions.save_article(kb.agent_member, workspace_id=kb.workspace.pk, slug="mine", versions={"en": v("T")})),
        ("article.change", lambda: actions.save_article(kb.agent_member, article, slug="refunds", versions={"en": v("Hacked")})),
        ("article.publish", lambda: actions.publish(kb.agent_member, article.pk)),
        ("article.unpublish", lambda: actions.unpublish(kb.agent_member, article.pk)),
        ("article.delete", lambda: actions.delete_article(kb.agent_member, article.pk)),
        ("kb_category.add", lambda: actions.save_category(kb.agent_member, slug="c", name_en="C")),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        for action, attempt in attempts:
            with pytest.raises(DomainError) as err:
                attempt()
            assert err.value.status == 403
            assert AuditLog.objects.filter(actor=kb.agent_a_user, action=action, denied=True).count() == 1
    assert hooks == []
    assert Article.objects.get(pk=article.pk).status == Article.Status.DRAFT
    assert not ArticleVersion.objects.filter(title="Hacked").exists()


@pytest.mark.django_db
def test_another_workspaces_article_is_not_found(kb):
    article = make_article(kb)
    for attempt in (
        lambda: actions.publish(kb.other_founder, article.pk),
        lambda: actions.unpublish(kb.other_founder, article.pk),
        lambda: actions.delete_article(kb.other_founder, article.pk),
        lambda: actions.save_article(kb.other_founder, article.pk, slug="refunds", versions={"en": v("Mine now")}),
        lambda: actions.save_article(kb.other_founder, workspace_id=kb.workspace.pk, slug="x", versions={"en": v("Into theirs")}),
        lambda: actions.publish(kb.other_founder, "not-an-id"),
    ):
        with pytest.raises(DomainError) as err:
            attempt()
        assert err.value.status == 404
    assert AuditLog.objects.filter(actor=kb.other_founder_user, denied=True, workspace=kb.other_workspace).count() == 6
    assert Article.objects.filter(pk=article.pk, status=Article.Status.DRAFT).exists()
    assert not ArticleVersion.objects.filter(title__in=["Mine now", "Into theirs"]).exists()


# --- views and votes -----------------------------------------------------------------


@pytest.fixture
def published(kb):
    article = make_article(kb)
    actions.publish(kb.owner_member, article.pk)
    return article


def counts(article):
    article.refresh_from_db()
    return article.helpful_count, article.not_helpful_count


@pytest.mark.django_db
def test_one_vote_per_voter_and_a_changed_mind_moves_the_counters(published):
    assert actions.vote(published.pk, "visitor-1", True) == "added"
    assert actions.vote(published.pk, "visitor-1", True) == "unchanged"
    assert counts(published) == (1, 0) and ArticleVote.objects.count() == 1
    assert actions.vote(published.pk, "visitor-1", False) == "changed"
    assert counts(published) == (0, 1)
    assert actions.vote(published.pk, "visitor-2", False) == "added"
    assert counts(published) == (0, 2)
    assert actions.vote(published.pk, "visitor-1", True) == "changed"
    assert counts(published) == (1, 1) and ArticleVote.objects.count() == 2
    for bad in [("x" * 65, True), ("", True), ("visitor-3", "yes")]:
        with pytest.raises(DomainError):
            actions.vote(published.pk, *bad)


@pytest.mark.django_db
def test_drafts_take_no_votes_or_views(kb):
    draft = make_article(kb)
    with pytest.raises(DomainError) as err:
        actions.vote(draft.pk, "visitor-1", True)
    assert err.value.status == 404
    assert actions.record_view(draft.pk) is False
    assert actions.record_view("nope") is False
    assert Article.objects.get(pk=draft.pk).view_count == 0


def _published_article():
    from conftest import make_workspace

    workspace = make_workspace()
    founder, _ = make_agent(workspace, role=Role.FOUNDER)
    member = Membership.objects.get(user=founder)
    article = actions.save_article(member, slug="race", versions={"en": v("Race")})
    return actions.publish(member, article.pk)


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_concurrent_votes_are_all_counted(hooks):  # hooks: the real search index is not touched
    article = _published_article()
    start = threading.Barrier(8)

    def voter(i):
        start.wait()
        actions.vote(article.pk, f"visitor-{i}", i % 3 != 0)  # 0, 3, 6 say "not helpful"

    run_threads(8, voter)
    assert counts(article) == (5, 3)
    assert ArticleVote.objects.filter(article=article).count() == 8

    def mind_changer(i):  # the same 8 voters all switch at once; 0 and 1 also vote their new choice twice
        start.wait()
        actions.vote(article.pk, f"visitor-{i}", i % 3 == 0)
        if i < 2:
            actions.vote(article.pk, f"visitor-{i}", i % 3 == 0)

    run_threads(8, mind_changer)
    assert counts(article) == (3, 5)


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_same_voter_racing_with_itself_counts_once(hooks):  # hooks: the real search index is not touched
    article = _published_article()
    start = threading.Barrier(6)

    def same(i):
        start.wait()
        actions.vote(article.pk, "one-visitor", True)

    run_threads(6, same)
    assert counts(article) == (1, 0) and ArticleVote.objects.filter(article=article).count() == 1


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_concurrent_views_are_all_counted(hooks):  # hooks: the real search index is not touched
    article = _published_article()
    start = threading.Barrier(8)

    def reader(i):
        start.wait()
        for _ in range(5):
            assert actions.record_view(article.pk)

    run_threads(8, reader)
    article.refresh_from_db()
    assert article.view_count == 40


# --- admin ---------------------------------------------------------------------------


def version_form_data(rows, initial=0, prefix="versions"):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial), f"{prefix}-MIN_NUM_FORMS": "1",
            f"{prefix}-MAX_NUM_FORMS": "3"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{i}-{key}"] = value
    return data


@pytest.fixture
def admins(kb):
    kb.verifier_user, _ = make_agent(kb.workspace, role=Role.VERIFIER, username="verifier")
    return kb


@pytest.mark.django_db
def test_founder_authors_and_publishes_in_the_admin(admins, hooks):
    client = verified_client(admins.owner_user)
    assert client.get("/admin/knowledge/article/add/").status_code == 200
    category = actions.save_category(admins.owner_member, slug="orders", name_zh_hans="订单")
    data = {"workspace": admins.workspace.pk, "category": category.pk, "slug": "refunds", "tags": "退款，refund, 退款", "_save": "Save"}
    data.update(version_form_data([
        {"locale": "zh-hans", "title": "如何退款", "body": "七天内可以**退款**。\r\n\r\n## 步骤\r\n\r\n1. 打开订单", "similar_questions": "怎么退钱\r\n\r\n退款流程\r\n",
         "meta_description": ""},
        {"locale": "en", "title": "How to get a refund", "body": "Within 7 days.", "similar_questions": "", "meta_description": "Refunds"},
    ]))
    r = client.post("/admin/knowledge/article/add/", data)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    article = Article.objects.get(workspace=admins.workspace, slug="refunds")
    assert article.tags == "退款, refund" and article.category_id == category.pk
    zh = article.versions.get(locale="zh-hans")
    assert zh.similar_questions == ["怎么退钱", "退款流程"] and "<strong>退款</strong>" in zh.body_html and "<h2>步骤</h2>" in zh.body_html
    assert ArticleRevision.objects.filter(version__article=article, author=admins.owner_user).count() == 2
    assert AuditLog.objects.filter(action="article.add", actor=admins.owner_user).count() == 1

    r = client.post("/admin/knowledge/article/", {"action": "publish_selected", "_selected_action": [article.pk], "index": "0"})
    assert r.status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.PUBLISHED
    assert AuditLog.objects.filter(action="article.publish", actor=admins.owner_user).count() == 1

    page = client.get(f"/admin/knowledge/article/{article.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "怎么退钱\n退款流程" in html and "<strong>退款</strong>" in html  # questions one per line, sanitised preview
    assert "owner" in html  # revision author listed

    # an unchanged save writes no revision; an edit of one language writes one
    change = {"category": category.pk, "slug": "refunds", "tags": article.tags, "_save": "Save"}
    rows = [{"id": ver.pk, "article": article.pk, "locale": ver.locale, "title": ver.title, "body": ver.body,
             "similar_questions": "\n".join(ver.similar_questions), "meta_description": ver.meta_description}
            for ver in article.versions.order_by("pk")]
    r = client.post(f"/admin/knowledge/article/{article.pk}/change/", {**change, **version_form_data(rows, initial=len(rows))})
    assert r.status_code == 302
    assert ArticleRevision.objects.filter(version__article=article).count() == 2
    rows[1]["body"] = "Within 14 days."
    r = client.post(f"/admin/knowledge/article/{article.pk}/change/", {**change, **version_form_data(rows, initial=len(rows))})
    assert r.status_code == 302
    assert ArticleRevision.objects.filter(version__article=article).count() == 3
    assert article.versions.get(locale="en").body_html == "<p>Within 14 days.</p>"

    r = client.post("/admin/knowledge/article/", {"action": "unpublish_selected", "_selected_action": [article.pk], "index": "0"})
    assert Article.objects.get(pk=article.pk).status == Article.Status.DRAFT


@pytest.mark.django_db
def test_admin_form_errors_show_next_to_the_inputs(admins):
    client = verified_client(admins.owner_user)
    make_article(admins)
    data = {"workspace": admins.workspace.pk, "slug": "refunds", "tags": "", "_save": "Save"}
    data.update(version_form_data([
        {"locale": "en", "title": "A", "body": "", "similar_questions": "x" * 121, "meta_description": ""},
        {"locale": "en", "title": "B", "body": "", "similar_questions": "", "meta_description": ""},
    ]))
    r = client.post("/admin/knowledge/article/add/", data)
    assert r.status_code == 200
    assert "slug" in r.context["adminform"].form.errors
    formset = r.context["inline_admin_formsets"][0].formset
    assert "similar_questions" in formset.forms[0].errors
    assert Article.objects.filter(workspace=admins.workspace).count() == 1
    empty = {"workspace": admins.workspace.pk, "slug": "empty", "tags": "", "_save": "Save", **version_form_data([])}
    r = client.post("/admin/knowledge/article/add/", empty)
    assert r.status_code == 200 and not Article.objects.filter(slug="empty").exists()


@pytest.mark.django_db
def test_agents_and_verifiers_get_no_knowledge_admin(admins):
    for user in (admins.agent_a_user, admins.verifier_user):
        for path in ("/admin/knowledge/article/", "/admin/knowledge/article/add/", "/admin/knowledge/category/"):
            r = verified_client(user).get(path)
            assert r.status_code == 302 and "/admin/login/" in r["Location"]


@pytest.mark.django_db
def test_other_workspace_article_url_is_404(admins):
    theirs = actions.save_article(admins.other_founder, slug="theirs", versions={"en": v("Rival article")})
    client = verified_client(admins.owner_user)
    assert client.get(f"/admin/knowledge/article/{theirs.pk}/change/").status_code == 404
    assert client.post(f"/admin/knowledge/article/{theirs.pk}/delete/", {"post": "yes"}).status_code == 404
    assert Article.objects.filter(pk=theirs.pk).exists()
    assert AuditLog.objects.filter(actor=admins.owner_user, action="admin.unknown_object", denied=True).count() == 2
    listing = client.get("/admin/knowledge/article/").content.decode()
    assert "theirs" not in listing and "Rival article" not in listing
    # the publish action cannot reach it either: the selection is scoped
    client.post("/admin/knowledge/article/", {"action": "publish_selected", "_selected_action": [theirs.pk], "index": "0"})
    assert Article.objects.get(pk=theirs.pk).status == Article.Status.DRAFT
    # nor can a tampered category id from another workspace
    their_category = actions.save_category(admins.other_founder, slug="zc", name_en="Their category")
    data = {"workspace": admins.workspace.pk, "category": their_category.pk, "slug": "sneaky", "tags": "", "_save": "Save",
            **version_form_data([{"locale": "en", "title": "T", "body": "", "similar_questions": "", "meta_description": ""}])}
    r = client.post("/admin/knowledge/article/add/", data)
    assert r.status_code == 200 and "category" in r.context["adminform"].form.errors
    assert not Article.objects.filter(slug="sneaky").exists()


@pytest.mark.django_db
def test_admin_preview_escapes_what_authors_type(admins):
    evil = '<script>alert("t")</script>'
    article = actions.save_article(admins.owner_member, slug="xss", versions={"en": v(
        f"Title {evil}", f"Body {evil}\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))", [f"Question {evil}"])})
    html = verified_client(admins.owner_user).get(f"/admin/knowledge/article/{article.pk}/change/").content.decode()
    assert evil not in html and "<img src=x" not in html and 'href="javascript' not in html
    assert "Title &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in html
    assert "Question &lt;script&gt;" in html and "Body &lt;script&gt;" in html


@pytest.mark.django_db
def test_category_admin_goes_through_the_action(admins):
    client = verified_client(admins.owner_user)
    r = client.post("/admin/knowledge/category/add/", {"workspace": admins.workspace.pk, "slug": "orders", "position": "0", "name_zh_hans": "订单",
                                                       "name_zh_hant": "", "name_en": ""})
    assert r.status_code == 302
    top = Category.objects.get(workspace=admins.workspace, slug="orders")
    assert AuditLog.objects.filter(action="kb_category.add", actor=admins.owner_user).count() == 1
    r = client.post("/admin/knowledge/category/add/", {"workspace": admins.workspace.pk, "slug": "orders", "position": "0", "name_en": "Dup"})
    assert r.status_code == 200 and "slug" in r.context["adminform"].form.errors
    child = actions.save_category(admins.owner_member, slug="refunds", parent_id=top.pk, name_en="Refunds")
    r = client.post("/admin/knowledge/category/add/", {"workspace": admins.workspace.pk, "parent": child.pk, "slug": "deep", "position": "0", "name_en": "Deep"})
    assert r.status_code == 200 and "parent" in r.context["adminform"].form.errors
    r = client.post(f"/admin/knowledge/category/{top.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and Category.objects.filter(pk=top.pk).exists()  # has a subcategory: refused, shown
    assert AuditLog.objects.filter(action="kb_category.delete", denied=True).count() == 1


@pytest.mark.django_db
def test_admin_list_search_and_a_refusal_after_validation(admins, monkeypatch):
    make_article(admins, slug="refunds")
    make_article(admins, slug="shipping", en=v("Shipping times"))
    client = verified_client(admins.owner_user)
    page = client.get("/admin/knowledge/article/", {"q": "Shipping"}).content.decode()
    assert "shipping" in page and ">refunds<" not in page
    assert client.get("/admin/knowledge/article/", {"status__exact": "draft"}).status_code == 200

    # e.g. another admin took the slug between the form's check and the save: rolled back, audited, shown
    def taken(*args, **kwargs):
        raise actions.invalid("slug_taken", "Another article of this workspace already has this slug.", "slug", status=409)

    monkeypatch.setattr(actions, "save_article", taken)
    data = {"workspace": admins.workspace.pk, "slug": "late", "tags": "", "_save": "Save",
            **version_form_data([{"locale": "en", "title": "Late", "body": "", "similar_questions": "", "meta_description": ""}])}
    r = client.post("/admin/knowledge/article/add/", data, follow=True)
    assert r.redirect_chain[0] == ("/admin/knowledge/article/add/", 302)
    assert "already has this slug" in r.content.decode()
    assert not Article.objects.filter(slug="late").exists()
    assert AuditLog.objects.filter(actor=admins.owner_user, action="article.add", denied=True, after__refused__code="slug_taken").count() == 1
