"""Articles get their slug from the title's pinyin when the owner leaves it empty (unique in the
workspace, still editable), and are published from their edit page (issue 20 item 3). Every write
still goes through knowledge.actions."""

import pytest

from accounts.models import AuditLog
from knowledge import actions
from knowledge.models import Article

from conftest import verified_client

from . import test_content
from .test_content import make_article, v, version_form_data

kb, hooks = test_content.kb, test_content.hooks  # the knowledge tests' fixtures

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize("title,slug", [
    ("如何退款", "ru-he-tui-kuan"),
    ("iPhone 15 退货怎么办？", "iphone-15-tui-huo-zen-me-ban"),
    ("Café opening hours", "cafe-opening-hours"),
    ("！！！", "article"),
    ("长" * 200, "-".join(["chang"] * 18)),  # cut between syllables, room left for "-2"
    ("Refund" * 30, ("refund" * 30)[:110]),
])
def test_slug_from_title(kb, title, slug):
    assert actions.slug_from_title(kb.workspace.pk, title) == slug


def test_an_empty_slug_is_made_from_the_title_and_repeats_get_a_number(kb, hooks):
    first = actions.save_article(kb.owner_member, slug="", versions={"zh-hans": v("如何退款")})
    second = actions.save_article(kb.owner_member, slug="  ", versions={"en": v("Refunds"), "zh-hans": v("如何退款")})
    third = actions.save_article(kb.owner_member, slug="", versions={"zh-hans": v("如何退款")})
    assert [first.slug, second.slug, third.slug] == ["ru-he-tui-kuan", "ru-he-tui-kuan-2", "ru-he-tui-kuan-3"]
    # another workspace's article of the same title takes nothing from this one
    theirs = actions.save_article(kb.other_founder, slug="", versions={"zh-hans": v("如何退款")})
    assert theirs.slug == "ru-he-tui-kuan"
    # saving again with its own slug keeps it; emptied, it is made again (and is not "taken" by itself)
    assert actions.save_article(kb.owner_member, first, slug="", versions={}).slug == "ru-he-tui-kuan"
    assert actions.save_article(kb.owner_member, first, slug="refund-policy", versions={}).slug == "refund-policy"


def post_article(client, workspace, slug, title="如何退款", published=False, **headers):
    data = {"workspace": workspace.pk, "slug": slug, "tags": "", "_save": "保存",
            **version_form_data([{"locale": "zh-hans", "title": title, "body": "七天内可以退款。", "similar_questions": "",
                                  "meta_description": ""}])}
    if published:
        data["published"] = "on"
    return client.post("/admin/knowledge/article/add/", data, **headers)


def test_admin_makes_the_slug_and_publishes_from_the_edit_page(kb, hooks, django_capture_on_commit_callbacks):
    client = verified_client(kb.owner_user)
    page = client.get("/admin/knowledge/article/add/").content.decode()
    assert 'name="published"' in page and 'name="slug"' in page
    with django_capture_on_commit_callbacks(execute=True):
        r = post_article(client, kb.workspace, "", published=True)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    article = Article.objects.get(workspace=kb.workspace)
    assert article.slug == "ru-he-tui-kuan" and article.status == Article.Status.PUBLISHED and article.published_at
    assert ("index", article.pk) in hooks
    assert AuditLog.objects.filter(action="article.publish", actor=kb.owner_user, target_id=str(article.pk)).count() == 1

    change = f"/admin/knowledge/article/{article.pk}/change/"
    page = client.get(change).content.decode()
    checkbox = page.split('name="published"')[1].split(">")[0]
    assert "checked" in checkbox
    version = article.versions.get()
    # unticked: back to a draft, through the action; the slug edited by hand is kept
    r = client.post(change, _change_data(article, version, slug="tui-kuan"))
    assert r.status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT and article.slug == "tui-kuan"
    assert AuditLog.objects.filter(action="article.unpublish", actor=kb.owner_user).count() == 1


def _change_data(article, version, slug, published=False):
    data = {"slug": slug, "tags": "", "_save": "保存",
            **version_form_data([{"id": version.pk, "article": article.pk, "locale": "zh-hans", "title": version.title,
                                  "body": version.body, "similar_questions": "", "meta_description": ""}], initial=1)}
    if published:
        data["published"] = "on"
    return data


@pytest.mark.parametrize("slug,message", [
    ("退款", "字母"), ("has space", "字母"), ("a" * 121, "121"), ("refunds", "已有"),
])
def test_bad_slugs_are_field_errors_and_nothing_is_saved(kb, slug, message):
    make_article(kb, slug="refunds")
    client = verified_client(kb.owner_user)
    r = post_article(client, kb.workspace, slug, title="别的问题", published=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert list(errors) == ["slug"] and message in errors["slug"][0], errors
    assert Article.objects.filter(workspace=kb.workspace).count() == 1
    assert not Article.objects.filter(status=Article.Status.PUBLISHED).exists()


def test_a_duplicate_title_in_the_admin_gets_the_next_number(kb, hooks):
    client = verified_client(kb.owner_user)
    for _ in range(2):
        assert post_article(client, kb.workspace, "").status_code == 302
    assert sorted(Article.objects.filter(workspace=kb.workspace).values_list("slug", flat=True)) == ["ru-he-tui-kuan", "ru-he-tui-kuan-2"]
    assert not Article.objects.filter(status=Article.Status.PUBLISHED).exists()  # unticked: a draft
