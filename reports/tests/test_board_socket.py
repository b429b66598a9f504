"""The board's and the banner's socket events: every agent socket of a workspace hears
alerts.changed; only board pages (?board=1) hear board.changed; another workspace hears neither."""

import pytest
from channels.testing import WebsocketCommunicator

from chat.tests.wsutil import frame, quiet, session_cookie
from helpdesk import realtime
from helpdesk.asgi import application
from reports import alerts, board

pytestmark = [pytest.mark.django_db(transaction=True)]


async def agent_socket(user, query=""):
    cookie = await session_cookie(user)
    headers = [(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")]
    comm = WebsocketCommunicator(application, f"/ws/agent/{query}", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    assert (await frame(comm))["type"] == "hello"
    return comm


async def test_alerts_reach_every_agent_and_board_changes_only_board_pages(personas):
    p = personas
    board_page = await agent_socket(p.agent_a_user, "?board=1")
    console = await agent_socket(p.agent_b_user)
    elsewhere = await agent_socket(p.other_agent_user, "?board=1")
    realtime.publish([(board.board_group(p.workspace.pk), {"type": "board.changed"}),
                      (alerts.alerts_group(p.workspace.pk), {"type": "alerts.changed"})])
    assert [f["type"] for f in await quiet(board_page)] == ["board.changed", "alerts.changed"]
    assert [f["type"] for f in await quiet(console)] == ["alerts.changed"]
    assert await quiet(elsewhere) == []
    for comm in (board_page, console, elsewhere):
        await comm.disconnect()
