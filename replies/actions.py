"""Domain writes for quick phrases (validate, change, notify)."""

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from chat.errors import ChatError, forbidden

from .access import usable_phrases


def fill_variables(body, *, customer_name, agent_name):
    """{customer_name} and {agent_name}; anything else in braces stays as typed."""
    return body.replace("{customer_name}", customer_name).replace("{agent_name}", agent_name)


def use_phrase(actor, phrase_id):
    """Count one use (F(): concurrent agents never lose a count). Only phrases the agent may use."""
    if not actor.is_agent:
        raise forbidden()
    valid_id = isinstance(phrase_id, int) and not isinstance(phrase_id, bool)
    updated = usable_phrases(actor).filter(pk=phrase_id if valid_id else -1).update(usage_count=F("usage_count") + 1)
    if not updated:
        raise ChatError("not_found", _("Quick phrase not found."), status=404)
