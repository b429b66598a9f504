"""Which deadlines a conversation gets, and what happens when they fire (chat.scheduler runs them).

Called inside the transaction that changed the conversation."""


def conversation_started(conversation):
    """A new conversation: the inactivity deadline (inbox.auto_resolve_minutes)."""


def conversation_queued(conversation):
    """First time in a group's queue or pool: the queue timeout (inbox.queue_timeout_minutes)."""


def conversation_resolved(conversation):
    """Resolved: the rating request (inbox.csat_enabled)."""
