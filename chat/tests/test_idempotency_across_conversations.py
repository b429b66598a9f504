"""Finding 8 of issue 14: client_msg_id is unique per sender across conversations.

A send that was committed but whose ack was lost, retried after the conversation was resolved,
used to be stored again in a new conversation. Marked engine_db: runs on SQLite and PostgreSQL."""

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from guardian.shortcuts import assign_perm

from accounts.models import Membership, Role
from chat import access, states
from chat.models import Conversation, Message
from conftest import make_visitor, run_threads, send
from helpdesk.errors import DomainError

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)


def resolve(personas, conversation_id):
    states.change_state(personas.owner, conversation_id, Conversation.State.RESOLVED)


def test_a_retry_after_resolve_returns_the_original(personas):
    original, created = send(personas.visitor, "where is my parcel?", client_msg_id="lost-ack-1")
    resolve(personas, original.conversation_id)
    retried, created_again = send(personas.visitor, "where is my parcel?", client_msg_id="lost-ack-1")
    assert created and not created_again and retried.pk == original.pk
    assert Message.objects.filter(body="where is my parcel?").count() == 1
    assert Conversation.objects.filter(customer_id=personas.visitor.customer_id).count() == 1
    assert Conversation.objects.get(pk=original.conversation_id).state == Conversation.State.RESOLVED  # not reopened by a retry


def test_a_retry_over_http_after_resolve_is_a_duplicate(personas):
    client = Client(HTTP_AUTHORIZATION=f"Customer {personas.visitor_token}")
    body = {"client_msg_id": "http-lost-ack", "body": "refund please"}
    first = client.post("/api/v1/customer/messages", body, content_type="application/json")
    resolve(personas, first.json()["message"]["conversation_id"])
    retry = client.post("/api/v1/customer/messages", body, content_type="application/json")
    assert first.status_code == 201 and retry.status_code == 200 and retry.json()["duplicate"] is True
    assert retry.json()["message"]["id"] == first.json()["message"]["id"]
    assert Message.objects.filter(body="refund please").count() == 1


def test_an_agent_retry_naming_another_conversation_returns_the_original(personas):
    first, _ = send(personas.visitor, "one")
    second, _ = send(make_visitor(personas.inbox_b)[0], "two")
    assert second.conversation_id != first.conversation_id
    reply, _ = send(personas.owner, "on it", client_msg_id="agent-1", conversation_id=first.conversation_id)
    again, created = send(personas.owner, "on it", client_msg_id="agent-1", conversation_id=second.conversation_id)
    assert not created and again.pk == reply.pk and again.conversation_id == first.conversation_id
    assert Message.objects.filter(client_msg_id="agent-1").count() == 1
    assert not Message.objects.filter(conversation_id=second.conversation_id, sender_key=reply.sender_key).exists()


def test_a_client_id_used_in_another_workspace_is_refused_not_returned(personas):
    """One person in two workspaces: the other workspace's message is never handed over."""
    membership = Membership.objects.create(workspace=personas.other_workspace, user=personas.owner_user, role=Role.FOUNDER)
    assign_perm("chat.reply_in_inbox", personas.owner_user, personas.other_inbox)
    in_other = access.agent_actor(membership)
    theirs, _ = send(personas.other_visitor, "x")
    send(in_other, "secret from Z", client_msg_id="shared-1", conversation_id=theirs.conversation_id)
    ours, _ = send(personas.visitor, "y")
    with pytest.raises(DomainError) as refused:
        send(personas.owner, "hello", client_msg_id="shared-1", conversation_id=ours.conversation_id)
    assert refused.value.code == "invalid_client_msg_id"
    assert not Message.objects.filter(conversation_id=ours.conversation_id, sender_kind="agent").exists()


def test_the_database_refuses_a_second_row_for_the_same_sender_and_client_id(personas):
    first, _ = send(personas.visitor, "hi", client_msg_id="db-1")
    resolve(personas, first.conversation_id)
    state_before = Conversation.objects.get(pk=first.conversation_id)
    other = Conversation.objects.create(workspace=personas.workspace, inbox=personas.inbox_a, customer_id=personas.visitor.customer_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=other, seq=1, sender_kind="customer", sender_key=first.sender_key, client_msg_id="db-1", body="hi")
    assert state_before.last_seq == 1


def test_concurrent_retries_after_resolve_store_once(personas):
    original, _ = send(personas.visitor, "race", client_msg_id="race-1")
    resolve(personas, original.conversation_id)
    results = []
    run_threads(6, lambda i: results.append(send(personas.visitor, "race", client_msg_id="race-1")))
    assert {m.pk for m, _created in results} == {original.pk} and not any(created for _m, created in results)
    assert Message.objects.filter(client_msg_id="race-1").count() == 1
