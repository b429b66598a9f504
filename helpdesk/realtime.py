"""Real-time fan-out. The channel layer is at-most-once: clients recover
anything it drops by resuming from their last seq, so nothing here retries.

`publish` is the one way domain code emits events, and it only sends after
the surrounding transaction commits (nothing leaks from a rollback)."""

import asyncio
import json
import logging

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from django.db import transaction

log = logging.getLogger(__name__)


def group_for_inbox(inbox_id):
    """Every agent serving the inbox."""
    return f"inbox.{inbox_id}"


def group_for_customer(customer_id):
    """Every open tab and device of one customer."""
    return f"customer.{customer_id}"


def group_for_agent(user_id):
    """Every open tab and device of one agent."""
    return f"agent.{user_id}"


def encode(event):
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def publish(deliveries, *, scope=None):
    """deliveries: iterable of (group, event dict). Sent once the transaction commits.

    scope: facts a consumer needs to decide whether its user may see the event
    (e.g. {"assignee_id": 3}); it travels beside the encoded text."""
    # Serialise once now: every receiver relays the same text.
    frames = [(group, {"type": "relay", "text": encode(event), **(scope or {})}) for group, event in deliveries]
    if not frames:
        return
    if _running_loop() is not None:
        # On the event loop no Django transaction can be open (the ORM refuses to run there): the
        # rows were written by an autocommitted statement (helpdesk.async_db) that has returned.
        _send(frames)
    else:
        transaction.on_commit(lambda: _send(frames))


def publish_control(group, data):
    """A server-side instruction to the consumers in `group` (not relayed to clients as is)."""
    transaction.on_commit(lambda: _send([(group, {"type": "control", **data})]))


def revoke_agent(user_id, *, close=False):
    """Every socket of the agent, on any process, re-checks its session now and closes (4401)
    if it no longer holds; close=True closes them all, to be authenticated afresh on reconnect.
    At most once like any event: the sockets also re-check on their own (surfaces.consumers)."""
    publish_control(group_for_agent(user_id), {"action": "revoke", "close": close})


# One publisher task per event loop: commits hand their frames over without
# waiting (the database thread is the bottleneck, it must not wait on Redis),
# and the single task keeps the commit order on the wire.
_outboxes = {}  # event loop -> (queue, publisher task)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _send(frames):
    running = _running_loop()
    if running is not None:
        _enqueue(running, frames)
        return
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        # Plain sync context (management command, shell): publish and wait.
        try:
            async_to_sync(_publish_all)(frames)
        except Exception:  # the layer may drop; clients resume from the database
            log.warning("publish failed for %d frame(s)", len(frames), exc_info=True)
        return
    loop.call_soon_threadsafe(_enqueue, loop, frames)


def _enqueue(loop, frames):
    outbox, task = _outboxes.get(loop, (None, None))
    if task is None or task.done():  # first use on this loop, or the publisher was cancelled
        for closed in [other for other in _outboxes if other.is_closed()]:
            del _outboxes[closed]
        outbox = asyncio.Queue()
        task = loop.create_task(_drain(outbox))
        _outboxes[loop] = (outbox, task)
    outbox.put_nowait(frames)


async def _drain(outbox):
    while True:
        frames = list(await outbox.get())
        # Everything queued meanwhile (this loop turn's commits, or those that landed while the
        # last batch was on the wire) goes out in the same round trip, still in commit order.
        while not outbox.empty():
            frames.extend(outbox.get_nowait())
        try:
            await _publish_all(frames)
        except Exception:  # the layer may drop; clients resume from the database
            log.warning("publish failed for %d frame(s)", len(frames), exc_info=True)


# channels_redis 4.3 (pinned) internals the pipelined path relies on; checked here so that an
# upgrade that renames them falls back to group_send instead of failing every publish.
_PIPELINE = (
    all(hasattr(RedisPubSubLoopLayer, name) for name in ("_get_shard", "_get_group_channel_name"))
    and hasattr(RedisSingleShardConnection, "_ensure_redis")
    and hasattr(RedisPubSubChannelLayer, "_get_layer")
)


async def _publish_all(frames):
    layer = get_channel_layer()
    if _PIPELINE and isinstance(layer, RedisPubSubChannelLayer):
        await _publish_pipelined(layer, frames)
        return
    for group, frame in frames:  # other layers (in-memory): one send each, in order
        await layer.group_send(group, frame)


async def _publish_pipelined(layer, frames):
    """The pub/sub layer's group_send is one PUBLISH, one awaited round trip, per frame. Here each
    Redis shard gets all the frames for it in one pipeline, serialised as group_send does. A group
    always maps to one shard and a pipeline runs in order, so each group keeps its commit order."""
    loop_layer = layer._get_layer()
    per_shard = {}
    for group, frame in frames:
        channel = loop_layer._get_group_channel_name(group)
        per_shard.setdefault(loop_layer._get_shard(channel), []).append((channel, layer.serialize(frame)))
    for shard, messages in per_shard.items():
        async with shard._lock:  # as the shard's own publish: one user of its client at a time
            shard._ensure_redis()
            async with shard._redis.pipeline(transaction=False) as pipe:
                for channel, data in messages:
                    pipe.publish(channel, data)
                await pipe.execute()


async def signal_now(group, event, *, scope=None):
    """Ephemeral signals (typing) that touch no database row: no commit to wait for.
    scope: as in publish (who may see it among the group's sockets)."""
    try:
        await get_channel_layer().group_send(group, {"type": "relay", "text": encode(event), **(scope or {})})
    except Exception:
        log.warning("signal to %s failed", group, exc_info=True)
