"""What the widget tells a visitor before they write: what routing will do with their chat now."""

from django.utils import timezone

from chat import hours

from .actions import serving_user_ids
from .models import AgentPresence
from .selection import AgentStatus


def inbox_availability(inbox, now=None):
    """What the widget tells the visitor before they write, predicting what routing will do:
    outside business hours the chat becomes a message (routing.hours); with no agent serving the
    inbox online or busy, it becomes one only if the inbox says so, else it queues. Full agents
    still count as on duty (routing queues then). At most two queries."""
    if not hours.is_open(inbox.business_hours, now or timezone.now()):
        return {"state": "after_hours", "leave_message": True}
    on_duty = set(
        AgentPresence.objects.filter(workspace_id=inbox.workspace_id, status__in=[AgentStatus.ONLINE, AgentStatus.BUSY]).values_list("user_id", flat=True)
    )
    if on_duty and on_duty & serving_user_ids(inbox.workspace_id, inbox.pk):
        return {"state": "open", "leave_message": False}
    return {"state": "nobody_online", "leave_message": inbox.leave_message_when_nobody_online}
