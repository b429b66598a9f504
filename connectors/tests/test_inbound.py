"""connectors.inbound.receive: who the sender is, what is stored, the reply window, events."""

import time

import pytest
from django.urls import reverse
from django.utils import translation

from chat.models import Customer, Inbox, Message
from connectors import inbound
from connectors.base import InboundItem
from connectors.models import ChannelUser, InboundEvent
from connectors.tests import factories as f
from connectors.wechat import parse

pytestmark = pytest.mark.django_db


def item(**kwargs):
    defaults = {"external_id": "oUserAb12", "dedupe_key": f.next_msg_id(), "kind": "text", "text": "你好", "sent_at": int(time.time())}
    return InboundItem(**{**defaults, **kwargs})


def test_first_message_creates_a_named_customer_and_channel_user():
    inbox = f.make_channel_inbox()
    with translation.override("en"):
        message = inbound.receive(inbox, item())
    user = ChannelUser.objects.select_related("customer").get(inbox=inbox)
    assert user.customer.name == "WeChat user Ab12"
    assert user.customer.workspace_id == inbox.workspace_id and user.customer.first_inbox_id == inbox.pk
    assert message.body == "你好" and message.sender_customer_id == user.customer_id
    assert user.last_inbound_at is not None and user.replies_since_inbound == 0


def test_same_message_id_is_stored_once():
    inbox = f.make_channel_inbox()
    same = item(dedupe_key="6054768590064713728")
    first = inbound.receive(inbox, same)
    assert inbound.receive(inbox, same).pk == first.pk
    assert Message.objects.filter(sender_kind="customer").count() == 1


def test_a_new_message_resets_the_reply_count_a_retry_does_not():
    inbox = f.make_channel_inbox()
    now = int(time.time())
    inbound.receive(inbox, item(sent_at=now - 10))
    ChannelUser.objects.update(replies_since_inbound=3)
    retry = item(sent_at=now - 10)  # same CreateTime (a retry, or a second message that second)
    inbound.receive(inbox, retry)
    assert ChannelUser.objects.get().replies_since_inbound == 3
    inbound.receive(inbox, item(sent_at=now))
    user = ChannelUser.objects.get()
    assert user.replies_since_inbound == 0 and int(user.last_inbound_at.timestamp()) == now


def test_unionid_finds_the_workspace_customer_across_wechat_inboxes():
    oa = f.make_channel_inbox()
    mp = f.make_channel_inbox(workspace=oa.workspace, kind=Inbox.Kind.WECHAT_MP)
    elsewhere = f.make_channel_inbox()
    inbound.receive(oa, item(external_id="oOA1", union_id="uUnion1"))
    inbound.receive(mp, item(external_id="oMP1", union_id="uUnion1"))
    inbound.receive(elsewhere, item(external_id="oZ1", union_id="uUnion1"))
    oa_user, mp_user, other = (ChannelUser.objects.get(external_id=e) for e in ("oOA1", "oMP1", "oZ1"))
    assert oa_user.customer_id == mp_user.customer_id
    assert other.customer_id != oa_user.customer_id  # another workspace never shares a customer
    assert Customer.objects.count() == 2


def test_unionid_learned_later_is_kept():
    inbox = f.make_channel_inbox()
    inbound.receive(inbox, item())
    inbound.receive(inbox, item(union_id="uLater"))
    assert ChannelUser.objects.get().union_id == "uLater"


def test_media_becomes_an_attachment_at_the_product_media_address():
    inbox = f.make_channel_inbox()
    message = inbound.receive(inbox, item(kind="image", text="", media_id="MEDIA_id-1", media_format="jpg"))
    url = reverse("connectors:media", args=[inbox.public_key, "MEDIA_id-1"])
    assert url == f"/channels/media/{inbox.public_key}/MEDIA_id-1"
    # Until the engine accepts channel media from customers the address is kept in the text.
    assert (message.attachments and message.attachments[0]["url"] == url) or url in message.body


def test_voice_keeps_its_recognition_text():
    inbox = f.make_channel_inbox()
    message = inbound.receive(inbox, item(kind="voice", text="我要退款", media_id="v1", media_format="amr"))
    assert "我要退款" in message.body


def test_media_without_a_usable_id_is_a_label():
    inbox = f.make_channel_inbox()
    with translation.override("en"):
        message = inbound.receive(inbox, item(kind="video", text="", media_id="../../etc"))
    assert message.body == "[Video]" and not message.attachments


def test_location_link_and_card_are_readable_text():
    inbox = f.make_channel_inbox()
    with translation.override("en"):
        location = inbound.receive(inbox, item(kind="location", text="", extra={"lat": "23.1", "lng": "113.3", "label": "<b>店</b>"}))
        link = inbound.receive(inbox, item(kind="link", text="", extra={"title": "T", "description": "D", "url": "https://x.example/a?b=1"}))
        card = inbound.receive(inbox, item(kind="miniprogram", text="", extra={"title": "Goods", "pagepath": "pages/g?id=1"}))
    assert location.body == "Location: <b>店</b> (23.1, 113.3)"  # kept as typed: the console shows text, never HTML
    assert link.body == "Link: T\nD\nhttps://x.example/a?b=1"
    assert card.body == "Mini program page: Goods\npages/g?id=1"


