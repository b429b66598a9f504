"""The contract between the engine and an outside channel (docs/channels.md).

Inbound: a channel's callback view verifies and parses what the platform sent into `InboundItem`s
and hands each to `connectors.inbound.receive`, which maps the sender to a Customer (ChannelUser)
and stores the message through the engine (`chat.messages.send_message`, client_msg_id derived
from the platform's message id, so a retried callback is stored once). Everything that follows a
customer message (routing, keyword replies, the bot, hosting) then happens as for the widget.

Outbound: when an agent's message is stored in a channel inbox, the lifecycle writes an
OutboundMessage row (and a follow-up job) in the same transaction (`connectors.outbound.enqueue`);
the worker sends it through the channel's `Sender` and records sent/failed with the platform's code.

A new channel is one module that provides a callback view producing InboundItems and a Sender."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InboundItem:
    """One thing a channel's user did, as the engine needs it."""

    external_id: str  # openid / external_userid: who, within this inbox
    dedupe_key: str  # the platform's message id (MsgId / msgid), or a key made for an event
    kind: str  # "text", "image", "voice", "video", "location", "link", "miniprogram", "event"
    text: str = ""  # text body, or a readable rendering of a location/link/card
    union_id: str = ""
    media_id: str = ""  # for image/voice/video: fetched through the platform's media API
    media_format: str = ""  # e.g. "amr", "silk", "jpg"
    event: str = ""  # for kind "event": "subscribe", "unsubscribe", "enter_session", "user_enter_tempsession", ...
    entry_page: str = ""  # where the chat started (mini program session-from / path, kf scene)
    welcome_code: str = ""  # WeCom enter_session: answers with a welcome within 20 s
    sent_at: int = 0  # the platform's CreateTime / send_time (epoch seconds)
    extra: dict = field(default_factory=dict)  # fields kept for display (url, title, lat/lng, appid, pagepath)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    errcode: int = 0
    error: str = ""
    transient: bool = False  # worth retrying later (-1 system busy, network, 5xx)


class Sender:
    """Sends one OutboundMessage's message to the channel. Returns a SendResult; never raises for
    a platform error (network errors are a transient SendResult)."""

    def send(self, outbound):  # pragma: no cover - interface
        raise NotImplementedError
