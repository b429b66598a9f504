"""A new follower of an Official Account is welcomed in the subscribe callback's own response
(WeChat's passive reply), encrypted and signed as WeChat expects in safe mode, once per event."""

import time

import pytest

from chat.models import Inbox, Message
from connectors.models import ChannelAccount, InboundEvent
from connectors.tests import factories as f
from connectors.wechat import crypto, parse

pytestmark = pytest.mark.django_db

GREETING = "欢迎关注！有问题直接留言 <客服> & ]]> 也没关系"


def subscribe(openid="oFollower01", **more):
    return {"ToUserName": "gh_7f083739789a", "FromUserName": openid, "CreateTime": int(time.time()), "MsgType": "event",
            "Event": "subscribe", "EventKey": "", **more}


def oa_inbox(mode=ChannelAccount.Mode.SAFE, greeting=GREETING, welcome=True):
    inbox = f.make_channel_inbox(mode=mode, welcome_on_subscribe=welcome)
    Inbox.objects.filter(pk=inbox.pk).update(widget_greeting=greeting)
    return inbox


def decrypted(response):
    """The reply inside a safe-mode response, once its msg_signature checks out."""
    envelope = parse.fields(response.content)
    assert set(envelope) >= {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert crypto.check_signature(envelope["MsgSignature"], f.TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    assert abs(int(envelope["TimeStamp"]) - time.time()) < 60
    return parse.fields(crypto.MessageCrypto(f.AES_KEY, f.APP_ID).decrypt(envelope["Encrypt"]))


def test_safe_mode_subscribe_is_answered_with_the_encrypted_welcome_once():
    inbox = oa_inbox()
    event = subscribe()
    first = f.post_encrypted(inbox, event)
    assert first.status_code == 200 and first["Content-Type"].startswith("text/xml")
    reply = decrypted(first)
    assert reply["MsgType"] == "text" and reply["Content"] == GREETING
    assert (reply["ToUserName"], reply["FromUserName"]) == ("oFollower01", "gh_7f083739789a")
    assert abs(int(reply["CreateTime"]) - time.time()) < 60

    retry = f.post_encrypted(inbox, event)  # WeChat's retry of the same event: new nonce, same content
    assert retry.status_code == 200 and retry.content == b"success"
    assert InboundEvent.objects.filter(inbox=inbox).count() == 1
    assert not Message.objects.exists()  # a follow starts no conversation


def test_plain_mode_gets_a_plain_reply_and_compatible_mode_an_encrypted_one():
    plain = oa_inbox(mode=ChannelAccount.Mode.PLAIN, greeting="  你好  ")
    reply = parse.fields(f.post_plain(plain, subscribe()).content)
    assert (reply["MsgType"], reply["Content"], reply["ToUserName"]) == ("text", "你好", "oFollower01")

    compatible = oa_inbox(mode=ChannelAccount.Mode.COMPATIBLE)
    assert decrypted(f.post_encrypted(compatible, subscribe(), plain_too=True))["Content"] == GREETING


@pytest.mark.parametrize("setup", [dict(welcome=False), dict(greeting="")])
def test_no_welcome_without_the_switch_or_a_greeting(setup):
    inbox = oa_inbox(**setup)
    response = f.post_encrypted(inbox, subscribe())
    assert response.status_code == 200 and response.content == b"success"


def test_only_subscribe_is_welcomed_and_only_on_an_official_account():
    inbox = oa_inbox()
    scan = subscribe(Event="SCAN", EventKey="42")
    assert f.post_encrypted(inbox, scan).content == b"success"
    assert f.post_encrypted(inbox, f.text_fields(openid="oFollower01")).content == b"success"
    mini = f.make_channel_inbox(kind=Inbox.Kind.WECHAT_MP, mode=ChannelAccount.Mode.SAFE)
    Inbox.objects.filter(pk=mini.pk).update(widget_greeting=GREETING)
    assert f.post_encrypted(mini, subscribe()).content == b"success"


def test_cdata_keeps_any_text_inside_its_section():
    assert parse.fields(f"<xml><Content>{crypto.cdata('a]]>b')}</Content></xml>".encode())["Content"] == "a]]>b"
