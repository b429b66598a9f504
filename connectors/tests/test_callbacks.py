"""WeChat's callback over real HTTP: handshake, signatures, replay protection, plain / compatible /
safe mode, hostile and malformed bodies (4xx or a logged skip, never a 500, nothing stored)."""

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, Message
from conftest import make_inbox, make_workspace
from connectors.models import ChannelAccount, ChannelUser, InboundEvent
from connectors.tests import factories as f
from connectors.wechat import crypto

pytestmark = pytest.mark.django_db


def stored():
    return Message.objects.filter(sender_kind="customer").count()


def test_handshake_echoes_echostr():
    inbox = f.make_channel_inbox()
    params = {**f.signed_params(), "echostr": "5837397520589164112"}
    response = Client().get(f.callback_url(inbox), params)
    assert response.status_code == 200 and response.content == b"5837397520589164112"


def test_handshake_with_bad_signature_is_refused():
    inbox = f.make_channel_inbox()
    params = {**f.signed_params(), "echostr": "5837397520589164112", "signature": "0" * 40}
    assert Client().get(f.callback_url(inbox), params).status_code == 403


def test_encrypted_handshake_is_decrypted():
    inbox = f.make_channel_inbox(kind=Inbox.Kind.WECOM_KF, mode=ChannelAccount.Mode.SAFE)
    echostr = crypto.MessageCrypto(f.AES_KEY, f.APP_ID).encrypt("1616140317555161061")
    params = f.signed_params(encrypt=echostr)
    response = Client().get(f.callback_url(inbox), {**params, "echostr": echostr})
    assert response.status_code == 200 and response.content == b"1616140317555161061"


def test_only_wechat_inboxes_with_an_account_have_a_callback():
    web = make_inbox(make_workspace())
    bare = make_inbox(make_workspace(), kind=Inbox.Kind.WECHAT_OA)
    for inbox in (web, bare):
        assert Client().get(f.callback_url(inbox), {**f.signed_params(), "echostr": "1"}).status_code == 404
    url = reverse("connectors:wechat-callback", args=["nosuchkey"])
    assert Client().post(url, data=f.xml(**f.text_fields()), content_type="text/xml").status_code == 404


def test_plain_text_message_is_stored_and_answered_success():
    inbox = f.make_channel_inbox()
    response = f.post_plain(inbox, f.text_fields("我的订单到哪了？"))
    assert response.status_code == 200 and response.content == b"success"
    message = Message.objects.get(sender_kind="customer")
    assert message.body == "我的订单到哪了？" and message.conversation.inbox_id == inbox.pk
    assert message.client_msg_id.startswith("wx:")
    user = ChannelUser.objects.get(inbox=inbox)
    assert user.external_id == "oia2TjjewbmiOUlr6X-1crbLOvLw" and user.customer_id == message.conversation.customer_id


def test_bad_signature_stores_nothing():
    inbox = f.make_channel_inbox()
    params = {**f.signed_params(), "signature": "f" * 40}
    assert f.post_plain(inbox, f.text_fields(), params=params).status_code == 403
    assert stored() == 0 and not ChannelUser.objects.exists()


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_old_or_future_timestamp_is_refused(skew):
    inbox = f.make_channel_inbox()
    params = f.signed_params(timestamp=int(time.time()) + skew)
    assert f.post_plain(inbox, f.text_fields(), params=params).status_code == 403
    assert stored() == 0


def test_reused_nonce_is_refused():
    inbox = f.make_channel_inbox()
    params = f.signed_params()
    assert f.post_plain(inbox, f.text_fields("first"), params=params).status_code == 200
    # Same timestamp and nonce, another message: a replay, whatever the body says.
    assert f.post_plain(inbox, f.text_fields("second"), params=params).status_code == 403
    assert list(Message.objects.filter(sender_kind="customer").values_list("body", flat=True)) == ["first"]


def test_missing_timestamp_or_nonce_is_refused():
    inbox = f.make_channel_inbox()
    params = f.signed_params()
    for missing in ("timestamp", "nonce"):
        partial = {k: v for k, v in params.items() if k != missing}
        assert f.post_plain(inbox, f.text_fields(), params=partial).status_code == 403
    assert stored() == 0


