"""helpdesk.channel_layer: the in-memory layer scans for expired entries at most once a second,
and still drops what expired (a message nobody read, a member that stopped reading)."""

import asyncio

from helpdesk import channel_layer


def test_expired_entries_are_scanned_at_most_once_a_second_and_still_dropped(monkeypatch):
    scans = []
    real = channel_layer.layers.InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(channel_layer.layers.InMemoryChannelLayer, "_clean_expired", lambda self: scans.append(1) or real(self))
    clock = [1000.0]
    monkeypatch.setattr(channel_layer.time, "monotonic", lambda: clock[0])

    async def scenario():
        layer = channel_layer.InMemoryChannelLayer(expiry=1)
        await layer.group_add("inbox.1", "specific.reader")
        await layer.group_add("inbox.1", "specific.gone")
        for n in range(50):
            await layer.group_send("inbox.1", {"type": "relay", "n": n})
        assert scans == [1]  # fifty sends, one scan
        received = await layer.receive("specific.reader")
        assert received["n"] == 0
        # the unread messages of specific.gone expire (expiry 1 s of wall time) ...
        layer.channels["specific.gone"]._queue[0] = (0, layer.channels["specific.gone"]._queue[0][1])
        clock[0] += channel_layer.CLEAN_INTERVAL_SECONDS  # ... and the next scan is due
        await layer.group_send("inbox.1", {"type": "relay", "n": 50})
        assert len(scans) == 2
        assert "specific.gone" not in layer.groups["inbox.1"]  # dropped from its groups, as channels does
        assert "specific.reader" in layer.groups["inbox.1"]

    asyncio.run(scenario())
