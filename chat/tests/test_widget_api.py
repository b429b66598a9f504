"""The widget's server side: verified identities (HMAC), attributes, the visit trail, the
pre-chat form, availability and the satisfaction rating (docs/protocol.md, "Widget endpoints")."""

import hashlib
import hmac
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from chat import identity, ratings, states
from chat.models import Conversation, ConversationEvent, Customer, CustomerVisit, SatisfactionRating, Tag
from conftest import make_visitor, verified_client
from helpdesk import realtime
from routing.actions import context_for
from routing.availability import inbox_availability
from routing.models import AgentPresence

pytestmark = [pytest.mark.django_db]

SESSION = "/api/v1/customer/session"


def sign(secret, user_id):
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def session(inbox, **body):
    return Client().post(SESSION, {"inbox_key": inbox.public_key, **body}, content_type="application/json")


def identified(inbox, user_id="u-1001", **body):
    return session(inbox, user_id=user_id, user_hash=sign(inbox.secret, user_id), **body)


def customer_client(token):
    return Client(HTTP_AUTHORIZATION=f"Customer {token}")


def post(token, path, body):
    return customer_client(token).post(f"/api/v1/customer/{path}", body, content_type="application/json")


def error_code(response):
    return response.json()["error"]["code"]


# --- identity ---------------------------------------------------------------------------------


def test_verified_identity_is_the_same_customer_on_every_device(personas):
    phone = identified(personas.inbox_a)
    assert phone.status_code == 200, phone.content
    body = phone.json()
    customer = Customer.objects.get(public_id=body["customer_id"])
    assert customer.external_id == "u-1001" and customer.workspace_id == personas.workspace.pk
    assert body["customer"] == {"name": "", "identified": True} and body["conversation"] is None
    sent = post(body["token"], "messages", {"client_msg_id": "p-1", "body": "where is my parcel?"})
    assert sent.status_code == 201
    conversation_id = sent.json()["message"]["conversation_id"]

    laptop = identified(personas.inbox_a).json()  # a new device: no token
    assert laptop["customer_id"] == customer.public_id
    assert laptop["conversation"]["id"] == conversation_id and laptop["conversation"]["state"] == "queued"
    history = customer_client(laptop["token"]).get(f"/api/v1/conversations/{conversation_id}/messages").json()
    assert [m["body"] for m in history["messages"]] == ["where is my parcel?"]
    assert Customer.objects.filter(external_id="u-1001").count() == 1


def test_anonymous_token_with_a_verified_identity_merges_the_visitor_into_the_identified_customer(personas, sender):
    sender(personas.visitor, "anonymous question")
    body = identified(personas.inbox_a, token=personas.visitor_token).json()
    assert body["customer_id"] != public_id(personas.visitor) and body["customer"]["identified"] is True
    # The visitor logged in: their open conversation is now the customer's (chat.customers.merge_visitor).
    conversation = Conversation.objects.get()
    assert body["conversation"]["id"] == conversation.pk and conversation.customer.public_id == body["customer_id"]
    visitor = Customer.objects.get(pk=personas.visitor.customer_id)
    assert visitor.external_id is None and visitor.merged_into_id == conversation.customer_id


@pytest.mark.parametrize(
    "user_hash",
    [
        "0" * 64,  # wrong
        None,  # missing
        "",  # empty
        "not-hex-at-all",
        "ĳ" * 64,  # non-ASCII: must not crash compare_digest
    ],
)
def test_unverified_identity_is_refused_and_stores_nothing(personas, user_hash):
    before = Customer.objects.count()
    body = {"user_id": "u-1001", "attributes": {"level": "vip9"}, "page": {"url": "https://shop.example/", "title": "Shop"}}
    if user_hash is not None:
        body["user_hash"] = user_hash
    r = session(personas.inbox_a, **body)
    assert r.status_code == 403 and error_code(r) == "invalid_identity"
    assert Customer.objects.count() == before and CustomerVisit.objects.count() == 0


def test_a_hash_made_with_another_inbox_secret_is_refused(personas):
    before = Customer.objects.count()
    for other in (personas.inbox_b, personas.other_inbox):  # same workspace, other workspace
        r = session(personas.inbox_a, user_id="u-1001", user_hash=sign(other.secret, "u-1001"))
        assert r.status_code == 403 and error_code(r) == "invalid_identity"
    assert Customer.objects.count() == before


