"""What WeChat POSTs to a callback, as `InboundItem`s (connectors/base.py).

Official Accounts push XML; Mini Programs push XML or JSON (chosen on their message-push page),
both possibly wrapped in an <Encrypt> / "Encrypt" envelope (crypto.py). XML goes through
defusedxml with DTDs refused outright: WeChat never sends one, so any DTD (entity expansion,
external entities) is an attack or garbage. Every message type maps to an item; a type we do not
know becomes kind "unsupported", which the inbound step logs and skips (never a 500)."""

import hashlib
import json
import re

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from ..base import InboundItem

MAX_BODY_BYTES = 64 * 1024  # a WeChat push is a few hundred bytes; anything near this is not one
MAX_FIELDS = 60

OPENID_RE = re.compile(r"^[A-Za-z0-9_\-@.]{1,128}$")
MSG_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,60}$")  # fits client_msg_id ("wx:" + at most 61)

MEDIA_KINDS = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video"}


class Malformed(Exception):
    """Not a WeChat push we can read (the view answers 400, nothing is stored)."""


def fields(body):
    """The top-level fields of an XML or JSON push as {name: str or dict}. Raises Malformed."""
    if not isinstance(body, bytes | str):
        raise Malformed("no body")
    data = body.encode() if isinstance(body, str) else body
    if len(data) > MAX_BODY_BYTES:
        raise Malformed("too large")
    start = data.lstrip()[:1]
    if start == b"{":
        return _json_fields(data)
    if start == b"<":
        return _xml_fields(data)
    raise Malformed("neither XML nor JSON")


def _xml_fields(data):
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise Malformed(f"XML: {type(exc).__name__}") from None
    if root.tag != "xml" or len(root) > MAX_FIELDS:
        raise Malformed("not a WeChat XML push")
    out = {}
    for child in root:
        # Nested elements (WeCom's, a few events') are kept one level deep as a dict.
        out[child.tag] = {c.tag: (c.text or "") for c in child} if len(child) else (child.text or "")
    return out


def _json_fields(data):
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("JSON") from None
    if not isinstance(value, dict) or len(value) > MAX_FIELDS:
        raise Malformed("not a WeChat JSON push")
    out = {}
    for key, item in value.items():
        if isinstance(item, bool) or item is None:
            out[key] = "" if item is None else str(item).lower()
        elif isinstance(item, int | float | str):
            out[key] = str(item)
        elif isinstance(item, dict):
            out[key] = {k: str(v) for k, v in item.items() if isinstance(v, int | float | str)}
    return out


def _text(f, name):
    value = f.get(name, "")
    return value if isinstance(value, str) else ""


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _dedupe_key(f, openid, created, msg_type):
    msg_id = _text(f, "MsgId").strip() or _text(f, "msgid").strip()
    if MSG_ID_RE.match(msg_id):
        return msg_id
    # No usable MsgId (should not happen for messages): a digest of what identifies the push,
    # the same for every retry of it.
    material = "\x1f".join([openid, str(created), msg_type, _text(f, "Content"), _text(f, "MediaId"), _text(f, "Url")])
    return "h" + hashlib.sha1(material.encode()).hexdigest()


def to_item(f):
    """The InboundItem of one push's fields. Raises Malformed without a sender."""
    openid = _text(f, "FromUserName").strip()
    if not OPENID_RE.match(openid):
        raise Malformed("FromUserName")
    created = _int(_text(f, "CreateTime"))
    msg_type = _text(f, "MsgType").strip().lower()
    common = {"external_id": openid, "union_id": _text(f, "UnionId").strip()[:128], "sent_at": created}
    if msg_type == "event":
        event = _text(f, "Event").strip()
        event_key = _text(f, "EventKey").strip()
        # WeChat's advice for events, which have no MsgId: FromUserName + CreateTime (+ Event).
        entry = _text(f, "SessionFrom").strip()
        if event.lower() == "subscribe" and event_key.startswith("qrscene_"):
            entry = event_key  # followed by scanning a parameter QR code: where they came from
        extra = {"event_key": event_key[:200]} if event_key else {}
        return InboundItem(kind="event", event=event.lower(), dedupe_key=f"{openid}:{created}:{event.lower()}"[:200],
                           entry_page=entry[:1000], extra=extra, **common)
    key = _dedupe_key(f, openid, created, msg_type)
    if msg_type == "text":
        return InboundItem(kind="text", dedupe_key=key, text=_text(f, "Content"), **common)
    if msg_type in MEDIA_KINDS:
        kind = MEDIA_KINDS[msg_type]
        media_format = {"image": "jpg", "video": "mp4"}.get(kind, _text(f, "Format").strip().lower()[:10])
        extra = {k: v for k, v in (("pic_url", _text(f, "PicUrl")), ("thumb_media_id", _text(f, "ThumbMediaId"))) if v}
        if msg_type == "shortvideo":
            extra["short"] = True
        return InboundItem(kind=kind, dedupe_key=key, media_id=_text(f, "MediaId").strip(), media_format=media_format,
                           text=_text(f, "Recognition").strip(), extra=extra, **common)
    if msg_type == "location":
        extra = {"lat": _text(f, "Location_X").strip(), "lng": _text(f, "Location_Y").strip(),
                 "scale": _text(f, "Scale").strip(), "label": _text(f, "Label").strip()}
        return InboundItem(kind="location", dedupe_key=key, extra=extra, **common)
    if msg_type == "link":
        extra = {"title": _text(f, "Title").strip(), "description": _text(f, "Description").strip(), "url": _text(f, "Url").strip()}
        return InboundItem(kind="link", dedupe_key=key, extra=extra, **common)
    if msg_type == "miniprogrampage":
        path = _text(f, "PagePath").strip()
        extra = {"title": _text(f, "Title").strip(), "appid": _text(f, "AppId").strip(), "pagepath": path,
                 "thumb_url": _text(f, "ThumbUrl").strip(), "thumb_media_id": _text(f, "ThumbMediaId").strip()}
        return InboundItem(kind="miniprogram", dedupe_key=key, entry_page=path[:1000], extra=extra, **common)
    return InboundItem(kind="unsupported", dedupe_key=key, extra={"msg_type": msg_type[:40]}, **common)
