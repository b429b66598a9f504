"""The merchant's tools for the bot (issue 17): 同义词 (synonym groups: validation, workspace
isolation, applied to search at once on every process) and 未解决问题 (the list and the one-click
"add as 相似问 of article X")."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog, Membership
from conftest import verified_client
from knowledge import actions, search, unanswered
from knowledge import synonyms as kb_synonyms
from knowledge.models import ArticleRevision, ArticleVersion, SynonymGroup, UnansweredQuestion
from knowledge.tests.test_bot_conversation import ask, bot_lines, publish_articles

pytestmark = pytest.mark.django_db


@pytest.fixture
def founder(personas):
    return Membership.objects.get(user=personas.owner_user)


def add_form(client, workspace, phrases, language="zh-hans"):
    return client.post("/admin/knowledge/synonymgroup/add/", {"workspace": workspace.pk, "phrases": phrases, "_save": "Save"},
                       HTTP_ACCEPT_LANGUAGE=language)


# --- 同义词 ---------------------------------------------------------------------------------------


def test_synonym_form_validates_in_the_users_language(personas):
    client = verified_client(personas.owner_user)
    r = add_form(client, personas.workspace, "退货\n退貨")  # one word in two scripts: not two
    assert r.status_code == 200 and r.context["adminform"].form.errors["phrases"] == ["请至少填写两个意思相同、写法不同的词或短语。"]
    r = add_form(client, personas.workspace, "退货", language="en")
    assert r.context["adminform"].form.errors["phrases"] == ["Enter at least two different words or phrases that mean the same."]
    r = add_form(client, personas.workspace, "退货, " + "长" * 31)
    assert r.context["adminform"].form.errors["phrases"][0].startswith("每个词或短语最多 30 个字")
    assert not SynonymGroup.objects.exists()

    r = add_form(client, personas.workspace, "退货， 退掉、退回\n 退掉 ")  # commas of both widths, 、 and lines; repeats dropped
    assert r.status_code == 302
    group = SynonymGroup.objects.get()
    assert group.phrases == "退货\n退掉\n退回" and group.workspace == personas.workspace
    assert AuditLog.objects.filter(action="kb_synonyms.add", actor=personas.owner_user).count() == 1
    page = client.get(f"/admin/knowledge/synonymgroup/{group.pk}/change/").content.decode()
    assert "退货\n退掉\n退回" in page  # edited as lines, never JSON


def test_at_most_500_groups_per_workspace(personas, founder):
    SynonymGroup.objects.bulk_create([SynonymGroup(workspace=personas.workspace, phrases=f"词{n}\n语{n}") for n in range(500)])
    r = add_form(verified_client(personas.owner_user), personas.workspace, "退货, 退掉")
    assert r.status_code == 200 and "每个工作区最多 500 组同义词。" in r.context["adminform"].form.non_field_errors()
    with pytest.raises(Exception) as refused:
        actions.save_synonym_group(founder, phrases="退货, 退掉")
    assert refused.value.code == "too_many_synonym_groups"
    # Another workspace has its own allowance.
    other = Membership.objects.create(workspace=personas.other_workspace, user=personas.owner_user, role="founder")
    actions.save_synonym_group(other, phrases="退货, 退掉")


def test_synonym_groups_are_per_workspace(personas, founder):
    other_founder = Membership.objects.create(workspace=personas.other_workspace, user=personas.owner_user, role="founder")
    actions.save_synonym_group(founder, phrases="薅羊毛, 优惠券")
    actions.save_synonym_group(other_founder, phrases="亲, 您")
    assert kb_synonyms.groups(personas.workspace.pk) == [["薅羊毛", "优惠券"]]
    assert kb_synonyms.groups(personas.other_workspace.pk) == [["亲", "您"]]
    theirs = SynonymGroup.objects.get(workspace=personas.other_workspace)
    with pytest.raises(Exception) as refused:
        actions.save_synonym_group(founder, theirs.pk, phrases="a, b")
    assert refused.value.status == 404
    client = verified_client(personas.owner_user)  # founder of A only (the membership above is B's founder row)
    Membership.objects.filter(pk=other_founder.pk).delete()
    assert client.get(f"/admin/knowledge/synonymgroup/{theirs.pk}/change/").status_code == 404
    assert "亲" not in client.get("/admin/knowledge/synonymgroup/").content.decode()


def test_groups_are_cached_per_process_and_an_edit_applies_at_once(personas, founder):
    ws = personas.workspace.pk
    group = actions.save_synonym_group(founder, phrases="薅羊毛, 优惠券")
    kb_synonyms.groups(ws)
    with CaptureQueriesContext(connection) as reads:
        assert kb_synonyms.groups(ws) == [["薅羊毛", "优惠券"]]
    assert len(reads) == 1  # the version row only
    # Another process's edit: only the rows and the version change (no invalidation of this cache).
    actions.save_synonym_group(founder, group.pk, phrases="薅羊毛, 优惠券, 红包")
    with CaptureQueriesContext(connection) as reads:
        assert kb_synonyms.groups(ws) == [["薅羊毛", "优惠券", "红包"]]
    assert len(reads) == 2
    actions.delete_synonym_group(founder, group.pk)
    assert kb_synonyms.groups(ws) == []


def test_an_edit_changes_search_results_at_once(personas, founder, search_index, django_capture_on_commit_callbacks):
    """knowledge.search.search passes synonyms.groups(workspace_id) to the analyser: no wait, no cache to clear."""
    with django_capture_on_commit_callbacks(execute=True):
        article = actions.save_article(founder, slug="coupons", versions={"zh-hans": {"title": "优惠券怎么用", "body": "下单时在结算页选择优惠券。"}})
        actions.publish(founder, article.pk)
    ws = personas.workspace.pk
    assert search.search(ws, "薅羊毛") == []
    group = actions.save_synonym_group(founder, phrases="薅羊毛\n优惠券")
    assert [h.article_id for h in search.search(ws, "薅羊毛")] == [article.pk]
    actions.save_synonym_group(founder, group.pk, phrases="省钱卡, 优惠券")
    assert search.search(ws, "薅羊毛") == [] and [h.article_id for h in search.search(ws, "省钱卡")] == [article.pk]
    actions.delete_synonym_group(founder, group.pk)
    assert search.search(ws, "省钱卡") == []
    # Another workspace's synonyms do nothing here.
    other = Membership.objects.create(workspace=personas.other_workspace, user=personas.owner_user, role="founder")
    actions.save_synonym_group(other, phrases="省钱卡, 优惠券")
    assert search.search(ws, "省钱卡") == []


# --- 未解决问题 ------------------------------------------------------------------------------------


def test_unanswered_list_and_add_as_similar(personas, founder, search_index, django_capture_on_commit_callbacks, settings):
    p = personas
    with django_capture_on_commit_callbacks(execute=True):
        ids = publish_articles(p)
    unanswered.record(p.workspace.pk, "东西坏了能退吗", "zh-hans", "suggested")
    unanswered.record(p.workspace.pk, "東西壞了能退嗎？", "zh-hant", "unresolved")
    unanswered.record(p.other_workspace.pk, "Zebra question", "en", "suggested")
    question = UnansweredQuestion.objects.get(workspace=p.workspace)
    assert (question.count, question.locale, question.text) == (2, "zh-hant", "東西壞了能退嗎？")

    client = verified_client(p.owner_user)
    listing = client.get("/admin/knowledge/unansweredquestion/").content.decode()
    assert "東西壞了能退嗎？" in listing and "Zebra" not in listing
    form = client.get(f"/admin/knowledge/unansweredquestion/{question.pk}/add-similar/")
    assert form.status_code == 200 and "如何退货" in form.content.decode()
    theirs = UnansweredQuestion.objects.get(workspace=p.other_workspace)
    assert client.get(f"/admin/knowledge/unansweredquestion/{theirs.pk}/add-similar/").status_code == 404

    # The changelist action: select, choose the article, apply.
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/admin/knowledge/unansweredquestion/", {"action": "add_as_similar", "_selected_action": [question.pk],
                                                                  "apply": "1", "article": ids["returns"]})
    assert r.status_code == 302
    version = ArticleVersion.objects.get(article_id=ids["returns"], locale="zh-hans")  # no zh-Hant version: the simplified one
    assert version.similar_questions == ["怎么退货", "我要退货", "東西壞了能退嗎？"]
    assert ArticleRevision.objects.filter(version=version, author=p.owner_user).latest("pk").similar_questions == version.similar_questions
    assert AuditLog.objects.filter(action="article.add_similar", actor=p.owner_user).count() == 1
    question.refresh_from_db()
    assert question.handled_at is not None and question.handled_article_id == ids["returns"]
    # Reindexed: the bot now answers it with that article.
    conversation = ask(p.visitor, "東西壞了能退嗎？", django_capture_on_commit_callbacks)
    assert bot_lines(conversation)[0].attachments[0]["url"].endswith("/articles/returns/")

    # Adding it again changes nothing; another workspace's article is not offered.
    actions.add_similar_question(founder, question.pk, ids["returns"])
    assert ArticleVersion.objects.get(pk=version.pk).similar_questions == version.similar_questions
    r = client.post(f"/admin/knowledge/unansweredquestion/{question.pk}/add-similar/", {"article": 987654321})
    assert r.status_code == 200 and "article" in r.context["form"].errors


def test_add_as_similar_needs_a_version_in_the_questions_language(personas, founder, search_index, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ids = publish_articles(personas)
    unanswered.record(personas.workspace.pk, "can I send it back", "en", "suggested")
    question = UnansweredQuestion.objects.get()
    with pytest.raises(Exception) as refused:
        actions.add_similar_question(founder, question.pk, ids["returns"])
    assert refused.value.code == "no_version_in_language"
    assert UnansweredQuestion.objects.get().handled_at is None