def test_the_same_user_id_in_two_workspaces_is_two_customers(personas):
    ours = identified(personas.inbox_a).json()
    theirs = identified(personas.other_inbox).json()
    assert ours["customer_id"] != theirs["customer_id"]
    assert Customer.objects.get(public_id=theirs["customer_id"]).workspace_id == personas.other_workspace.pk


def test_verified_attributes_are_stored_and_routing_reads_them(personas):
    attributes = {"name": "Ann", "level": "vip3", "tags": ["VIP", "wholesale", "VIP"], "phone": "+86 138-0000-0000",
                  "email": "ann@example.com", "region": "浙江/杭州", "orders": 12, "newsletter": True}
    body = identified(personas.inbox_a, attributes=attributes).json()
    customer = Customer.objects.get(public_id=body["customer_id"])
    assert body["customer"] == {"name": "Ann", "identified": True}
    assert customer.name == "Ann"
    assert customer.attributes == {"level": "vip3", "phone": "+86 138-0000-0000", "email": "ann@example.com",
                                   "region": "浙江/杭州", "orders": 12, "newsletter": True}
    assert sorted(customer.tags.values_list("name", flat=True)) == ["VIP", "wholesale"]
    assert set(Tag.objects.filter(name__in=["VIP", "wholesale"]).values_list("workspace_id", flat=True)) == {personas.workspace.pk}

    message = post(body["token"], "messages", {"client_msg_id": "r-1", "body": "hi"}).json()["message"]
    context = context_for(Conversation.objects.select_related("customer").get(pk=message["conversation_id"]), need_last_agent=False)
    assert context.level == "vip3" and context.region == "浙江/杭州" and {"VIP", "wholesale"} <= context.tags

    # Later sessions merge: null removes a key, tags are only ever added, and the tag change reaches the timeline.
    identified(personas.inbox_a, attributes={"level": None, "tags": ["returning"]})
    customer.refresh_from_db()
    assert "level" not in customer.attributes and customer.attributes["orders"] == 12
    assert sorted(customer.tags.values_list("name", flat=True)) == ["VIP", "returning", "wholesale"]
    assert ConversationEvent.objects.filter(kind=ConversationEvent.Kind.TAGGED, data={"added": "returning"}).count() == 1


def test_an_anonymous_visitor_may_set_only_a_name(personas):
    before = Customer.objects.count()
    for attributes in ({"name": "Eve", "level": "vip9"}, {"tags": ["VIP"]}, {"email": "eve@example.com"}):
        r = session(personas.inbox_a, attributes=attributes)
        assert r.status_code == 400 and error_code(r) == "identity_required", r.content
    # The token of an identified customer is not a verified identity either: the hash is.
    token = identified(personas.inbox_a).json()["token"]
    r = session(personas.inbox_a, token=token, attributes={"level": "vip9"})
    assert r.status_code == 400 and error_code(r) == "identity_required"
    assert Customer.objects.count() == before + 1 and "level" not in Customer.objects.get(external_id="u-1001").attributes

    ok = session(personas.inbox_a, token=personas.visitor_token, attributes={"name": "Eve"})
    assert ok.status_code == 200 and ok.json()["customer"] == {"name": "Eve", "identified": False}
    assert Customer.objects.get(pk=personas.visitor.customer_id).name == "Eve"


@pytest.mark.parametrize(
    "attributes",
    [
        {"address": {"city": "Hangzhou"}},  # nested object
        {"favourites": ["a", "b"]},  # lists only for tags
        {f"k{i}": i for i in range(31)},  # too many keys
        {"note": "x" * 201},
        {"tags": [f"t{i}" for i in range(21)]},
        {"tags": ["<b>"]},
        {"tags": "VIP"},
        {"email": "not an address"},
        {"phone": "call me maybe"},
        {"bad key!": 1},
        {"name": "n" * 121},
        {"name": 42},
        {"score": 10**16},
        "not an object",
    ],
)
def test_bad_attributes_are_refused_and_store_nothing(personas, attributes):
    before = Customer.objects.count()
    r = identified(personas.inbox_a, attributes=attributes)
    assert r.status_code == 400 and error_code(r) in {"invalid_attributes", "invalid_name"}, r.content
    assert Customer.objects.count() == before and Tag.objects.count() == 0


