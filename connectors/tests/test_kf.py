"""WeCom 微信客服 (connectors.wechat.kf) against the simulator subprocess: the sync from the cursor,
exactly once across two workers, the welcome within its 20 s, sending, WeCom's session state."""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import override_settings

from chat import states
from chat.models import Conversation, Inbox, Message
from conftest import make_agent, run_threads
from connectors import inbound
from connectors import outbound as outbound_module
from connectors.models import ChannelAccount, ChannelUser, KfCursor, OutboundMessage
from connectors.tests.factories import make_channel_inbox
from connectors.wechat import kf
from lifecycle import flow
from lifecycle.models import FollowUp

ROOT = Path(__file__).resolve().parents[2]
CORP_ID, OPEN_KFID, USER = "wwcorp0001", "wkOPENKFID01", "wmCUSTOMER01"


# --- the simulator subprocess -----------------------------------------------------------------
# TODO(helper B): switch to connectors/tests/simulator_fixture.py when it lands; this is the same idea.


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def simulator_base():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "connectors.wechat.simulator", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield base
    process.terminate()
    process.wait(5)


class Sim:
    def __init__(self, base):
        self.base = base

    def control(self, name, data=None, method="POST"):
        body = json.dumps(data or {}).encode() if method == "POST" else None
        request = urllib.request.Request(f"{self.base}/_sim/{name}", data=body, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def queue(self, text=None, user=USER, **fields):
        if text is not None:
            fields.update(msgtype="text", text={"content": text})
        return self.control("kf/queue", {"open_kfid": OPEN_KFID, "external_userid": user, **fields})["message"]

    def sent(self, api):
        return self.control(f"sent?api={api}", method="GET")["sent"]


@pytest.fixture
def sim(simulator_base):
    sim = Sim(simulator_base)
    sim.control("reset")
    with override_settings(WECOM_API_BASE=simulator_base):
        yield sim


def make_kf_inbox(greeting=""):
    inbox = make_channel_inbox(kind=Inbox.Kind.WECOM_KF, app_id=CORP_ID, open_kfid=OPEN_KFID)
    account = inbox.channel_account
    account.app_secret = "kf-secret"
    account.save()
    if greeting:
        Inbox.objects.filter(pk=inbox.pk).update(widget_greeting=greeting)
    return ChannelAccount.objects.select_related("inbox").get(pk=account.pk)


def stored_texts(account):
    return list(Message.objects.filter(conversation__inbox=account.inbox, sender_kind="customer").order_by("pk").values_list("body", flat=True))


def wecom_state(account, user=USER):
    return kf.for_account(account).service_state(OPEN_KFID, user)["service_state"]


# --- kf messages as InboundItems (no database) ------------------------------------------------


def _msg(msgtype, body, **more):
    return {"msgid": "m1", "open_kfid": OPEN_KFID, "external_userid": USER, "send_time": 1700000000, "origin": 3,
            "msgtype": msgtype, msgtype: body, **more}


def test_every_kind_maps_to_an_inbound_item():
    text = kf.to_item(_msg("text", {"content": "你好", "menu_id": "101"}))
    assert (text.kind, text.text, text.external_id, text.dedupe_key, text.sent_at, text.extra) == ("text", "你好", USER, "m1", 1700000000, {"menu_id": "101"})
    assert (kf.to_item(_msg("image", {"media_id": "MI"})).kind, kf.to_item(_msg("image", {"media_id": "MI"})).media_id) == ("image", "MI")
    voice = kf.to_item(_msg("voice", {"media_id": "MV"}))
    assert (voice.kind, voice.media_id, voice.media_format) == ("voice", "MV", "amr")
    assert kf.to_item(_msg("video", {"media_id": "MD"})).kind == "video"
    file_item = kf.to_item(_msg("file", {"media_id": "MF"}))
    assert file_item.kind in ("file", "text") and (file_item.media_id == "MF" or file_item.extra["media_id"] == "MF")
    place = kf.to_item(_msg("location", {"latitude": 23.1, "longitude": 113.3, "name": "广州塔", "address": "海珠区"}))
    assert (place.kind, place.extra) == ("location", {"label": "广州塔 海珠区", "lat": 23.1, "lng": 113.3})
    link = kf.to_item(_msg("link", {"title": "T", "desc": "D", "url": "https://x.example/a", "pic_url": "P"}))
    assert (link.kind, link.extra["title"], link.extra["description"], link.extra["url"]) == ("link", "T", "D", "https://x.example/a")
    card = kf.to_item(_msg("miniprogram", {"title": "Shop", "appid": "wxapp", "pagepath": "pages/a"}))
    assert (card.kind, card.extra) == ("miniprogram", {"title": "Shop", "appid": "wxapp", "pagepath": "pages/a"})
    assert kf.to_item(_msg("business_card", {"userid": "zhangsan"})).kind == "text"
    unknown = kf.to_item(_msg("channels_shop_product", {"product_id": "1"}))
    assert unknown.kind == "text" and "channels_shop_product" in unknown.text


# --- the sync from the persisted cursor -------------------------------------------------------


@pytest.mark.django_db
def test_sync_stores_customer_messages_and_advances_the_cursor(sim):
    account = make_kf_inbox()
    sim.queue("第一条")
    sim.queue("second")
    sim.queue(msgtype="image", image={"media_id": "sim-image-jpeg"})
    result = kf.sync(account, token="callback-token")
    assert (result.batches, result.stored) == (1, 3)
    assert KfCursor.objects.get(account=account).cursor == "3"
    assert stored_texts(account)[:2] == ["第一条", "second"] and len(stored_texts(account)) == 3  # the image too
    sim.queue("third")
    assert kf.sync(account).stored == 1  # from the cursor: nothing before it again
    assert kf.sync(account).stored == 0
    assert stored_texts(account)[-1] == "third" and len(stored_texts(account)) == 4
    assert ChannelUser.objects.filter(inbox=account.inbox, external_id=USER).count() == 1


@pytest.mark.django_db
def test_sync_pulls_batches_while_has_more(sim, monkeypatch):
    monkeypatch.setattr(kf, "BATCH_LIMIT", 2)
    account = make_kf_inbox()
    for n in range(5):
        sim.queue(f"m{n}")
    result = kf.sync(account)
    assert (result.batches, result.stored) == (3, 5)
    assert stored_texts(account) == [f"m{n}" for n in range(5)]


@pytest.mark.django_db
def test_a_refused_message_does_not_block_the_batch(sim, monkeypatch):
    account = make_kf_inbox()
    sim.queue("ok 1")
    sim.queue("boom")
    sim.queue("ok 2")
    real = inbound.receive

    def receive(inbox, item):
        if item.text == "boom":
            raise ValueError("malformed")
        return real(inbox, item)

    monkeypatch.setattr(inbound, "receive", receive)
    result = kf.sync(account)
    assert (result.stored, result.skipped) == (2, 1)
    assert stored_texts(account) == ["ok 1", "ok 2"]
    assert KfCursor.objects.get(account=account).cursor == "3"


@pytest.mark.django_db
def test_a_refused_pull_consumes_nothing(sim):
    account = make_kf_inbox()
    sim.queue("kept")
    sim.control("fail", {"code": -1, "times": 1, "path": "kf/sync_msg"})
    with pytest.raises(kf.WeChatError):
        kf.sync(account)
    assert KfCursor.objects.get(account=account).cursor == ""
    assert kf.sync(account).stored == 1


# --- the welcome line -------------------------------------------------------------------------


@pytest.mark.django_db
def test_enter_session_is_welcomed_right_away_with_the_inbox_greeting(sim):
    account = make_kf_inbox(greeting="您好，有什么可以帮您？")
    sim.queue(event="enter_session", scene="home")
    result = kf.sync(account)
    assert result.welcomed == 1
    [sent] = sim.sent("kf/send_msg_on_event")
    assert sent["body"]["text"]["content"] == "您好，有什么可以帮您？" and sent["body"]["code"]
    assert ChannelUser.objects.filter(inbox=account.inbox, external_id=USER).exists()  # the window opened


@pytest.mark.django_db
def test_no_greeting_no_welcome_and_an_expired_code_is_not_used(sim):
    account = make_kf_inbox()
    sim.queue(event="enter_session")
    assert kf.sync(account).welcomed == 0
    Inbox.objects.filter(pk=account.inbox_id).update(widget_greeting="hi")
    account.inbox.refresh_from_db()
    queued = sim.queue(event="enter_session")
    code = queued["event"]["welcome_code"]
    late = kf._Welcome(code, USER, queued["send_time"])
    assert kf.send_welcome(account, late, now=queued["send_time"] + kf.WELCOME_SECONDS + 1) is False
    assert sim.sent("kf/send_msg_on_event") == []
    assert kf.send_welcome(account, late, now=queued["send_time"] + 1) is True


# --- sending ----------------------------------------------------------------------------------


def _outbound(account, body="您好", **message_fields):
    kf.sync(account)  # the customer's message, already queued in the simulator
    conversation = Conversation.objects.get(inbox=account.inbox)
    message = Message.objects.create(conversation=conversation, seq=conversation.last_seq + 10, sender_kind="agent",
                                     sender_key="u:1", body=body, **message_fields)
    user = ChannelUser.objects.get(inbox=account.inbox)
    return OutboundMessage.objects.create(message=message, inbox=account.inbox, channel_user=user)


@pytest.mark.django_db
def test_kf_sender_sends_through_send_msg(sim):
    account = make_kf_inbox()
    sim.queue("hello")
    outbound = _outbound(account, "您好，请问订单号是？")
    outbound = OutboundMessage.objects.select_related("inbox__channel_account", "message", "channel_user").get(pk=outbound.pk)
    result = kf.SENDER.send(outbound)
    assert result.ok
    [sent] = sim.sent("kf/send_msg")
    assert sent["body"] == {"touser": USER, "open_kfid": OPEN_KFID, "msgid": f"hd{outbound.pk}-0",
                            "msgtype": "text", "text": {"content": "您好，请问订单号是？"}}
    assert outbound_module.SENDERS[Inbox.Kind.WECOM_KF] is kf.SENDER


@pytest.mark.django_db
def test_kf_sender_reports_wecom_errors(sim):
    account = make_kf_inbox()
    sim.queue("hello")
    outbound = _outbound(account)
    sim.control("fail", {"code": 95018, "times": 1, "path": "kf/send_msg"})
    result = kf.SENDER.send(OutboundMessage.objects.select_related("inbox__channel_account", "message", "channel_user").get(pk=outbound.pk))
    assert (result.ok, result.errcode, result.transient) == (False, 95018, False)
    sim.control("fail", {"code": -1, "times": 1, "path": "kf/send_msg"})
    result = kf.SENDER.send(OutboundMessage.objects.select_related("inbox__channel_account", "message", "channel_user").get(pk=outbound.pk))
    assert (result.ok, result.transient) == (False, True)


@pytest.mark.django_db
def test_msg_send_fail_marks_the_outbound_message_failed(sim):
    account = make_kf_inbox()
    sim.queue("hello")
    outbound = _outbound(account)
    kf._take_event(account, {"msgtype": "event", "event": {"event_type": "msg_send_fail", "fail_msgid": f"hd{outbound.pk}-0",
                                                           "fail_type": 10}}, kf._Batch())
    outbound.refresh_from_db()
    assert (outbound.state, outbound.errcode) == ("failed", 10) and outbound.error


# --- WeCom's session state ----------------------------------------------------------------------


@pytest.mark.django_db
def test_service_state_follows_the_conversation(sim, settings):
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "EAGER": False}
    account = make_kf_inbox()
    sim.queue("我要退货")
    kf.sync(account)
    conversation = Conversation.objects.get(inbox=account.inbox)
    jobs = FollowUp.objects.filter(conversation=conversation, kind=flow.KF_STATE_JOB)
    assert jobs.count() == 1  # conversation_started
    assert wecom_state(account) == kf.STATE_NEW
    assert kf.service_state_job(conversation.pk) == kf.STATE_API
    assert wecom_state(account) == kf.STATE_API
    assert kf.service_state_job(conversation.pk) is None  # already there: get only

    _user, agent = make_agent(conversation.workspace, [account.inbox])
    states.change_state(agent, conversation.pk, Conversation.State.RESOLVED)
    assert jobs.count() == 2
    assert kf.service_state_job(conversation.pk) == kf.STATE_ENDED
    assert wecom_state(account) == kf.STATE_ENDED
    assert [s["body"]["service_state"] for s in sim.sent("kf/service_state/trans")] == [1, 4]