def test_a_retried_callback_is_stored_once():
    inbox = f.make_channel_inbox()
    fields = f.text_fields("retry me")  # WeChat retries with the same MsgId (and a new nonce)
    for _ in range(3):
        assert f.post_plain(inbox, fields).status_code == 200
    assert stored() == 1


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
def test_a_retried_callback_is_stored_once_engine_db():
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.SAFE)
    fields = f.text_fields("retry me, encrypted")
    for _ in range(3):
        assert f.post_encrypted(inbox, fields).status_code == 200
    assert stored() == 1 and ChannelUser.objects.count() == 1


def test_safe_mode_encrypted_message():
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.SAFE)
    assert f.post_encrypted(inbox, f.text_fields("加密的消息")).status_code == 200
    assert Message.objects.get(sender_kind="customer").body == "加密的消息"


def test_safe_mode_refuses_a_plain_body():
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.SAFE)
    assert f.post_plain(inbox, f.text_fields()).status_code == 403
    assert stored() == 0


def test_bad_msg_signature_or_other_appid_is_refused():
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.SAFE)
    encrypted = crypto.MessageCrypto(f.AES_KEY, f.APP_ID).encrypt(f.xml(**f.text_fields()))
    params = {**f.signed_params(encrypt=encrypted), "msg_signature": "0" * 40}
    assert f.post(inbox, f.xml(ToUserName="gh_1", Encrypt=encrypted), params=params).status_code == 403
    assert f.post_encrypted(inbox, f.text_fields(), app_id="wx_someone_else").status_code == 403
    assert stored() == 0


def test_compatible_mode_trusts_the_encrypted_part():
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.COMPATIBLE)
    fields = f.text_fields("the real one")
    encrypted = crypto.MessageCrypto(f.AES_KEY, f.APP_ID).encrypt(f.xml(**fields))
    body = f.xml(**{**fields, "Content": "tampered plain copy", "Encrypt": encrypted})
    assert f.post(inbox, body, params=f.signed_params(encrypt=encrypted)).status_code == 200
    assert Message.objects.get(sender_kind="customer").body == "the real one"
    # And a plain push is still accepted in compatible mode.
    assert f.post_plain(inbox, f.text_fields("plain")).status_code == 200
    assert stored() == 2


@pytest.mark.parametrize("body", [
    "<xml><FromUserName>broken",
    "not xml at all",
    "",
    "<html><FromUserName>x</FromUserName></html>",
    "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType><Content>no sender</Content></xml>",
    '{"FromUserName": ["not", "a", "string"], "MsgType": "text"}',
    "[1, 2, 3]",
])
def test_malformed_bodies_are_400(body):
    inbox = f.make_channel_inbox()
    assert f.post(inbox, body).status_code == 400
    assert stored() == 0


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_tricks_are_refused(body):
    inbox = f.make_channel_inbox()
    assert f.post(inbox, body).status_code == 400
    assert stored() == 0


def test_encrypted_entity_trick_is_refused_too():
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.SAFE)
    encrypted = crypto.MessageCrypto(f.AES_KEY, f.APP_ID).encrypt(BILLION_LAUGHS)
    assert f.post(inbox, f.xml(ToUserName="gh", Encrypt=encrypted), params=f.signed_params(encrypt=encrypted)).status_code == 400
    assert stored() == 0


def test_oversized_body_is_413():
    inbox = f.make_channel_inbox()
    body = f.xml(**f.text_fields("x" * (64 * 1024)))
    assert f.post(inbox, body).status_code == 413
    assert stored() == 0


def test_unknown_type_is_answered_and_skipped():
    inbox = f.make_channel_inbox()
    fields = {**f.text_fields(), "MsgType": "hologram"}
    response = f.post_plain(inbox, fields)
    assert response.status_code == 200 and response.content == b"success"
    assert stored() == 0


def test_empty_text_is_answered_and_skipped():
    inbox = f.make_channel_inbox()
    fields = f.text_fields("   ")  # an empty text: skipped
    assert f.post_plain(inbox, fields).status_code == 200
    assert stored() == 0


def test_other_methods_are_refused():
    inbox = f.make_channel_inbox()
    assert Client().put(f.callback_url(inbox)).status_code == 405