def test_markup_in_a_name_is_stored_as_plain_text(personas):
    name = "<script>alert(1)</script>\x07\x1b Bob"
    body = session(personas.inbox_a, attributes={"name": name}).json()
    assert body["customer"]["name"] == "<script>alert(1)</script> Bob"  # control characters gone, nothing else touched
    assert Customer.objects.get(public_id=body["customer_id"]).name == "<script>alert(1)</script> Bob"


def test_forged_and_expired_tokens(personas):
    head, signature = personas.visitor_token.rsplit(":", 1)
    forged = f"{head}:{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 400 * 24 * 3600):
        expired = identity.make_customer_token(Customer.objects.get(pk=personas.visitor.customer_id), personas.inbox_a)
    for token in (forged, expired):
        renewed = session(personas.inbox_a, token=token).json()
        assert renewed["customer_id"] != public_id(personas.visitor)  # a fresh identity, never the token's
        for method, path, body in (("get", "inbox", None), ("post", "visits", {"url": "https://shop.example/"}),
                                   ("post", "profile", {}), ("get", "conversations/1/rating", None)):
            client = customer_client(token)
            r = client.get(f"/api/v1/customer/{path}") if method == "get" else client.post(f"/api/v1/customer/{path}", body, content_type="application/json")
            assert r.status_code == 401 and error_code(r) == "invalid_token", (path, r.content)
    assert CustomerVisit.objects.count() == 0


def test_a_token_from_another_workspace_gets_a_fresh_identity_here(personas, sender):
    sender(personas.other_visitor, "over there")
    body = session(personas.inbox_a, token=personas.other_visitor_token).json()
    customer = Customer.objects.get(public_id=body["customer_id"])
    assert customer.pk != personas.other_visitor.customer_id and customer.workspace_id == personas.workspace.pk
    assert body["conversation"] is None and body["inbox_id"] == personas.inbox_a.pk


# --- availability -------------------------------------------------------------------------------

CLOSED_HOURS = {"timezone": "UTC", "weekly": {"mon": [["00:00", "00:01"]]}, "holidays": []}


def test_availability_follows_business_hours_and_who_is_on_duty(personas, django_assert_max_num_queries):
    def availability():
        return customer_client(personas.visitor_token).get("/api/v1/customer/inbox").json()["inbox"]["availability"]

    assert availability() == {"state": "nobody_online", "leave_message": False}
    AgentPresence.objects.create(workspace=personas.workspace, user=personas.agent_b_user, status="online")  # serves inbox B only
    assert availability() == {"state": "nobody_online", "leave_message": False}
    personas.inbox_a.leave_message_when_nobody_online = True
    personas.inbox_a.save()
    assert availability() == {"state": "nobody_online", "leave_message": True}
    presence = AgentPresence.objects.create(workspace=personas.workspace, user=personas.agent_a_user, status="away")
    assert availability()["state"] == "nobody_online"
    for status in ("online", "busy"):  # busy agents are on duty: routing queues rather than leaving a message
        presence.status = status
        presence.save()
        assert availability() == {"state": "open", "leave_message": False}
    personas.inbox_a.refresh_from_db()
    with django_assert_max_num_queries(2):
        assert inbox_availability(personas.inbox_a)["state"] == "open"
    personas.inbox_a.business_hours = CLOSED_HOURS
    personas.inbox_a.save()
    assert availability() == {"state": "after_hours", "leave_message": True}


