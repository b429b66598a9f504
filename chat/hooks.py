"""The engine's events, told to the one layer above that decides what follows them: the
conversation lifecycle (lifecycle/flow.py), installed at start-up by its app config.

The engine and routing call these inside the transaction that made the change, holding the
conversation row lock; a listener defers to after the commit what must wait for it (routing a
chat, follow-up jobs). The engine depends on this interface only, never on the apps above it;
without a listener (the base class) it stores, publishes and does nothing more."""


class Hooks:
    def screen_message(self, conversation, actor, body, is_private):
        """Before a message is stored: return (body to store, findings for message_stored), or raise
        a DomainError to refuse it (nothing is stored, not even a conversation it would open)."""
        return body, None

    def quiet_for(self, workspace_id, sender_kind):
        """True when a plain message (no state change) from this kind of sender in this workspace
        needs nothing beyond being stored and published: no screening, nothing in message_stored.
        The engine may then store it in one statement outside a transaction (chat.fast_send), so
        a listener must answer False whenever screen_message or message_stored could act (for an
        agent's reply, chat.fast_send itself leaves channel inboxes, whose delivery is per inbox, to the
        general path)."""
        return True

    def quiet_known(self, workspace_id, sender_kind):
        """quiet_for answered from what is in memory, for callers on the event loop where no query
        may run: True or False, or None when answering would need a query."""
        return self.quiet_for(workspace_id, sender_kind)

    def conversation_opening(self, conversation):
        """A customer's first message is opening a conversation (state bot or queued); called before
        that message is stored, so a line written now comes before it (the welcome)."""

    def conversation_started(self, conversation):
        """A customer's first message opened a conversation (state bot or queued); called once it is stored."""

    def message_stored(self, conversation, message, findings):
        """A message was appended (findings: what screen_message returned for it)."""

    def state_changed(self, conversation, from_state, to_state, actor):
        """The conversation moved from one state to another (actor None: the system)."""

    def conversation_queued(self, conversation, staffed=True):
        """Routing put the chat in a group's queue or claim pool, the first time for that group
        (staffed: someone serving the inbox is on duty, so the wait has an end)."""

    def conversation_assigned(self, conversation, actor):
        """Routing assigned the chat to conversation.assignee_id (actor: who claimed or transferred it; None: routing)."""

    def left_as_message(self, conversation, reason):
        """Nobody can answer now: routing turned the chat into a message (留言) for later."""

    def agent_status_changed(self, workspace_id, user_id, from_status, to_status):
        """An agent's status changed (routing, inside the transaction that changed it): reports count
        online time from these."""


_listener = [Hooks()]


def install(hooks):
    """Make `hooks` the engine's listener (the lifecycle app does this once, in ready())."""
    _listener[0] = hooks


def listener():
    return _listener[0]
