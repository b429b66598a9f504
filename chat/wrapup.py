"""咨询分类 (wrap-up): the category an agent chooses when ending a conversation (resolving it, or
closing it while open), from the list the workspace's owner keeps in the admin
(chat.models.WrapUpSettings, Disposition). chat.states calls `choose` inside that state change;
reports count the `wrapped_up` events (`counts`)."""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, Max, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError
from helpdesk.validation import id_param, is_int

from .models import Conversation, ConversationEvent, Disposition, WrapUpSettings


@dataclass
class Options:
    required: bool = False
    choices: list = field(default_factory=list)  # the categories in use, in the owner's order


def options(workspace_id):
    """What the resolve dialog offers (one query)."""
    rows = list(Disposition.objects.filter(wrap_up__workspace_id=workspace_id, is_active=True)
                .select_related("wrap_up").order_by("position", "pk"))
    if not rows:
        return Options()
    return Options(required=rows[0].wrap_up.required, choices=rows)


class WrapUpInvalid(DomainError):
    status = 400

    def __init__(self, code, message):
        super().__init__(code, message)
        self.field = "disposition"


def choose(workspace_id, value, *, closing=False):
    """The Disposition an agent's resolve (or close of an open conversation) names, or None (none
    chosen and none required). Raises WrapUpInvalid for a value not in the workspace's list of
    categories in use (another workspace's, a retired one, a name, garbage) and for a missing one
    when the workspace requires it."""
    if value in (None, ""):
        required = WrapUpSettings.objects.filter(workspace_id=workspace_id, required=True,
                                                 dispositions__is_active=True).exists()
        if required:
            raise WrapUpInvalid("disposition_required", _("Choose a wrap-up category before closing.") if closing
                                else _("Choose a wrap-up category before resolving."))
        return None
    disposition_id = value if is_int(value) and value > 0 else id_param(value)
    found = None if disposition_id is None else (
        Disposition.objects.filter(pk=disposition_id, wrap_up__workspace_id=workspace_id, is_active=True).first())
    if found is None:
        raise WrapUpInvalid("invalid_disposition", _("That wrap-up category is not in this workspace's list."))
    return found


def record(conversation, disposition, actor):
    """Inside the resolve's transaction, after its state event: the wrapped_up event names the category
    as it is called now (reports group by its id)."""
    return ConversationEvent.record(conversation, ConversationEvent.Kind.WRAPPED_UP, actor, to_state=conversation.state,
                                    data={"disposition_id": disposition.pk, "name": disposition.name})


# --- reports ------------------------------------------------------------------------------------


@dataclass
class Report:
    rows: list  # [(name, count)], most frequent first
    resolved: int  # conversations ended in the period (by anyone): resolved, or closed while open
    unclassified: int  # … of which with no category from that period

    @property
    def classified(self):
        return sum(n for _name, n in self.rows)


def counts(workspace_id, since, until):
    """Count per wrap-up category of the conversations ended in [since, until) (resolved, or closed
    while open: both are wrapped up, chat.states.change_state): each conversation
    once, with the category of its last wrap-up in the period (a reopened and re-resolved chat counts
    for its final category). Categories are grouped by id and shown by their current name (a deleted
    one by its name at the time), so renaming one does not split the report."""
    window = {"created_at__gte": since, "created_at__lt": until}
    wrapped = ConversationEvent.objects.filter(conversation__workspace_id=workspace_id, kind=ConversationEvent.Kind.WRAPPED_UP, **window)
    later = ConversationEvent.objects.filter(conversation_id=OuterRef("conversation_id"), kind=ConversationEvent.Kind.WRAPPED_UP,
                                             pk__gt=OuterRef("pk"), **window)
    grouped = (wrapped.exclude(Exists(later)).annotate(key=KeyTextTransform("disposition_id", "data"))
               .values("key").annotate(n=Count("pk"), name=Max(KeyTextTransform("name", "data"))).order_by())
    current = dict(Disposition.objects.filter(wrap_up__workspace_id=workspace_id).values_list("pk", "name"))
    rows = sorted(((current.get(int(g["key"])) if str(g["key"]).isdigit() else None) or g["name"] or "?", g["n"]) for g in grouped)
    rows.sort(key=lambda row: -row[1])
    ended = ConversationEvent.objects.filter(conversation_id=OuterRef("pk"), kind=ConversationEvent.Kind.STATE_CHANGED, **window).filter(
        Q(to_state=Conversation.State.RESOLVED) | Q(to_state=Conversation.State.CLOSED, from_state__in=Conversation.OPEN_STATES))
    resolved = Conversation.objects.filter(workspace_id=workspace_id).filter(Exists(ended)).count()
    classified = sum(n for _name, n in rows)
    return Report(rows=rows, resolved=resolved, unclassified=max(resolved - classified, 0))
