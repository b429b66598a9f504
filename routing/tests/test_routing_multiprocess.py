"""Routing under real concurrency: two uvicorn processes on PostgreSQL + Redis, 200 customers
starting conversations at once. No conversation assigned twice, nobody over capacity, the
rest queued in order, and the queue drains VIP first then first come, first served."""

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import tokens
from accounts.models import Membership, Role
from chat.models import Conversation, ConversationEvent
from conftest import make_agent, make_visitor
from routing import actions
from routing.selection import QueueEntry, queue_order

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 200
CAPACITIES = [8, 8, 6, 6, 4, 4, 2, 2]  # 40 slots for 200 customers


def post(url, body, headers):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_two_hundred_simultaneous_conversations(personas, two_servers):
    port_a, port_b = two_servers
    agents = []
    for n, capacity in enumerate(CAPACITIES):
        user, actor = make_agent(personas.workspace, [personas.inbox_a], role=Role.AGENT, username=f"router{n}")
        actions.set_status(actor, "online", capacity=capacity)
        agents.append((user, actor, capacity, tokens.issue(Membership.objects.get(user=user), "bench")[1]))
    visitors = [make_visitor(personas.inbox_a)[1] for _ in range(CUSTOMERS)]

    def start(i):
        port = (port_a, port_b)[i % 2]
        return post(f"http://127.0.0.1:{port}/api/v1/customer/messages", {"client_msg_id": f"hi-{i}", "body": f"customer {i}"},
                    {"Authorization": f"Customer {visitors[i]}"})

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(start, range(CUSTOMERS)))
    assert [r for r in results if r[0] != 201] == []
    ids = [body["message"]["conversation_id"] for _, body in results]
    conversations = Conversation.objects.filter(pk__in=ids)
    assert conversations.count() == CUSTOMERS

    # nobody assigned twice, nobody over capacity
    assigned_events = ConversationEvent.objects.filter(conversation_id__in=ids, kind="assigned")
    assert assigned_events.count() == conversations.filter(state="assigned").count() == sum(CAPACITIES)
    assert len(set(assigned_events.values_list("conversation_id", flat=True))) == sum(CAPACITIES)
    for user, _actor, capacity, _key in agents:
        assert conversations.filter(assignee=user, state="assigned").count() == capacity

    # the rest wait in the default group's queue, each with a distinct position
    queued = list(conversations.filter(state="queued", assignee__isnull=True))
    assert len(queued) == CUSTOMERS - sum(CAPACITIES)
    assert all(c.queued_at is not None and c.group_id is not None for c in queued)
    assert len({c.group_id for c in queued}) == 1

    # some waiting customers are VIPs; then agents free slots one by one through the API
    vips = [c.pk for c in sorted(queued, key=lambda c: c.queued_at)[-5:]]  # the latest arrivals
    Conversation.objects.filter(pk__in=vips).update(vip_level=1)
    expected = [e.conversation_id for e in queue_order(
        QueueEntry(c.pk, c.group_id, c.queued_at, 1 if c.pk in vips else 0) for c in queued)]
    assert expected[:5] == sorted(vips, key=lambda pk: next(c.queued_at for c in queued if c.pk == pk))

    # the positions customers are told match that order (the first 100 of the queue are published)
    positions = actions.publish_queue_positions(personas.workspace.pk, queued[0].group_id)
    assert positions == {pk: n for n, pk in enumerate(expected[:100], start=1)}

    served_order = []
    for round_ in range(12):
        user, _actor, _capacity, key = agents[round_ % len(agents)]
        mine = conversations.filter(assignee=user, state="assigned").order_by("pk").first()
        port = (port_a, port_b)[round_ % 2]
        status, _ = post(f"http://127.0.0.1:{port}/api/v1/conversations/{mine.pk}/state", {"state": "resolved"}, {"Authorization": f"Bearer {key}"})
        assert status == 200
        newly = (ConversationEvent.objects.filter(conversation_id__in=expected, kind="assigned")
                 .exclude(conversation_id__in=served_order).order_by("id").values_list("conversation_id", flat=True))
        served_order += list(newly)
    assert served_order == expected[:12]  # VIPs first, then first come, first served
    for user, _actor, capacity, _key in agents:
        assert conversations.filter(assignee=user, state="assigned").count() <= capacity
