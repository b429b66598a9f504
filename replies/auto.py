"""The system's own replies: welcome, keyword auto-replies, queue and resolved lines, hosting (托管)."""


def schedule(message_id):
    """A customer message was stored: answer it after commit, off the request thread."""
    from knowledge import bot
    from chat.models import Message, Conversation

    if Message.objects.filter(pk=message_id, conversation__state=Conversation.State.BOT).exists():
        bot.schedule(message_id)


def queued_message(conversation):
    """The chat waits for an agent: the queue message with its position (inside the routing transaction)."""


def conversation_resolved(conversation):
    """The resolved message (inside the resolving transaction)."""


def no_answer_due(deadline, now):
    """Nobody answered the customer for N minutes: the hosting reply (once per customer per M minutes)."""
