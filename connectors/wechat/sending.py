"""What the WeChat senders share: a message goes out as parts (text, image, link, ...), each a
platform call; a retry resumes after the last part WeChat accepted."""

from .. import outbound as outbound_module
from ..base import SendResult
from .client import WeChatError


def send_parts(outbound, send_part):
    """send_part(index, part) for every part not delivered yet; the SendResult of the whole."""
    parts = outbound_module.parts_of(outbound.message)
    if not parts:
        return SendResult(ok=False, error="nothing to send")
    for index, part in enumerate(parts):
        if index < outbound.parts_sent:
            continue  # delivered by an earlier attempt
        try:
            send_part(index, part)
        except WeChatError as error:  # network errors too, as transient ones
            return SendResult(ok=False, errcode=error.errcode, error=error.errmsg, transient=error.transient)
        outbound_module.part_sent(outbound, index + 1)
    return SendResult(ok=True)
