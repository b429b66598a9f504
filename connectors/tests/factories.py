"""WeChat channel inboxes and signed callbacks, as WeChat's servers send them."""

import itertools
import json
import time

from django.test import Client
from django.urls import reverse

from chat.models import Inbox
from conftest import make_inbox, make_workspace
from connectors.models import ChannelAccount
from connectors.wechat import crypto

TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_ID = "wx5823bf96d3bd56c7"

_nonces = itertools.count(100000)
_msg_ids = itertools.count(6054768590064713728)


def make_channel_inbox(workspace=None, kind=Inbox.Kind.WECHAT_OA, mode=ChannelAccount.Mode.PLAIN, **account):
    workspace = workspace or make_workspace()
    inbox = make_inbox(workspace, kind=kind)
    acc = ChannelAccount(inbox=inbox, app_id=account.pop("app_id", APP_ID), token=TOKEN, mode=mode, **account)
    acc.aes_key = AES_KEY
    acc.save()
    return inbox


def callback_url(inbox):
    return reverse("connectors:wechat-callback", args=[inbox.public_key])


def next_msg_id():
    return str(next(_msg_ids))


def xml(**fields):
    parts = []
    for key, value in fields.items():
        parts.append(f"<{key}>{value}</{key}>" if isinstance(value, int) else f"<{key}><![CDATA[{value}]]></{key}>")
    return "<xml>" + "".join(parts) + "</xml>"


def text_fields(content="你好", openid="oia2TjjewbmiOUlr6X-1crbLOvLw", msg_id=None, **more):
    return {"ToUserName": "gh_7f083739789a", "FromUserName": openid, "CreateTime": int(time.time()), "MsgType": "text",
            "Content": content, "MsgId": int(msg_id or next_msg_id()), **more}


def signed_params(timestamp=None, nonce=None, encrypt=None):
    timestamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = str(nonce if nonce is not None else next(_nonces))
    params = {"timestamp": timestamp, "nonce": nonce, "signature": crypto.signature(TOKEN, timestamp, nonce),
              "openid": "oia2TjjewbmiOUlr6X-1crbLOvLw"}
    if encrypt is not None:
        params.update(encrypt_type="aes", msg_signature=crypto.signature(TOKEN, timestamp, nonce, encrypt))
    return params


def post(inbox, body, params=None, content_type="text/xml", client=None):
    params = params if params is not None else signed_params()
    url = callback_url(inbox) + "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return (client or Client()).post(url, data=body.encode() if isinstance(body, str) else body, content_type=content_type)


def post_plain(inbox, fields, **kwargs):
    return post(inbox, xml(**fields), **kwargs)


def post_encrypted(inbox, fields, as_json=False, app_id=APP_ID, plain_too=False, **kwargs):
    """Safe mode: the push encrypted into <Encrypt> (or "Encrypt" in JSON), signed with msg_signature."""
    inner = json.dumps(fields, ensure_ascii=False) if as_json else xml(**fields)
    encrypted = crypto.MessageCrypto(AES_KEY, app_id).encrypt(inner)
    outer_fields = {**(fields if plain_too else {}), "ToUserName": fields.get("ToUserName", "gh_7f083739789a"), "Encrypt": encrypted}
    if as_json:
        return post(inbox, json.dumps(outer_fields), params=signed_params(encrypt=encrypted), content_type="application/json", **kwargs)
    return post(inbox, xml(**outer_fields), params=signed_params(encrypt=encrypted), **kwargs)