def test_card_path_is_the_entry_page():
    inbox = f.make_channel_inbox(kind=Inbox.Kind.WECHAT_MP)
    message = inbound.receive(inbox, item(kind="miniprogram", text="", entry_page="pages/g?id=1", extra={"title": "G"}))
    assert message.conversation.entry_page == "pages/g?id=1"


def test_unsupported_and_empty_items_are_skipped():
    inbox = f.make_channel_inbox()
    assert inbound.receive(inbox, item(kind="unsupported", extra={"msg_type": "hologram"})) is None
    assert inbound.receive(inbox, item(text="  ")) is None
    assert not Message.objects.exists() and not ChannelUser.objects.exists()


def test_nul_characters_are_dropped():
    inbox = f.make_channel_inbox()
    assert inbound.receive(inbox, item(text="a\x00b")).body == "ab"


def test_events_count_once_and_open_the_window():
    inbox = f.make_channel_inbox()
    event = item(kind="event", event="subscribe", text="", dedupe_key="oUserAb12:1700000000:subscribe")
    assert inbound.receive(inbox, event) is None
    assert inbound.receive(inbox, event) is None
    assert InboundEvent.objects.count() == 1
    assert ChannelUser.objects.get().last_inbound_at is not None
    assert not Message.objects.exists()


def test_unsubscribe_creates_nobody():
    inbox = f.make_channel_inbox()
    inbound.receive(inbox, item(kind="event", event="unsubscribe", text="", dedupe_key="o:1:unsubscribe"))
    assert InboundEvent.objects.count() == 1 and not ChannelUser.objects.exists()


def test_a_file_is_an_attachment_or_labelled():
    inbox = f.make_channel_inbox(kind=Inbox.Kind.WECOM_KF)
    message = inbound.receive(inbox, item(kind="file", text="", media_id="f1", extra={"name": "发票.pdf"}))
    url = reverse("connectors:media", args=[inbox.public_key, "f1"])
    assert (message.attachments and message.attachments[0]["name"] == "发票.pdf") or url in message.body


# --- parse: every message type maps to an item ----------------------------------------------------


def fields(**more):
    return {"FromUserName": "oX", "CreateTime": "1482048670", "MsgId": "1234567890123456", **more}


@pytest.mark.parametrize(("raw", "kind", "checks"), [
    (fields(MsgType="text", Content="hi"), "text", {"text": "hi", "dedupe_key": "1234567890123456"}),
    (fields(MsgType="image", PicUrl="http://p", MediaId="m1"), "image", {"media_id": "m1", "media_format": "jpg"}),
    (fields(MsgType="voice", MediaId="m2", Format="AMR"), "voice", {"media_format": "amr"}),
    (fields(MsgType="voice", MediaId="m3", Format="speex", Recognition="你好"), "voice", {"media_format": "speex", "text": "你好"}),
    (fields(MsgType="video", MediaId="m4", ThumbMediaId="t4"), "video", {"media_id": "m4"}),
    (fields(MsgType="shortvideo", MediaId="m5", ThumbMediaId="t5"), "video", {"media_id": "m5"}),
    (fields(MsgType="location", Location_X="23.1", Location_Y="113.3", Scale="20", Label="L"), "location", {}),
    (fields(MsgType="link", Title="T", Description="D", Url="https://u"), "link", {}),
    (fields(MsgType="miniprogrampage", Title="T", AppId="wxa", PagePath="p/i", ThumbUrl="", ThumbMediaId="t"), "miniprogram",
     {"entry_page": "p/i"}),
    (fields(MsgType="event", Event="subscribe", EventKey="qrscene_42"), "event",
     {"event": "subscribe", "entry_page": "qrscene_42", "dedupe_key": "oX:1482048670:subscribe"}),
    (fields(MsgType="event", Event="user_enter_tempsession", SessionFrom="sf"), "event",
     {"event": "user_enter_tempsession", "entry_page": "sf"}),
    (fields(MsgType="event", Event="unsubscribe"), "event", {"event": "unsubscribe"}),
    (fields(MsgType="hologram"), "unsupported", {}),
])
def test_parse_maps_each_type(raw, kind, checks):
    result = parse.to_item(raw)
    assert result.kind == kind and result.external_id == "oX" and result.sent_at == 1482048670
    for key, value in checks.items():
        assert getattr(result, key) == value


def test_parse_without_msgid_makes_a_stable_key():
    raw = {"FromUserName": "oX", "CreateTime": "1", "MsgType": "text", "Content": "hi", "MsgId": "weird id!"}
    assert parse.to_item(raw).dedupe_key == parse.to_item(dict(raw)).dedupe_key
    assert len("wx:" + parse.to_item(raw).dedupe_key) <= 64