@pytest.mark.django_db
def test_no_state_job_for_other_inboxes_or_changes_wecom_does_not_see(personas, settings, sender):
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "EAGER": False}
    message, _ = sender(personas.visitor, "hello")
    states.change_state(personas.agent_a, message.conversation_id, Conversation.State.RESOLVED)
    assert not FollowUp.objects.filter(kind=flow.KF_STATE_JOB).exists()
    conversation = Conversation(inbox_id=personas.inbox_a.pk, state=Conversation.State.PENDING)
    assert kf.follows_state(conversation, Conversation.State.ASSIGNED) is False  # both map to 1


@pytest.mark.django_db
def test_the_session_ends_only_after_queued_lines_went_out(sim):
    account = make_kf_inbox()
    sim.queue("hello")
    outbound = _outbound(account, "resolved line")
    conversation = Conversation.objects.get(inbox=account.inbox)
    kf.service_state_job(conversation.pk)  # 0 -> 1
    Conversation.objects.filter(pk=conversation.pk).update(state=Conversation.State.RESOLVED)
    with pytest.raises(kf.NotYet):
        kf.service_state_job(conversation.pk)
    OutboundMessage.objects.filter(pk=outbound.pk).update(state=OutboundMessage.State.SENT)
    assert kf.service_state_job(conversation.pk) == kf.STATE_ENDED