def test_session_and_inbox_endpoint_describe_the_inbox(personas):
    personas.inbox_a.widget_greeting = "Hi! <b>We reply fast.</b>"
    personas.inbox_a.prechat_fields = [{"key": "name", "label": "Your name", "required": True}, {"key": "phone", "label": "Phone", "type": "tel"}]
    personas.inbox_a.csat_enabled = False
    personas.inbox_a.save()
    AgentPresence.objects.create(workspace=personas.workspace, user=personas.agent_a_user, status="online")
    expected = {
        "name": "Site A",
        "greeting": "Hi! <b>We reply fast.</b>",
        "avatar_url": None,  # no picture: the default look
        "prechat_fields": [{"key": "name", "label": "Your name", "type": "text", "required": True},
                           {"key": "phone", "label": "Phone", "type": "tel", "required": False}],
        "csat_enabled": False,
        "availability": {"state": "open", "leave_message": False},
        "help_center": False,  # no published article yet: the widget shows no search box
    }
    body = session(personas.inbox_a, token=personas.visitor_token).json()
    assert body["inbox"] == expected and body["customer_id"] == public_id(personas.visitor)
    assert customer_client(personas.visitor_token).get("/api/v1/customer/inbox").json() == {"inbox": expected}
    agent = Client()
    agent.force_login(personas.agent_a_user)
    assert agent.get("/api/v1/customer/inbox").status_code == 403  # a customer endpoint
    assert Client().get("/api/v1/customer/inbox").status_code == 401
    # With an avatar (admin: widget editor), app SDKs get its path on this site to show it.
    personas.inbox_a.widget_avatar = f"uploads/{personas.workspace.pk}/2026/05/{'a' * 32}.png"
    personas.inbox_a.save()
    expected["avatar_url"] = f"/media/uploads/{personas.workspace.pk}/2026/05/{'a' * 32}.png"
    assert session(personas.inbox_a, token=personas.visitor_token).json()["inbox"] == expected
    assert customer_client(personas.visitor_token).get("/api/v1/customer/inbox").json() == {"inbox": expected}


# --- visits -------------------------------------------------------------------------------------


def test_visits_are_recorded_once_a_minute_per_page(personas):
    token = personas.visitor_token
    first = post(token, "visits", {"url": "https://shop.example/p/1", "title": "Red shoes\x00"})
    assert first.status_code == 201 and first.json() == {"ok": True, "recorded": True}
    again = post(token, "visits", {"url": "https://shop.example/p/1", "title": "Red shoes"})
    assert again.status_code == 201 and again.json() == {"ok": True, "recorded": False}
    assert list(CustomerVisit.objects.values_list("url", "title", "inbox_id")) == [("https://shop.example/p/1", "Red shoes", personas.inbox_a.pk)]
    post(token, "visits", {"url": "https://shop.example/cart"})
    CustomerVisit.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert post(token, "visits", {"url": "https://shop.example/cart"}).json()["recorded"] is True
    assert CustomerVisit.objects.filter(customer_id=personas.visitor.customer_id).count() == 3
    long_title = post(token, "visits", {"url": "https://shop.example/p/2", "title": "t" * 500})
    assert long_title.status_code == 201 and len(CustomerVisit.objects.get(url="https://shop.example/p/2").title) == 200


@pytest.mark.parametrize(
    "body,code",
    [
        ({"url": "javascript:alert(1)"}, "invalid_url"),
        ({"url": "ftp://shop.example/file"}, "invalid_url"),
        ({"url": "https://shop.example/" + "a" * 1000}, "invalid_url"),
        ({"url": "not a url"}, "invalid_url"),
        ({"title": "no url"}, "invalid_page"),
        ({"url": 42}, "invalid_page"),
        ([{"url": "https://shop.example/"}], "invalid"),
    ],
)
def test_bad_visits_are_400(personas, body, code):
    r = post(personas.visitor_token, "visits", body)
    assert r.status_code == 400 and error_code(r) == code
    assert CustomerVisit.objects.count() == 0


def test_the_session_records_the_page_but_a_bad_page_never_blocks_it(personas):
    page = {"url": "https://shop.example/home", "title": "Home"}
    first = session(personas.inbox_a, token=personas.visitor_token, page=page)
    session(personas.inbox_a, token=personas.visitor_token, page=page)  # a reload within the minute
    assert first.status_code == 200 and CustomerVisit.objects.filter(customer_id=personas.visitor.customer_id).count() == 1
    bad = session(personas.inbox_a, token=personas.visitor_token, page={"url": "file:///etc/passwd"})
    assert bad.status_code == 200 and CustomerVisit.objects.count() == 1


# --- pre-chat form --------------------------------------------------------------------------------

PRECHAT = [
    {"key": "name", "label": "Name", "type": "text", "required": True},
    {"key": "email", "label": "E-mail", "type": "email", "required": True},
    {"key": "phone", "label": "Phone", "type": "tel", "required": False},
    {"key": "order-no", "label": "Order number", "type": "text", "required": False},
    {"key": "question", "label": "Question", "type": "textarea", "required": False},
]


@pytest.fixture
def prechat_inbox(personas):
    personas.inbox_a.prechat_fields = PRECHAT
    personas.inbox_a.save()
    return personas.inbox_a


