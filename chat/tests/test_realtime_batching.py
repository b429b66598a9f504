"""Issue 15: the publisher (helpdesk.realtime) sends every frame queued on its event loop in one
batch (on the Redis pub/sub layer: one pipeline of PUBLISH per shard), in commit order per group.
Marked engine_db: on SQLite these run on the in-memory layer (sequential group_send), on the
PostgreSQL + Redis pass on channels-redis' pub/sub layer (the pipelined path)."""

import asyncio
import json
import threading
import uuid

import pytest
from channels.db import DatabaseSyncToAsync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from conftest import make_visitor, send
from helpdesk import realtime

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def batches(monkeypatch):
    """Sizes of the batches the publisher hands to the layer, and whether each took the pipeline."""
    seen = []
    publish_all, pipelined = realtime._publish_all, realtime._publish_pipelined

    async def recorded_publish_all(frames):
        seen.append([len(frames), False])
        await publish_all(frames)

    async def recorded_pipelined(layer, frames):
        seen[-1][1] = True
        await pipelined(layer, frames)

    monkeypatch.setattr(realtime, "_publish_all", recorded_publish_all)
    monkeypatch.setattr(realtime, "_publish_pipelined", recorded_pipelined)
    return seen


async def subscribe(groups):
    layer = get_channel_layer()
    channels = {}
    for group in groups:
        channels[group] = await layer.new_channel()
        await layer.group_add(group, channels[group])
    return layer, channels


async def receive(layer, channel):
    # Waits on the frame, not on a clock; the bound only turns a lost frame into a failure.
    return await asyncio.wait_for(layer.receive(channel), 10)


def test_the_redis_pass_takes_the_pipelined_path():
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer) == bool(settings.REDIS_URL)
    assert realtime._PIPELINE  # the pinned channels_redis still has what the pipeline uses


async def test_a_loop_turn_of_commits_goes_out_in_one_batch_complete_and_in_order(batches):
    groups = [f"batchtest.{uuid.uuid4().hex[:8]}.{i}" for i in range(10)]
    layer, channels = await subscribe(groups)
    loop = asyncio.get_running_loop()
    for n in range(100):  # 100 commits of 10 frames each, all handed over in this loop turn
        realtime._enqueue(loop, [(group, {"type": "relay", "text": f"{group}:{n}"}) for group in groups])

    for group in groups:
        assert [(await receive(layer, channels[group]))["text"] for _ in range(100)] == [f"{group}:{n}" for n in range(100)]
    assert batches == [[1000, bool(settings.REDIS_URL)]]
    for group in groups:
        await layer.group_discard(group, channels[group])


async def test_commit_order_per_group_is_kept_under_a_burst(personas):
    """Four customers send 40 messages each at once (four threads committing concurrently): every
    message reaches the inbox group, each conversation's in seq order and each sender's in send order."""
    per_sender = 40
    visitors = [personas.visitor] + [(await DatabaseSyncToAsync(make_visitor)(personas.inbox_a))[0] for _ in range(3)]
    group = realtime.group_for_inbox(personas.inbox_a.pk)
    layer, channels = await subscribe([group])

    def burst(k, actor):
        for n in range(per_sender):
            send(actor, f"burst-{k}-{n}")

    await asyncio.gather(*(DatabaseSyncToAsync(burst, thread_sensitive=False)(k, v) for k, v in enumerate(visitors)))

    received = {k: [] for k in range(len(visitors))}  # sender -> (n, seq, conversation) in arrival order
    while sum(map(len, received.values())) < per_sender * len(visitors):
        event = await receive(layer, channels[group])
        text = event["text"]
        if '"type":"message"' in text and '"burst-' in text:
            message = json.loads(text)["message"]
            _, k, n = message["body"].split("-")
            received[int(k)].append((int(n), message["seq"], message["conversation_id"]))
    for k, got in received.items():
        assert [n for n, _, _ in got] == list(range(per_sender)), f"sender {k}"
        seqs = [seq for _, seq, _ in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == per_sender
        assert len({conversation for _, _, conversation in got}) == 1
    await layer.group_discard(group, channels[group])


@pytest.mark.scaleout  # Redis only: the in-memory layer is one loop's, a plain thread can't feed it
async def test_a_sync_context_publishes_through_the_same_path(batches):
    """A management command or shell (no running loop): publish and wait, pipelined too."""
    assert isinstance(get_channel_layer(), RedisPubSubChannelLayer)
    group = f"batchtest.sync.{uuid.uuid4().hex[:8]}"
    layer, channels = await subscribe([group])
    frames = [(group, {"type": "relay", "text": str(n)}) for n in range(50)]
    thread = threading.Thread(target=realtime._send, args=(frames,))  # a plain thread: no main event loop
    thread.start()
    assert [(await receive(layer, channels[group]))["text"] for _ in range(50)] == [str(n) for n in range(50)]
    await asyncio.to_thread(thread.join)
    assert batches == [[50, True]]
    await layer.group_discard(group, channels[group])
