"""Plain-dict views of engine rows for frames and HTTP responses.

Customers never see private notes, agents' internal ids beyond what they
need, or the content of recalled messages."""


def message_payload(message, *, for_customer):
    sender = {"kind": message.sender_kind, "name": message.sender_name}
    if not for_customer:
        sender["id"] = message.sender_user_id or message.sender_customer_id
    payload = {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": sender,
        "client_msg_id": message.client_msg_id or None,
        "type": message.msg_type,
        "body": "" if message.recalled_at else message.body,
        "attachments": [] if message.recalled_at else message.attachments,
        "recalled": message.recalled_at is not None,
        "created_at": message.created_at.isoformat(),
    }
    if not for_customer:
        payload["is_private"] = message.is_private
    return payload


def conversation_payload(conversation, *, for_customer):
    payload = {
        "id": conversation.pk,
        "inbox_id": conversation.inbox_id,
        "state": conversation.state,
        "last_seq": conversation.last_seq,
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "created_at": conversation.created_at.isoformat(),
    }
    if not for_customer:
        payload.update(
            customer_id=conversation.customer_id,
            assignee_id=conversation.assignee_id,
            group_id=conversation.group_id,
            entry_page=conversation.entry_page,
            is_leave_message=conversation.is_leave_message,
        )
    return payload