@pytest.mark.parametrize(
    "answers,code,bad_fields",
    [
        ({"email": "ann@example.com"}, "invalid_fields", {"name"}),
        ({"name": "   ", "email": "ann@example.com"}, "invalid_fields", {"name"}),
        ({"name": "Ann", "email": "not-an-address"}, "invalid_fields", {"email"}),
        ({"name": "Ann", "email": "ann@example.com", "phone": "555 CALL NOW"}, "invalid_fields", {"phone"}),
        ({"name": "Ann", "email": "ann@example.com", "phone": "1" * 33}, "invalid_fields", {"phone"}),
        ({"name": "Ann", "email": "ann@example.com", "order-no": "x" * 201}, "invalid_fields", {"order-no"}),
        ({"name": "Ann", "email": "ann@example.com", "order-no": 12}, "invalid_fields", {"order-no"}),
        ({"name": "Ann", "email": "ann@example.com", "level": "vip9"}, "unknown_fields", {"level"}),
    ],
)
def test_prechat_answers_are_checked_against_the_form(personas, prechat_inbox, answers, code, bad_fields):
    r = post(personas.visitor_token, "profile", answers)
    assert r.status_code == 400 and error_code(r) == code
    assert set(r.json()["error"]["fields"]) == bad_fields
    customer = Customer.objects.get(pk=personas.visitor.customer_id)
    assert customer.name == "" and customer.attributes == {}


def test_prechat_answers_are_stored(personas, prechat_inbox):
    answers = {"name": " Ann\x00 ", "email": "ann@example.com", "phone": "+86 138-0000-0000", "order-no": "",
               "question": "Line one\nline two <i>"}
    r = post(personas.visitor_token, "profile", answers)
    assert r.status_code == 200 and r.json() == {"customer": {"name": "Ann"}}
    customer = Customer.objects.get(pk=personas.visitor.customer_id)
    assert customer.name == "Ann"
    assert customer.attributes == {"email": "ann@example.com", "phone": "+86 138-0000-0000", "question": "Line one\nline two <i>"}


def test_an_inbox_without_a_form_accepts_no_answers(personas):
    r = post(personas.visitor_token, "profile", {"name": "Ann"})
    assert r.status_code == 400 and error_code(r) == "unknown_fields"
    assert post(personas.visitor_token, "profile", {}).json() == {"customer": {"name": ""}}


@pytest.mark.parametrize(
    "fields",
    [
        {"key": "name"},  # not a list
        [{"key": "level", "label": "Level", "type": "text", "required": False}],  # reserved for verified identities
        [{"key": "tags", "label": "Tags", "type": "text", "required": False}],
        [{"key": "Name!", "label": "Name", "type": "text", "required": True}],
        [{"key": "name", "label": "", "type": "text", "required": True}],
        [{"key": "name", "label": "Name", "type": "select", "required": True}],
        [{"key": "name", "label": "Name", "type": "text", "required": "yes"}],
        [{"key": "name", "label": "Name", "type": "text", "required": True, "extra": 1}],
        [{"key": "name", "label": "A", "type": "text"}, {"key": "name", "label": "B", "type": "text"}],
    ],
)
def test_inbox_clean_rejects_bad_prechat_configs(personas, fields):
    personas.inbox_a.prechat_fields = fields
    with pytest.raises(ValidationError) as exc:
        personas.inbox_a.full_clean()
    assert "prechat_fields" in exc.value.message_dict
    personas.inbox_a.prechat_fields = PRECHAT
    personas.inbox_a.full_clean()


def prechat_rows(fields):
    """The builder's posted parts for these fields (chat/prechat_form.py), row by row."""
    data = {}
    for n, field in enumerate(fields):
        base = 5 * n
        data.update({f"prechat_fields_{base}": str(n + 1), f"prechat_fields_{base + 1}": field["key"],
                     f"prechat_fields_{base + 2}": field["label"], f"prechat_fields_{base + 3}": field["type"]})
        if field["required"]:
            data[f"prechat_fields_{base + 4}"] = "on"
    return data


