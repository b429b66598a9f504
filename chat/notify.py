"""What agents' consoles and the customer's devices are told when a conversation or a message
changes (published after commit through helpdesk.realtime)."""

from helpdesk import realtime

from .payloads import conversation_payload, message_payload


def history_scope(conversation):
    """Lets each agent socket apply the history rule to inbox-wide events (access.may_see_live)."""
    return {"assignee_id": conversation.assignee_id}


def notify_conversation(conversation, event_type="conversation.updated", *, everyone_serving=False):
    """Tell the inbox's agents and the customer that a conversation changed. everyone_serving:
    routing changes (pool and queue moves) reach every agent serving the inbox, whatever the
    history rule, so a chat taken by a colleague disappears from everyone's pool."""
    scope = {"assignee_id": None} if everyone_serving else history_scope(conversation)
    realtime.publish(
        [(realtime.group_for_inbox(conversation.inbox_id), {"type": event_type, "conversation": conversation_payload(conversation, for_customer=False)})],
        scope=scope,
    )
    realtime.publish(
        [(realtime.group_for_customer(conversation.customer_id), {"type": event_type, "conversation": conversation_payload(conversation, for_customer=True)})]
    )


def notify_message(message, event_type="message"):
    conversation = message.conversation
    realtime.publish(
        [(realtime.group_for_inbox(conversation.inbox_id), {"type": event_type, "message": message_payload(message, for_customer=False)})],
        scope=history_scope(conversation),
    )
    if not message.is_private:
        realtime.publish(
            [(realtime.group_for_customer(conversation.customer_id), {"type": event_type, "message": message_payload(message, for_customer=True)})]
        )
