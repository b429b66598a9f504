"""Rate limits on what customers do through the public surfaces (helpdesk.ratelimit for the
counters, settings.RATE_LIMITS for the numbers). Agents are members of the workspace and are not
throttled here."""

import functools

from chat import messages as chat_messages
from helpdesk import ratelimit


def _send_limits(actor, ip):
    return ("send_visitor", actor.customer_id), ("send_ip", ratelimit.ip_key(ip)), ("send_inbox", actor.inbox_id)


def send_message(actor, *, ip=None, **send):
    """chat.messages.send_message behind the customer send limits: per visitor, then per address, then
    per inbox (a flooding visitor is stopped before using up the inbox's share). A refused send stores
    nothing. A retry of a message already stored is answered with that message (duplicate) even when
    throttled: its client only lacks the ack, and the lookup is one indexed query, on the refused path only."""
    if actor.is_customer:
        try:
            ratelimit.hit_all(*_send_limits(actor, ip))
        except ratelimit.RateLimited as refused:
            return _stored_original(actor, send.get("client_msg_id"), refused)
    return chat_messages.send_message(actor, **send)


async def send_message_on_loop(actor, *, ip=None, **send):
    """send_message without a database thread where the engine can (chat.messages.send_message_on_loop),
    under the same limits. Returns (message, created), or the function a database thread must run
    to finish the send; either way the limits are counted once."""
    if not chat_messages.may_send_on_loop(actor, **send):
        return functools.partial(send_message, actor, ip=ip, **send)
    if actor.is_customer:
        try:
            await ratelimit.hit_all_async(*_send_limits(actor, ip))
        except ratelimit.RateLimited as refused:
            return functools.partial(_stored_original, actor, send.get("client_msg_id"), refused)
    return await chat_messages.send_message_on_loop(actor, **send) or functools.partial(chat_messages.send_message, actor, **send)


def _stored_original(actor, client_msg_id, refused):
    stored = chat_messages.sent_before(actor, client_msg_id) if isinstance(client_msg_id, str) and client_msg_id else None
    if stored is None:
        raise refused
    return stored, False


def upload(actor, ip):
    """Count one upload by a customer (per visitor and per address); RateLimited when over."""
    if actor.is_customer:
        ratelimit.hit_all(("upload_visitor", actor.customer_id), ("upload_ip", ratelimit.ip_key(ip)))