def test_the_admin_shows_a_bad_prechat_config_on_the_field(personas):
    admin = verified_client(personas.owner_user)
    url = f"/admin/chat/inbox/{personas.inbox_a.pk}/change/"
    existing = list(personas.inbox_a.user_permissions.order_by("pk"))
    data = {"name": "Site A", "kind": "web", "csat_enabled": "on", "widget_greeting": "Hello!", "widget_color": "#0b5cad",
            "widget_position": "right",
            "user_permissions-TOTAL_FORMS": str(len(existing)), "user_permissions-INITIAL_FORMS": str(len(existing))}
    for i, row in enumerate(existing):
        data.update({f"user_permissions-{i}-id": row.pk, f"user_permissions-{i}-user": row.user_id,
                     f"user_permissions-{i}-content_object": personas.inbox_a.pk})
    # the same question twice is refused on the field
    bad = admin.post(url, {**data, **prechat_rows([PRECHAT[0], {**PRECHAT[0], "label": "Name again"}])})
    assert bad.status_code == 200 and "prechat_fields" in bad.context["adminform"].form.errors
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.prechat_fields == []
    good = admin.post(url, {**data, **prechat_rows(PRECHAT[:2])})
    assert good.status_code == 302, good.context["adminform"].form.errors if good.context else good
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.prechat_fields == PRECHAT[:2] and personas.inbox_a.widget_greeting == "Hello!"


# --- satisfaction rating ---------------------------------------------------------------------------


@pytest.fixture
def finished(personas, sender):
    """The visitor's conversation, answered by agent A and resolved."""
    message, _ = sender(personas.visitor, "my order is late")
    Conversation.objects.filter(pk=message.conversation_id).update(assignee=personas.agent_a_user, state=Conversation.State.ASSIGNED)
    sender(personas.agent_a, "sorted, sorry!", conversation_id=message.conversation_id)
    return message.conversation_id


def test_rating_a_finished_conversation(personas, finished, monkeypatch, django_capture_on_commit_callbacks):
    c = customer_client(personas.visitor_token)
    url = f"/api/v1/customer/conversations/{finished}/rating"
    early = c.post(url, {"rating": 5}, content_type="application/json")
    assert early.status_code == 409 and error_code(early) == "not_finished"
    assert c.get(url).status_code == 404 and error_code(c.get(url)) == "not_rated"
    states.change_state(personas.agent_a, finished, Conversation.State.RESOLVED)

    sent = []
    monkeypatch.setattr(realtime, "_send", sent.extend)
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(url, {"rating": 4, "comment": "Quick <b>and</b> kind\r\nthanks"}, content_type="application/json")
    assert r.status_code == 201, r.content
    body = r.json()["rating"]
    assert body["conversation_id"] == finished and body["rating"] == 4 and body["comment"] == "Quick <b>and</b> kind\nthanks"
    stored = SatisfactionRating.objects.get()
    assert stored.agent_id == personas.agent_a_user.pk and stored.customer_id == personas.visitor.customer_id
    assert stored.comment == "Quick <b>and</b> kind\nthanks"  # plain text, escaped when shown
    event = ConversationEvent.objects.get(kind=ConversationEvent.Kind.RATED)
    assert event.conversation_id == finished and event.data == {"rating": 4, "reasons": []} and event.actor_customer_id == personas.visitor.customer_id
    to_agents = [frame for group, frame in sent if group == realtime.group_for_inbox(personas.inbox_a.pk)]
    assert to_agents and '"type":"conversation.updated"' in to_agents[0]["text"]
    assert c.get(url).json() == {"rating": body}
    agent = Client()
    agent.force_login(personas.agent_a_user)
    assert agent.get(url).json() == {"rating": body}  # agents who can see the conversation read it too

    again = c.post(url, {"rating": 1}, content_type="application/json")
    assert again.status_code == 409 and error_code(again) == "already_rated"
    assert SatisfactionRating.objects.get().rating == 4


def test_closed_conversations_can_be_rated_too(personas, finished):
    states.change_state(personas.agent_a, finished, Conversation.State.CLOSED)
    assert post(personas.visitor_token, f"conversations/{finished}/rating", {"rating": 2}).status_code == 201


@pytest.mark.parametrize("rating", [0, 6, "x", "5", 4.5, True, None, [5]])
def test_bad_ratings_are_400(personas, finished, rating):
    states.change_state(personas.agent_a, finished, Conversation.State.RESOLVED)
    r = post(personas.visitor_token, f"conversations/{finished}/rating", {"rating": rating})
    assert r.status_code == 400 and error_code(r) == "invalid_rating"
    assert SatisfactionRating.objects.count() == 0


