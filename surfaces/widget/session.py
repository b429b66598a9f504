"""What the widget is told about its inbox and its visitor's open conversation (the session answer
and GET /api/v1/customer/inbox)."""

from django.utils.translation import gettext as _

from chat.models import Conversation
from chat.payloads import conversation_payload
from chat.profile import prechat_fields_of
from knowledge.models import Article
from replies import auto
from routing.availability import inbox_availability


def widget_inbox(inbox):
    """The inbox as the widget sees it (session answer and GET /api/v1/customer/inbox)."""
    return {
        "name": inbox.name,
        "greeting": inbox.widget_greeting,
        # The brand picture (admin: widget editor), a path on this site for app SDKs to show; None: no picture.
        "avatar_url": inbox.widget_avatar_url or None,
        "prechat_fields": prechat_fields_of(inbox),
        "csat_enabled": inbox.csat_enabled,
        "availability": inbox_availability(inbox),
        # Help first: the widget shows a search box when the workspace has published articles.
        "help_center": _has_help_center(inbox.workspace_id),
    }


def _has_help_center(workspace_id):
    return Article.objects.filter(workspace_id=workspace_id, status=Article.Status.PUBLISHED, internal_only=False).exists()


def widget_session(customer, inbox, token):
    """The answer to POST /api/v1/customer/session."""
    conversation = (
        Conversation.objects.filter(customer_id=customer.pk, inbox_id=inbox.pk, state__in=Conversation.OPEN_STATES).order_by("-pk").first()
    )
    return {
        "token": token,
        "customer_id": customer.public_id,  # opaque: the pk is sequential
        "inbox_id": inbox.pk,
        "customer": {"name": customer.name, "identified": customer.external_id is not None},
        "inbox": widget_inbox(inbox),
        "conversation": conversation_payload(conversation, for_customer=True) if conversation else None,
        # Shown before the customer writes (no conversation yet); stored before their first message.
        "welcome": "" if conversation else auto.welcome_text(inbox, customer),
        "assistant": str(_("Assistant")),
    }