# --- exactly once across workers (PostgreSQL in the engine pass) --------------------------------


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_two_workers_neither_both_consume_nor_skip_a_batch(sim, monkeypatch):
    monkeypatch.setattr(kf, "BATCH_LIMIT", 3)
    account = make_kf_inbox()
    count = 24
    for n in range(count):
        sim.queue(f"msg {n}", user=f"wmUSER{n % 3}")
    seen, lock = [], threading.Lock()
    real = inbound.receive

    def receive(inbox, item):
        with lock:
            seen.append(item.dedupe_key)
        time.sleep(0.01)  # hold the batch a little: the other worker is then surely waiting
        return real(inbox, item)

    monkeypatch.setattr(inbound, "receive", receive)
    results = []
    run_threads(2, lambda i: results.append(kf.sync(ChannelAccount.objects.select_related("inbox").get(pk=account.pk), token=f"t{i}")))
    assert sorted(seen) == sorted({m for m in seen}) and len(seen) == count  # each message handed over once
    assert sum(r.stored for r in results) == count
    assert Message.objects.filter(conversation__inbox=account.inbox, sender_kind="customer").count() == count
    assert KfCursor.objects.get(account=account).cursor == str(count)


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_on_callback_syncs_in_the_background(sim):
    account = make_kf_inbox(greeting="欢迎")
    sim.queue(event="enter_session")
    sim.queue("在吗")
    future = kf.on_callback(account.inbox, "callback-token", OPEN_KFID)
    result = future.result(timeout=20)
    assert (result.stored, result.welcomed) == (1, 1)
    assert stored_texts(account) == ["在吗"]
    assert kf.on_callback(account.inbox, "t", "wkSOMEONE_ELSE") is None


