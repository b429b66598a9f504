"""Rate limits on what customers do through the public surfaces (helpdesk.ratelimit for the
counters, settings.RATE_LIMITS for the numbers). Agents are members of the workspace and are not
throttled here."""

from chat import messages as chat_messages
from helpdesk import ratelimit


def send_message(actor, *, ip=None, **send):
    """chat.messages.send_message behind the customer send limits: per visitor, then per address, then
    per inbox (a flooding visitor is stopped before using up the inbox's share). A refused send stores
    nothing. A retry of a message already stored is answered with that message (duplicate) even when
    throttled: its client only lacks the ack, and the lookup is one indexed query, on the refused path only."""
    if actor.is_customer:
        try:
            ratelimit.hit_all(("send_visitor", actor.customer_id), ("send_ip", ratelimit.ip_key(ip)), ("send_inbox", actor.inbox_id))
        except ratelimit.RateLimited:
            client_msg_id = send.get("client_msg_id")
            stored = chat_messages.sent_before(actor, client_msg_id) if isinstance(client_msg_id, str) and client_msg_id else None
            if stored is None:
                raise
            return stored, False
    return chat_messages.send_message(actor, **send)


def upload(actor, ip):
    """Count one upload by a customer (per visitor and per address); RateLimited when over."""
    if actor.is_customer:
        ratelimit.hit_all(("upload_visitor", actor.customer_id), ("upload_ip", ratelimit.ip_key(ip)))
