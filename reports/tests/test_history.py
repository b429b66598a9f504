"""History search (会话记录, issue 18 item 3): Chinese and traditional keywords, mixed scripts, a
transferred chat found by both agents, permission scoping per persona, bad input, exports (audited),
constant query counts. Run on SQLite (FTS5) and, marked engine_db, on PostgreSQL (GIN index of the
stored terms column)."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import AuditLog, Membership, Role
from chat import access
from chat.models import Conversation, SatisfactionRating
from conftest import make_agent, make_visitor, send, verified_client
from reports import history
from routing import actions as routing
from routing import staff
from routing.models import AgentGroup

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]
URL = "/console/history/"


def _conversation(visitor, *bodies):
    message = None
    for body in bodies:
        message, _ = send(visitor, body)
    return Conversation.objects.get(pk=message.conversation_id)


def _ids(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content[:500]
    return [hit.conversation.pk for hit in response.context["hits"]]


@pytest.fixture
def world(personas):
    p = personas
    p.a1_user, p.a1 = make_agent(p.workspace, [p.inbox_a], username="served_1")
    p.a2_user, p.a2 = make_agent(p.workspace, [p.inbox_a], username="served_2")
    p.sup_user, p.sup = make_agent(p.workspace, [p.inbox_b], username="supervisor")
    p.verifier_user, _m = make_agent(p.workspace, [], role=Role.VERIFIER, username="verifier")
    a1, a2 = access.agent_actor_for(p.a1_user, p.workspace.pk), access.agent_actor_for(p.a2_user, p.workspace.pk)
    # A transferred chat: served_1 takes it and answers, hands it to served_2, who answers too.
    p.transferred = _conversation(p.visitor, "我想退貨，請問退货地址在哪里？")
    v2, _t = make_visitor(p.inbox_a)  # a chat of served_1 only, in English and a script attack
    p.own = _conversation(v2, "<script>alert(1)</script> my parcel was lost, 快递丢了")
    routing.set_status(a1, "online")
    for c in (p.transferred, p.own):
        if Conversation.objects.get(pk=c.pk).assignee_id is None:
            routing.claim(a1, c.pk)
    send(a1, "您好，退货地址是上海市。", conversation_id=p.transferred.pk)
    routing.set_status(a2, "online")
    routing.transfer(a1, p.transferred.pk, to_agent_id=p.a2_user.pk, note="VIP 客户，注意语气")
    send(a2, "Refund processed for your iPhone15 order.", conversation_id=p.transferred.pk)
    SatisfactionRating.objects.create(conversation=p.own, customer=p.own.customer, rating=2)
    # A chat in a supervised group, nobody's in particular.
    v3, _t = make_visitor(p.inbox_b)
    p.group = AgentGroup.objects.create(workspace=p.workspace, name="售后组")
    p.grouped = _conversation(v3, "發票什麼時候開？")
    Conversation.objects.filter(pk=p.grouped.pk).update(group=p.group)
    p.owner_membership = Membership.objects.get(workspace=p.workspace, user=p.owner_user)
    staff.set_group_supervision(p.owner_membership, p.group.pk, Membership.objects.get(user=p.sup_user).pk, True)
    # Another workspace's chat with the same words.
    p.theirs = _conversation(p.other_visitor, "退货地址 发票 refund")
    return p


def test_traditional_and_simplified_keywords_find_each_other(world):
    owner = verified_client(world.owner_user)
    assert _ids(owner, q="退貨") == [world.transferred.pk]  # 繁體 query, text in both scripts
    assert _ids(owner, q="发票") == [world.grouped.pk]  # 简体 query finds 發票
    assert _ids(owner, q="退货地址") == [world.transferred.pk]
    assert _ids(owner, q="退货 上海") == [world.transferred.pk]  # every word, in any message of the chat
    assert _ids(owner, q="退货 北京") == []


def test_mixed_scripts_and_english(world):
    owner = verified_client(world.owner_user)
    assert _ids(owner, q="iPhone15 退貨") == [world.transferred.pk]
    assert _ids(owner, q="REFUND") == [world.transferred.pk]
    assert _ids(owner, q="parcel 丢了") == [world.own.pk]
    assert _ids(owner, q="ＰＡＲＣＥＬ") == [world.own.pk]  # full-width latin


def test_snippets_highlight_and_escape(world):
    owner = verified_client(world.owner_user)
    response = owner.get(URL, {"q": "parcel"})
    body = response.content.decode()
    assert "<mark>parcel</mark>" in body
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    hit = response.context["hits"][0]
    assert "<mark>退货</mark>" not in hit.snippet
    traditional = owner.get(URL, {"q": "退貨"}).context["hits"][0]
    assert "<mark>退貨</mark>" in traditional.snippet and "<mark>退货</mark>" in traditional.snippet
    assert traditional.matches == 2  # the customer's message and the agent's answer


def test_private_notes_are_searched_for_agents(world):
    owner = verified_client(world.owner_user)
    assert _ids(owner, q="注意语气") == [world.transferred.pk]


def test_transferred_chat_is_in_both_agents_history(world):
    for user in (world.a1_user, world.a2_user):
        assert _ids(verified_client(user), q="退货") == [world.transferred.pk]
    owner = verified_client(world.owner_user)
    assert set(_ids(owner, agent=world.a1_user.pk)) == {world.own.pk, world.transferred.pk}
    assert _ids(owner, agent=world.a2_user.pk) == [world.transferred.pk]


def test_scope_per_persona(world):
    everything = {world.transferred.pk, world.own.pk, world.grouped.pk}
    assert set(_ids(verified_client(world.owner_user))) == everything  # founder: the workspace
    assert set(_ids(verified_client(world.a1_user))) == {world.transferred.pk, world.own.pk}  # own history
    assert set(_ids(verified_client(world.a2_user))) == {world.transferred.pk}
    assert set(_ids(verified_client(world.sup_user))) == {world.grouped.pk}  # their group
    assert _ids(verified_client(world.agent_b_user)) == []  # serves inbox B but took part in nothing
    # "view all history" granted to an agent
    account_actions.set_view_all_history(world.owner_membership, Membership.objects.get(user=world.a2_user).pk, True)
    assert set(_ids(verified_client(world.a2_user))) == everything
    # verifier: nothing (refused), other workspace: never listed, transcript 404
    assert verified_client(world.verifier_user).get(URL, HTTP_ACCEPT="application/json").status_code == 403
    other = verified_client(world.other_agent_user)
    assert _ids(other, q="退货") == []
    for path in (f"/console/history/c/{world.transferred.pk}/", f"/console/history/c/{world.transferred.pk}/export.csv"):
        assert verified_client(world.a2_user).get(path).status_code == 200
        assert other.get(path).status_code == 404
        assert verified_client(world.sup_user).get(path).status_code == 404  # not in their group, not theirs


def test_filters(world):
    owner = verified_client(world.owner_user)
    assert _ids(owner, rating=2) == [world.own.pk]
    assert _ids(owner, inbox=world.inbox_b.pk) == [world.grouped.pk]
    assert _ids(owner, customer=world.own.customer.public_id) == [world.own.pk]
    assert _ids(owner, state="assigned", q="退货") == [world.transferred.pk]
    assert _ids(owner, channel="web", **{"from": "2000-01-01", "to": "2999-12-31"}) != []
    assert _ids(owner, **{"from": "2000-01-01", "to": "2000-01-02"}) == []
    tag = world.own.customer.tags.create(workspace=world.workspace, name="VIP")
    assert _ids(owner, tag=tag.pk) == [world.own.pk]


@pytest.mark.parametrize("params", [
    {"q": "x" * 10_000}, {"rating": "9"}, {"rating": "²"}, {"inbox": "abc"}, {"from": "2026-13-01"},
    {"from": "2026-05-02", "to": "2026-05-01"}, {"page": "0"}, {"page": "999999"}, {"state": "open; DROP"},
])
def test_bad_filters_are_a_clear_400(world, params):
    response = verified_client(world.owner_user).get(URL, params)
    assert response.status_code == 400
    assert response.context["errors"]


def test_another_workspace_ids_in_filters_are_refused_like_missing_ones(world):
    owner = verified_client(world.owner_user)
    theirs = owner.get(URL, {"inbox": world.other_inbox.pk})
    missing = owner.get(URL, {"inbox": 987654321})
    assert theirs.status_code == missing.status_code == 400
    assert theirs.context["errors"] == missing.context["errors"]


@pytest.mark.parametrize("q", ["", "   ", "'; DROP TABLE chat_message; --", "退货' OR 1=1 --", "a & b | !c <-> :* ()", "%_\\",
                               "的", "在吗", "🙂🙂", "' \" \\ ; -- /* */"])
def test_odd_keywords_answer_never_500(world, q):
    response = verified_client(world.owner_user).get(URL, {"q": q})
    assert response.status_code == 200


def test_nul_byte_is_a_400(world):
    assert verified_client(world.owner_user).get(URL, {"q": "退货\x00"}).status_code == 400


def test_exports_are_audited_and_match(world):
    owner = verified_client(world.owner_user)
    response = owner.get("/console/history/export.csv", {"q": "退货"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [int(r[0]) for r in rows[1:]] == [world.transferred.pk]
    entry = AuditLog.objects.get(action="history.export_results")
    assert entry.actor_id == world.owner_user.pk and entry.after["filters"] == {"keyword": "退货"}
    response = owner.get(f"/console/history/c/{world.own.pk}/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][6] == "'<script>alert(1)</script> my parcel was lost, 快递丢了".lstrip("'")
    assert AuditLog.objects.filter(action="history.export_transcript", target_id=str(world.own.pk)).count() == 1


def test_csv_cells_never_start_a_formula(world):
    v, _t = make_visitor(world.inbox_a)
    c = _conversation(v, "=HYPERLINK(\"http://evil\")")
    response = verified_client(world.owner_user).get(f"/console/history/c/{c.pk}/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][6].startswith("'=")


def test_transcript_shows_every_message(world):
    response = verified_client(world.a1_user).get(f"/console/history/c/{world.transferred.pk}/")
    body = response.content.decode()
    assert "上海市" in body and "注意语气" in body and "iPhone15" in body


def test_page_query_count_is_constant(world):
    owner = verified_client(world.owner_user)
    owner.get(URL, {"q": "退货"})  # warm caches (sessions, jieba)
    counts = []
    for extra in (0, 12):
        for i in range(extra):
            v, _t = make_visitor(world.inbox_a)
            c = _conversation(v, f"退货 第{i}次")
            c.customer.tags.create(workspace=world.workspace, name=f"t{extra}-{i}")
        with CaptureQueriesContext(connection) as queries:
            assert owner.get(URL, {"q": "退货"}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_keyword_words_segment_and_fold():
    assert history.keyword_words("退貨地址") == ["退货", "地址"]
    assert history.keyword_words("在吗") == ["在吗"]  # only stop words: the words themselves
    assert history.keyword_words("iPhone15退款") == ["iphone15", "退款"]
    assert history.tsquery(["退货地址", "发", "iphone"]) == "('退货' | '退貨') & ('货地' | '貨地') & '地址' & ('发':* | '發':*) & 'iphone':*"


def test_index_follows_edits_and_recalls(world):
    owner = verified_client(world.owner_user)
    message, _ = send(world.visitor, "独一无二的关键字 zebracorn")
    assert message.conversation_id in _ids(owner, q="zebracorn")
    type(message).objects.filter(pk=message.pk).update(body="已修改")
    assert _ids(owner, q="zebracorn") == []
    assert message.conversation_id in _ids(owner, q="已修改")
    type(message).objects.filter(pk=message.pk).update(recalled_at=timezone.now())
    assert _ids(owner, q="已修改") == []  # a recalled message is not searched


@pytest.mark.postgres_only
def test_a_search_that_runs_too_long_is_cancelled_with_a_clear_page(world, settings, monkeypatch):
    """A guard, whatever the plan: a search still running at HISTORY_SEARCH_TIMEOUT_MS (before the
    rare-word lookup, a word matching almost nothing walked for minutes at 10,000,000 messages:
    docs/benchmarks.md) is cancelled and the page says what to do; the connection is fine for the
    next search."""
    from django.db import connection

    from reports import history

    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (postgres_only)")
    settings.HISTORY_SEARCH_TIMEOUT_MS = 50
    slow_walk = history.filtered

    def filtered(*args, **kwargs):  # a search as slow as that walk, without building ten million rows
        return slow_walk(*args, **kwargs).extra(where=["(SELECT 1 FROM pg_sleep(0.5)) = 1"])

    monkeypatch.setattr(history, "filtered", filtered)
    owner = verified_client(world.owner_user)
    response = owner.get(URL, {"q": "退货"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 503
    assert "搜索用时过长" in response.content.decode()
    monkeypatch.setattr(history, "filtered", slow_walk)
    assert _ids(owner, q="退货")  # the next search on the same connection works


@pytest.mark.postgres_only
def test_rare_words_looked_up_first_answer_like_the_walk(world, monkeypatch):
    """PostgreSQL looks a word it expects in few messages up in the index first (few_word_conversations)
    and walks the conversations by recency for a common one: both ways give the same pages, for every
    persona, and a word nothing contains answers without the page query."""
    if connection.vendor != "postgresql":
        pytest.fail("run with DATABASE_URL=postgres://… (postgres_only)")
    queries = ["退貨", "发票", "退货地址", "退货 上海", "退货 北京", "iPhone15 退貨", "REFUND", "parcel 丢了", "火星快递"]
    clients = [verified_client(u) for u in (world.owner_user, world.a1_user, world.a2_user, world.sup_user)]
    looked_up = [[_ids(c, q=q) for q in queries] for c in clients]
    found = history.few_word_conversations(["退货", "zebracorn"])
    assert {world.transferred.pk, world.theirs.pk} <= set(found["退货"])  # any workspace's: the page query scopes
    assert world.own.pk not in found["退货"] and found["zebracorn"] == []
    monkeypatch.setattr(history, "FEW_MESSAGES", 0)  # every word common: the walk
    assert history.few_word_conversations(["退货"]) == {"退货": None}
    walked = [[_ids(c, q=q) for q in queries] for c in clients]
    assert looked_up == walked
    assert looked_up[0][:3] == [[world.transferred.pk], [world.grouped.pk], [world.transferred.pk]]
    monkeypatch.setattr(history, "FEW_MESSAGES", 20_000)
    with CaptureQueriesContext(connection) as captured:
        assert _ids(clients[0], q="火星快递") == []
    assert not any("ORDER BY" in q["sql"] and "chat_conversation" in q["sql"] for q in captured.captured_queries)
