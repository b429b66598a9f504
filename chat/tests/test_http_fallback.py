"""The HTTP fallback (DRF) speaks the same semantics as the WebSocket protocol."""

import pytest
from django.test import Client

from chat.models import Message
from conftest import make_visitor

pytestmark = [pytest.mark.django_db]


def customer_client(token):
    return Client(HTTP_AUTHORIZATION=f"Customer {token}")


def test_session_issues_a_token_and_renews_the_same_identity(personas):
    c = Client()
    first = c.post("/api/v1/customer/session", {"inbox_key": personas.inbox_a.public_key}, content_type="application/json").json()
    again = c.post("/api/v1/customer/session", {"inbox_key": personas.inbox_a.public_key, "token": first["token"]}, content_type="application/json").json()
    assert again["customer_id"] == first["customer_id"] and again["inbox_id"] == personas.inbox_a.pk
    unknown = c.post("/api/v1/customer/session", {"inbox_key": "nope"}, content_type="application/json")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_inbox"


def test_send_is_idempotent_and_fetch_since_seq_returns_the_rest(personas):
    c = customer_client(personas.visitor_token)
    r1 = c.post("/api/v1/customer/messages", {"client_msg_id": "h-1", "body": "hello"}, content_type="application/json")
    assert r1.status_code == 201 and r1.json()["duplicate"] is False
    retry = c.post("/api/v1/customer/messages", {"client_msg_id": "h-1", "body": "hello"}, content_type="application/json")
    assert retry.status_code == 200 and retry.json()["duplicate"] is True
    assert retry.json()["message"]["id"] == r1.json()["message"]["id"]
    cid = r1.json()["message"]["conversation_id"]
    c.post(f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "h-2", "body": "second"}, content_type="application/json")
    fetched = c.get(f"/api/v1/conversations/{cid}/messages?after_seq=1").json()
    assert [m["body"] for m in fetched["messages"]] == ["second"] and fetched["last_seq"] == 2
    assert Message.objects.count() == 2


def test_agent_uses_session_with_csrf(personas, sender):
    first, _ = sender(personas.visitor, "need help")
    agent = Client(enforce_csrf_checks=True)
    agent.force_login(personas.agent_a_user)
    no_csrf = agent.post(f"/api/v1/conversations/{first.conversation_id}/messages", {"client_msg_id": "a", "body": "hi"}, content_type="application/json")
    assert no_csrf.status_code == 403
    agent.get("/demo/agent/")  # sets the csrftoken cookie
    token = agent.cookies["csrftoken"].value
    ok = agent.post(
        f"/api/v1/conversations/{first.conversation_id}/messages",
        {"client_msg_id": "a", "body": "hi"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 201 and ok.json()["message"]["seq"] == 2
    listed = agent.get("/api/v1/conversations").json()["conversations"]
    assert [c["id"] for c in listed] == [first.conversation_id]
    resolved = agent.post(f"/api/v1/conversations/{first.conversation_id}/state", {"state": "resolved"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert resolved.json()["conversation"]["state"] == "resolved"


@pytest.mark.parametrize(
    "payload,status,code",
    [
        ({"body": "missing id"}, 400, "invalid"),
        ({"client_msg_id": "x", "body": "   "}, 400, "empty_body"),
        ({"client_msg_id": "x", "body": "a" * 5001}, 413, "body_too_long"),
        ({"client_msg_id": "x", "body": "hi", "type": "bogus"}, 400, "invalid"),
        ({"client_msg_id": "x", "body": "hi", "is_private": True}, 403, "forbidden"),
    ],
)
def test_bad_http_sends_are_4xx_and_store_nothing(personas, payload, status, code):
    r = customer_client(personas.visitor_token).post("/api/v1/customer/messages", payload, content_type="application/json")
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert Message.objects.count() == 0


def test_wrong_tokens_and_foreign_conversations(personas, sender):
    first, _ = sender(personas.visitor, "mine")
    url = f"/api/v1/conversations/{first.conversation_id}/messages"
    assert Client().get(url).status_code == 401
    assert customer_client("forged").get(url).status_code == 401
    foreign = customer_client(personas.other_visitor_token)
    assert foreign.get(url).status_code == 404
    assert foreign.post(url, {"client_msg_id": "z", "body": "x"}, content_type="application/json").status_code == 404
    other_agent = Client()
    other_agent.force_login(personas.other_agent_user)
    assert other_agent.get(url).status_code == 404
    assert other_agent.get("/api/v1/conversations").json()["conversations"] == []
    assert Message.objects.count() == 1


def test_conversation_list_costs_the_same_queries_for_1_or_30_rows(personas, sender):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    agent = Client()
    agent.force_login(personas.agent_a_user)

    def list_queries():
        with CaptureQueriesContext(connection) as ctx:
            rows = agent.get("/api/v1/conversations").json()["conversations"]
        return len(rows), len(ctx.captured_queries)

    sender(personas.visitor, "first")
    one_row, queries_for_one = list_queries()
    for n in range(29):
        customer, _ = make_visitor(personas.inbox_a)
        sender(customer, f"hi {n}")
    thirty_rows, queries_for_thirty = list_queries()
    assert (one_row, thirty_rows) == (1, 30)
    # session, user, two-factor check (accounts.middleware), membership, history grant,
    # the list itself: never one per row
    assert queries_for_one == queries_for_thirty == 6


def test_openapi_schema_is_served(db):
    r = Client().get("/api/schema/")
    assert r.status_code == 200 and b"/api/v1/conversations/{conversation_id}/messages" in r.content