def test_too_long_comment_is_400(personas, finished):
    states.change_state(personas.agent_a, finished, Conversation.State.RESOLVED)
    r = post(personas.visitor_token, f"conversations/{finished}/rating", {"rating": 3, "comment": "c" * 1001})
    assert r.status_code == 400 and error_code(r) == "invalid_comment" and SatisfactionRating.objects.count() == 0


def test_nobody_rates_someone_elses_conversation(personas, finished):
    states.change_state(personas.agent_a, finished, Conversation.State.RESOLVED)
    neighbour, neighbour_token = make_visitor(personas.inbox_a)  # same inbox, another visitor
    for token in (neighbour_token, personas.other_visitor_token):
        r = post(token, f"conversations/{finished}/rating", {"rating": 1})
        assert r.status_code == 404 and error_code(r) == "not_found"
        assert customer_client(token).get(f"/api/v1/customer/conversations/{finished}/rating").status_code == 404
    agent = Client()
    agent.force_login(personas.agent_a_user)
    r = agent.post(f"/api/v1/customer/conversations/{finished}/rating", {"rating": 5}, content_type="application/json")
    assert r.status_code == 403  # agents never rate
    assert SatisfactionRating.objects.count() == 0


def test_no_rating_when_the_inbox_does_not_collect_them(personas, finished):
    states.change_state(personas.agent_a, finished, Conversation.State.RESOLVED)
    personas.inbox_a.csat_enabled = False
    personas.inbox_a.save()
    r = post(personas.visitor_token, f"conversations/{finished}/rating", {"rating": 5})
    assert r.status_code == 403 and error_code(r) == "csat_disabled" and SatisfactionRating.objects.count() == 0


def test_the_database_backs_the_rating_rules(personas, finished):
    conversation = Conversation.objects.get(pk=finished)
    with pytest.raises(IntegrityError), transaction.atomic():
        SatisfactionRating.objects.create(conversation=conversation, customer=conversation.customer, rating=6)
    SatisfactionRating.objects.create(conversation=conversation, customer=conversation.customer, rating=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        SatisfactionRating.objects.create(conversation=conversation, customer=conversation.customer, rating=3)


def test_ratings_are_listed_in_the_admin_for_their_workspace_only(personas, finished, sender):
    states.change_state(personas.agent_a, finished, Conversation.State.RESOLVED)
    ratings.rate_conversation(personas.visitor, finished, 5, "great")
    theirs, _ = sender(personas.other_visitor, "elsewhere")
    states.change_state(personas.other_agent, theirs.conversation_id, Conversation.State.RESOLVED)
    ratings.rate_conversation(personas.other_visitor, theirs.conversation_id, 1, "other shop")
    admin = verified_client(personas.owner_user)
    page = admin.get("/admin/chat/satisfactionrating/")
    assert page.status_code == 200
    assert [r.conversation_id for r in page.context["cl"].result_list] == [finished]
    ours = SatisfactionRating.objects.get(conversation_id=finished)
    assert admin.get(f"/admin/chat/satisfactionrating/{ours.pk}/change/").status_code == 200
    other = SatisfactionRating.objects.get(conversation_id=theirs.conversation_id)
    assert admin.get(f"/admin/chat/satisfactionrating/{other.pk}/change/").status_code == 404


def test_vip_level_from_a_signed_identity_jumps_the_queue(personas):
    vip = identified(personas.inbox_a, user_id="u-vip", attributes={"vip_level": 3}).json()
    plain = identified(personas.inbox_a, user_id="u-plain", attributes={"vip_level": "high"}).json()  # not an int: no priority
    levels = []
    for body in (vip, plain):
        message = post(body["token"], "messages", {"client_msg_id": f"v-{body['customer_id']}", "body": "hi"}).json()["message"]
        levels.append(Conversation.objects.get(pk=message["conversation_id"]).vip_level)
    assert levels == [3, 0]
    # An anonymous visitor cannot claim one.
    anonymous = session(personas.inbox_a, attributes={"vip_level": 9})
    assert anonymous.status_code == 400


def public_id(actor):
    """What the session answer calls the customer: the opaque id, never the sequential pk."""
    return Customer.objects.get(pk=actor.customer_id).public_id