# --- the worker's backstop sync (no callback needed) --------------------------------------------


@pytest.mark.django_db(transaction=True)  # the loop closes its connection between turns: no test transaction around it
def test_the_worker_backstop_stores_messages_queued_without_any_callback(sim, settings):
    from lifecycle import worker

    account = make_kf_inbox()
    sim.queue("第一条")
    sim.queue("第二条", user="wmCUSTOMER02")
    stats = worker.run_loop(threading.Event(), once=True, sweep_interval=0, kf_interval=60)
    assert (stats["kf_stored"], stats["errors"]) == (2, 0)
    assert stored_texts(account) == ["第一条", "第二条"]
    assert KfCursor.objects.get(account=account).cursor == "2"
    assert kf.sync_all() == 0  # nothing new: the cursor moved with the batch

    sim.queue("第三条")
    assert worker.run_loop(threading.Event(), once=True, sweep_interval=0, kf_interval=0)["kf_stored"] == 0  # 0: off
    assert stored_texts(account) == ["第一条", "第二条"]
    settings.WECOM_KF_SYNC_SECONDS = 0
    assert kf.sync_interval() == 0
    settings.WECOM_KF_SYNC_SECONDS = 5
    assert kf.sync_interval() == 5
    assert kf.sync_all() == 1


@pytest.mark.django_db
def test_one_failing_account_does_not_starve_the_others(sim, caplog):
    broken = make_channel_inbox(kind=Inbox.Kind.WECOM_KF, app_id="wwbroken", open_kfid="wkBROKEN").channel_account
    broken.app_secret = "wrong"
    broken.save()
    sim.control("fail", {"code": 40125, "times": 1, "path": "kf/sync_msg"})  # the first account (lowest pk) is refused
    account = make_kf_inbox()
    sim.queue("在吗")
    assert kf.sync_all() == 1
    assert stored_texts(account) == ["在吗"]
    assert "backstop sync of account" in caplog.text


@pytest.mark.engine_db
@pytest.mark.postgres_only  # SKIP LOCKED: SQLite's write lock serialises whole transactions instead
@pytest.mark.django_db(transaction=True)
def test_the_backstop_skips_a_cursor_another_sync_holds_instead_of_waiting(sim):
    from django.db import connection, transaction

    assert connection.vendor == "postgresql"
    account = make_kf_inbox()
    KfCursor.objects.get_or_create(account=account)
    sim.queue("在吗")
    locked, release = threading.Event(), threading.Event()

    def running_sync():  # stands for a callback's sync in another process, holding the cursor
        try:
            with transaction.atomic():
                KfCursor.objects.select_for_update().get(account=account)
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    holder = threading.Thread(target=running_sync)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        result = kf.sync(ChannelAccount.objects.select_related("inbox").get(pk=account.pk), skip_locked=True)
        assert kf.sync_all() == 0
        assert time.monotonic() - started < 2  # skipped, not waited on (the holder waits 20 s)
        assert (result.busy, result.stored, result.batches) == (True, 0, 0)
        assert stored_texts(account) == [] and KfCursor.objects.get(account=account).cursor == ""
    finally:
        release.set()
        holder.join(30)
    assert kf.sync_all() == 1  # the lock gone, the next backstop turn pulls it
    assert stored_texts(account) == ["在吗"]