def test_oa_image_location_link():
    inbox = f.make_channel_inbox()
    common = {"ToUserName": "gh_7f083739789a", "FromUserName": "oUser1", "CreateTime": int(time.time())}
    f.post_plain(inbox, {**common, "MsgType": "image", "PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": "media_abc-1",
                         "MsgId": int(f.next_msg_id())})
    f.post_plain(inbox, {**common, "MsgType": "location", "Location_X": "23.134521", "Location_Y": "113.358803", "Scale": 20,
                         "Label": "广州市海珠区", "MsgId": int(f.next_msg_id())})
    f.post_plain(inbox, {**common, "MsgType": "link", "Title": "订单详情", "Description": "第 42 号",
                         "Url": "https://shop.example.com/o/42", "MsgId": int(f.next_msg_id())})
    image, location, link = Message.objects.filter(sender_kind="customer").order_by("seq")
    media = reverse("connectors:media", args=[inbox.public_key, "media_abc-1"])
    assert media in image.body or image.attachments[0]["url"] == media
    assert "广州市海珠区" in location.body and "23.134521" in location.body
    assert "订单详情" in link.body and "https://shop.example.com/o/42" in link.body
    assert ChannelUser.objects.get().external_id == "oUser1"


def test_mini_program_json_plain_and_encrypted():
    inbox = f.make_channel_inbox(kind=Inbox.Kind.WECHAT_MP, mode=ChannelAccount.Mode.COMPATIBLE)
    fields = {**f.text_fields("来自小程序"), "FromUserName": "oMpUser"}
    assert f.post(inbox, json.dumps(fields, ensure_ascii=False), content_type="application/json").status_code == 200
    card = {"ToUserName": "gh_mp", "FromUserName": "oMpUser", "CreateTime": int(time.time()), "MsgType": "miniprogrampage",
            "MsgId": int(f.next_msg_id()), "Title": "商品 A", "AppId": "wxapp", "PagePath": "pages/goods/index?id=7",
            "ThumbUrl": "", "ThumbMediaId": "thumb1"}
    assert f.post_encrypted(inbox, card, as_json=True).status_code == 200
    first, second = Message.objects.filter(sender_kind="customer").order_by("seq")
    assert first.body == "来自小程序"
    assert "商品 A" in second.body and "pages/goods/index?id=7" in second.body


def test_mini_program_xml_enter_session_then_message():
    inbox = f.make_channel_inbox(kind=Inbox.Kind.WECHAT_MP, mode=ChannelAccount.Mode.SAFE)
    now = int(time.time())
    enter = {"ToUserName": "gh_mp", "FromUserName": "oMpUser2", "CreateTime": now, "MsgType": "event",
             "Event": "user_enter_tempsession", "SessionFrom": "pages/after-sale/index"}
    assert f.post_encrypted(inbox, enter).status_code == 200
    assert f.post_encrypted(inbox, {**f.text_fields("退货"), "FromUserName": "oMpUser2"}).status_code == 200
    message = Message.objects.get(sender_kind="customer")
    assert message.conversation.entry_page == "pages/after-sale/index"


def test_subscribe_event_is_handled_once():
    inbox = f.make_channel_inbox()
    event = {"ToUserName": "gh_oa", "FromUserName": "oFollower", "CreateTime": int(time.time()), "MsgType": "event",
             "Event": "subscribe", "EventKey": ""}
    for _ in range(3):  # WeChat's retries
        assert f.post_plain(inbox, event).status_code == 200
    assert InboundEvent.objects.filter(inbox=inbox).count() == 1
    assert ChannelUser.objects.filter(inbox=inbox, external_id="oFollower").count() == 1
    assert stored() == 0


def test_wecom_kf_notice_starts_a_sync_and_stores_nothing(monkeypatch):
    from connectors.wechat import kf

    calls = []
    monkeypatch.setattr(kf, "on_callback", lambda inbox, token, open_kfid="": calls.append((inbox.pk, token, open_kfid)))
    inbox = f.make_channel_inbox(kind=Inbox.Kind.WECOM_KF, mode=ChannelAccount.Mode.SAFE)
    notice = {"ToUserName": f.APP_ID, "CreateTime": int(time.time()), "MsgType": "event", "Event": "kf_msg_or_event",
              "Token": "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR", "OpenKfId": "wkxxxxxxx"}
    response = f.post_encrypted(inbox, notice)
    assert response.status_code == 200 and response.content == b"success"
    assert calls == [(inbox.pk, notice["Token"], "wkxxxxxxx")]
    assert stored() == 0


def test_engine_refusal_is_answered_and_logged(monkeypatch, caplog):
    from connectors import inbound
    from helpdesk.errors import DomainError

    def refuse(inbox, item):
        raise DomainError("blocked_words", "refused")

    monkeypatch.setattr(inbound, "receive", refuse)
    inbox = f.make_channel_inbox()
    assert f.post_plain(inbox, f.text_fields()).status_code == 200
    assert "blocked_words" in caplog.text
