"""The Sender of Official Account and Mini Program inboxes: 客服消息 (cgi-bin/message/custom/send).

A message goes out as its parts (connectors.outbound.parts_of): text; images, uploaded first as
temporary media (cgi-bin/media/upload) and sent by media_id; a link card (Official Account: a
one-article "news"; Mini Program: "link"); a mini program page card ("miniprogrampage", Mini
Program inboxes: the card's url is the page path, its image the thumbnail). What WeChat has no
message for (files, a card the account cannot send) goes as text with the address. Each part
delivered is recorded before the next, so a retry never sends one twice (short of a send whose
answer was lost in the network: WeChat has no idempotency key here)."""

import logging

from chat.models import Inbox

from .. import outbound as outbound_module
from ..base import Sender
from . import client
from .sending import send_parts

log = logging.getLogger(__name__)


class Unsendable(Exception):
    """A part this channel cannot send as such (the caller sends it as text instead)."""


class OfficialAccountSender(Sender):
    def send(self, outbound):
        account = outbound.inbox.channel_account
        api = client.for_account(account)
        mini_program = outbound.inbox.kind == Inbox.Kind.WECHAT_MP
        return send_parts(outbound, lambda _index, part: api.send_custom(
            {"touser": outbound.channel_user.external_id, **_payload(api, part, mini_program)}))


def _payload(api, part, mini_program):
    try:
        if part.kind == "image":
            return {"msgtype": "image", "image": {"media_id": _upload(api, part.attachment, "image")}}
        if part.kind == "link":
            return _link(part, mini_program)
        if part.kind == "page" and mini_program:
            return _page(api, part)
    except Unsendable:
        pass
    return _text(_as_text(part))


def _text(text):
    return {"msgtype": "text", "text": {"content": text}}  # too long: WeChat refuses it (45002), the agent sees why


def _as_text(part):
    if part.kind == "text":
        return part.text
    url = outbound_module.absolute_url(part.attachment.get("url", "")) or ""
    title = part.attachment.get("name", "")
    return "\n".join(line for line in (title, part.text, url) if line) or url


def _upload(api, attachment, kind):
    found = outbound_module.attachment_bytes(attachment)
    if found is None:
        raise Unsendable()  # a remote image: sent as its address
    data, filename, content_type = found
    return api.upload_media(kind, filename, data, content_type)


def _link(part, mini_program):
    card, title = part.attachment, part.attachment.get("name") or part.text[:64]
    picture = outbound_module.absolute_url(card.get("image", "")) or ""
    if mini_program:
        return {"msgtype": "link", "link": {"title": title, "description": part.text, "url": card["url"], "thumb_url": picture}}
    return {"msgtype": "news", "news": {"articles": [{"title": title, "description": part.text, "url": card["url"], "picurl": picture}]}}


def _page(api, part):
    card = part.attachment
    image = card.get("image")
    if not image:
        raise Unsendable()  # the thumbnail is required
    thumb = _upload(api, {"url": image}, "image")
    return {"msgtype": "miniprogrampage", "miniprogrampage": {
        "title": card.get("name") or part.text[:64], "pagepath": card["url"].lstrip("/"), "thumb_media_id": thumb}}


SENDER = OfficialAccountSender()
outbound_module.register_sender(Inbox.Kind.WECHAT_OA, SENDER)
outbound_module.register_sender(Inbox.Kind.WECHAT_MP, SENDER)
