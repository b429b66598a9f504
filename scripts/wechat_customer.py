"""Play a WeChat customer against a running helpdesk: build the callback WeChat's servers would
send (signed; with --safe, AES-encrypted) and POST it to an inbox's callback URL.

    # an Official Account text message (plain mode)
    # (--inbox=KEY with "=": a public key may begin with "-", which argparse would take for an option)
    .venv/bin/python scripts/wechat_customer.py --inbox=<public_key> --token <Token> --text "你好"
    # safe mode, a picture and a voice message the simulator holds (media/get serves them)
    .venv/bin/python scripts/wechat_customer.py --inbox=<key> --token T --app-id wx.. --aes-key <43 chars> --safe --image
    .venv/bin/python scripts/wechat_customer.py --inbox=<key> --token T --voice
    # a mini program user entering the chat, then writing
    .venv/bin/python scripts/wechat_customer.py --kind mp --inbox=<key> --token T --event user_enter_tempsession --session-from pages/order
    # WeCom 微信客服: the message is queued at the simulator (kf/sync_msg), then WeCom's event callback is posted
    .venv/bin/python scripts/wechat_customer.py --kind kf --inbox=<key> --token T --app-id <corpid> --aes-key K \\
        --open-kfid wk.. --sim http://127.0.0.1:8765 --text "你好"

Answers are printed; agents' replies appear at the simulator (GET <sim>/_sim/sent)."""

import argparse
import itertools
import json
import secrets
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.wechat import crypto  # noqa: E402  (the product's signature and encryption)

_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


def cdata(value):
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml(fields):
    return "<xml>" + "".join(f"<{k}>{v if isinstance(v, int) else cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"


def message_fields(args):
    now = int(time.time())
    base = {"ToUserName": args.to_user, "FromUserName": args.openid, "CreateTime": now}
    if args.event:
        fields = {**base, "MsgType": "event", "Event": args.event}
        if args.session_from:
            fields["SessionFrom"] = args.session_from
        return fields
    msg_id = args.msg_id or next(_msg_ids)
    if args.image:
        return {**base, "MsgType": "image", "PicUrl": f"{args.sim}/_sim/media/{args.image}", "MediaId": args.image, "MsgId": msg_id}
    if args.voice:
        return {**base, "MsgType": "voice", "MediaId": args.voice, "Format": "amr", "MsgId": msg_id}
    return {**base, "MsgType": "text", "Content": args.text, "MsgId": msg_id}


def post_callback(args, inner_xml):
    """Sign (and in safe mode encrypt) `inner_xml` as WeChat does, and POST it. Returns the response."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    params = {"timestamp": timestamp, "nonce": nonce}
    if args.safe or args.kind == "kf":
        encrypted = crypto.MessageCrypto(args.aes_key, args.app_id).encrypt(inner_xml)
        params["msg_signature"] = crypto.signature(args.token, timestamp, nonce, encrypted)
        if args.kind != "kf":
            params.update(signature=crypto.signature(args.token, timestamp, nonce), encrypt_type="aes", openid=args.openid)
        body = xml({"ToUserName": args.to_user, "Encrypt": encrypted})
    else:
        params.update(signature=crypto.signature(args.token, timestamp, nonce), openid=args.openid)
        body = inner_xml
    url = args.url.rstrip("/") + args.path.format(key=args.inbox)
    return requests.post(url, params=params, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=10)


def kf_message(args, http):
    """Queue the customer's message at the simulator, then tell the helpdesk as WeCom does (kf_msg_or_event)."""
    if args.event:
        queued = {"event": args.event, "open_kfid": args.open_kfid, "external_userid": args.openid, "scene": args.session_from or ""}
    elif args.image or args.voice:
        kind = "image" if args.image else "voice"
        queued = {"open_kfid": args.open_kfid, "external_userid": args.openid, "msgtype": kind, kind: {"media_id": args.image or args.voice}}
    else:
        queued = {"open_kfid": args.open_kfid, "external_userid": args.openid, "msgtype": "text", "text": {"content": args.text}}
    answer = http.post(f"{args.sim}/_sim/kf/queue", json=queued, timeout=5).json()
    print("queued at the simulator:", json.dumps(answer["message"], ensure_ascii=False))
    event = {"ToUserName": args.app_id, "CreateTime": int(time.time()), "MsgType": "event", "Event": "kf_msg_or_event",
             "Token": f"sim-sync-{secrets.token_hex(6)}", "OpenKfId": args.open_kfid}
    return post_callback(args, xml(event))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the helpdesk's base URL")
    parser.add_argument("--path", default="/channels/wechat/{key}/", help="callback path; {key}: the inbox's public key")
    parser.add_argument("--inbox", required=True, help="the inbox's public key")
    parser.add_argument("--kind", choices=["oa", "mp", "kf"], default="oa")
    parser.add_argument("--token", required=True, help="the callback Token set on the account")
    parser.add_argument("--app-id", default="wx0000000000000000", help="AppID (kf: CorpID), checked in safe mode")
    parser.add_argument("--aes-key", default="", help="EncodingAESKey (43 characters): --safe and kf")
    parser.add_argument("--safe", action="store_true", help="encrypt the message (safe mode)")
    parser.add_argument("--openid", default="o_sim_customer_0001", help="the customer (kf: external_userid)")
    parser.add_argument("--to-user", default="gh_simulated", help="the account's original id (ToUserName)")
    parser.add_argument("--text", default="你好,我想问一下订单")
    parser.add_argument("--image", nargs="?", const="sim-image-jpeg", default="", help="send an image (a simulator media id)")
    parser.add_argument("--voice", nargs="?", const="sim-voice-amr", default="", help="send a voice message (a simulator media id)")
    parser.add_argument("--event", default="", help="subscribe, unsubscribe, user_enter_tempsession, enter_session (kf)...")
    parser.add_argument("--session-from", default="", help="mini program SessionFrom / kf scene")
    parser.add_argument("--msg-id", type=int, default=0, help="a fixed MsgId (send twice to see a retried callback stored once)")
    parser.add_argument("--open-kfid", default="", help="kf: the customer service account")
    parser.add_argument("--sim", default="http://127.0.0.1:8765", help="the WeChat simulator (media, kf queue)")
    parser.add_argument("--repeat", type=int, default=1, help="post the same callback this many times (WeChat retries)")
    args = parser.parse_args(argv)
    if (args.safe or args.kind == "kf") and len(args.aes_key) != 43:
        parser.error("--aes-key (43 characters) is needed for safe mode and WeCom")
    http = requests.Session()
    http.trust_env = False
    if args.kind == "kf":
        response = kf_message(args, http)
        print(response.status_code, response.text[:200])
        return 0 if response.ok else 1
    inner = xml(message_fields(args))
    status = 0
    for _ in range(max(args.repeat, 1)):
        response = post_callback(args, inner)
        print(response.status_code, response.text[:200])
        status = status or (0 if response.ok else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
