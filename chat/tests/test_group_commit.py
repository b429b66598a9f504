"""Group commit (chat.group_commit, surfaces.group_commit): sends that arrive together are stored in
one transaction; each still gets its own answer, a refused one rolls back only itself, nothing is
published or acknowledged before the commit, a database error makes the group run one by one, and
seq stays gap-free. Marked engine_db: run on SQLite and again on PostgreSQL (where the sends in a
group take the one-statement path)."""

import functools

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import group_commit
from chat import messages as chat_messages
from chat.models import Conversation, Message
from conftest import make_visitor, run_threads, send
from helpdesk import realtime
from helpdesk.errors import DomainError

from .wsutil import connect_customer, frames_until, send_json

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)


def storing(actor, client_msg_id, body="hi", **kwargs):
    return functools.partial(chat_messages.send_message, actor, client_msg_id=client_msg_id, body=body, **kwargs)


@pytest.fixture
def visitors(personas):
    """Three customers of inbox A, each with an open conversation."""
    people = [personas.visitor] + [make_visitor(personas.inbox_a)[0] for _ in range(2)]
    for i, actor in enumerate(people):
        send(actor, "first", client_msg_id=f"first-{i}")
    return people


def gap_free(workspace):
    for conversation in Conversation.objects.filter(workspace=workspace):
        seqs = list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, conversation.last_seq + 1)), conversation.pk


def test_a_group_is_one_transaction_and_each_send_gets_its_own_answer(personas, visitors, monkeypatch):
    published = []
    monkeypatch.setattr(realtime, "_send", lambda frames: published.append((connection.in_atomic_block, len(frames))))
    sends = [
        storing(visitors[0], "g-1"),
        storing(visitors[1], "g-2", body=""),  # refused: an empty text
        storing(visitors[2], "g-3"),
        storing(visitors[0], "g-1"),  # a repeat inside the same group: the original comes back
        storing(visitors[0], "g-4"),
    ]
    with CaptureQueriesContext(connection) as queries:
        results = group_commit.store_together(sends)
    assert [type(r).__name__ for r in results] == ["tuple", "DomainError", "tuple", "tuple", "tuple"]
    assert results[1].code == "empty_body"
    (first, created1), (third, created3), (repeat, created_repeat), (fourth, created4) = results[0], results[2], results[3], results[4]
    assert created1 and created3 and created4 and not created_repeat and repeat.pk == first.pk
    assert (first.seq, fourth.seq, third.seq) == (2, 3, 2)
    commits = [q["sql"] or "" for q in queries.captured_queries if (q["sql"] or "").upper().startswith(("COMMIT", "BEGIN"))]
    # One BEGIN/COMMIT pair for the whole group (Django's autocommit off/on is not logged on SQLite)
    assert sum(1 for sql in commits if sql.upper().startswith("COMMIT")) <= 1
    assert Message.objects.filter(client_msg_id__startswith="g-").count() == 3
    assert not Message.objects.filter(client_msg_id="g-2").exists()
    # Published only after the commit, one customer and one inbox frame per stored message (the repeat publishes nothing)
    assert published and all(not in_block for in_block, _n in published)
    assert sum(n for _in_block, n in published) == 6
    gap_free(personas.workspace)


def test_a_database_error_in_one_send_runs_the_group_one_by_one(personas, visitors):
    def broken():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_here")

    results = group_commit.store_together([storing(visitors[0], "d-1"), broken, storing(visitors[1], "d-2")])
    assert isinstance(results[1], Exception) and not isinstance(results[1], DomainError)
    assert results[0][1] is True and results[2][1] is True
    # Each stored exactly once: the group was rolled back before the sends ran alone
    assert sorted(Message.objects.filter(client_msg_id__startswith="d-").values_list("client_msg_id", flat=True)) == ["d-1", "d-2"]
    assert results[0][0].seq == 2 and results[2][0].seq == 2
    gap_free(personas.workspace)


def test_racing_groups_with_repeats_store_each_message_once(personas, visitors):
    """Four threads store groups at once; every message is in two groups (a retry racing its
    original on another process): each is stored once, every caller gets it, seq stays gap-free."""
    answers = {}

    def worker(i):
        sends = []
        for n in (range(12) if i % 2 == 0 else reversed(range(12))):  # threads 0/1 and 2/3 repeat each other's
            who = n % len(visitors)
            sends.append(storing(visitors[who], f"r-{who}-{n}-{i // 2}"))
        for result in group_commit.store_together(sends):
            assert not isinstance(result, Exception), result
            answers.setdefault(result[0].client_msg_id, set()).add(result[0].pk)

    run_threads(4, worker)
    stored = Message.objects.filter(client_msg_id__startswith="r-")
    assert stored.count() == len(answers) == 24
    assert all(len(pks) == 1 for pks in answers.values())
    gap_free(personas.workspace)


@pytest.fixture
def twelve_tokens(personas):
    return [make_visitor(personas.inbox_a)[1] for _ in range(12)]


async def test_sockets_sending_at_once_share_groups_and_all_get_acks(twelve_tokens, settings, monkeypatch):
    settings.CHAT = {**settings.CHAT, "SEND_GROUPS_IN_FLIGHT": 1}
    sizes = []
    real = group_commit.store_together
    monkeypatch.setattr(group_commit, "store_together", lambda sends: sizes.append(len(sends)) or real(sends))
    sockets = [await connect_customer(token) for token in twelve_tokens]
    for n, comm in enumerate(sockets):
        await send_json(comm, {"type": "send", "client_msg_id": f"ws-{n}", "body": f"第 {n} 条"})
    acks = [(await frames_until(comm, "ack", timeout=10))[0] for comm in sockets]
    for comm in sockets:
        await comm.disconnect()
    assert sorted(a["client_msg_id"] for a in acks) == sorted(f"ws-{n}" for n in range(12))
    assert all(a["duplicate"] is False and a["message"]["seq"] == 1 for a in acks)
    assert sum(sizes) == 12 and len(sizes) < 12  # at least one group held several sends
    stored = await sync_to_async(lambda: Message.objects.filter(client_msg_id__startswith="ws-").count())()
    assert stored == 12
