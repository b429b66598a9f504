"""主动联系 as the console and the API start it: chat.outreach opens the conversation and stores the
agent's first message; here the agent's open-chat counter (routing) moves with it, in the same
transaction, so routing's capacity sees the chat the agent took on."""

from django.db import transaction

from chat import outreach
from routing import actions as routing


def reach_out(actor, customer_id, *, body, client_msg_id, inbox_id=None):
    """Returns (conversation, message); a DomainError stores nothing."""
    with transaction.atomic():
        conversation, message = outreach.start(actor, customer_id, body=body, client_msg_id=client_msg_id, inbox_id=inbox_id)
        routing.adjust_load(conversation.workspace_id, actor.user_id, 1)
    return conversation, message
