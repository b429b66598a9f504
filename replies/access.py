"""Which quick phrases an agent may use: one query, whatever their number."""

from django.db.models import Q
from django.utils import timezone

from helpdesk.analysis import mainland_phrasing
from helpdesk.text import fold, to_simplified, to_traditional
from routing.models import AgentGroup

from .models import QuickPhrase


def phrases_in_reach(actor):
    """Workspace phrases, those of the agent's groups (the default group is everyone's), and their own,
    whatever their validity period (the management page shows scheduled and expired ones too)."""
    my_groups = AgentGroup.objects.filter(workspace_id=actor.workspace_id).filter(Q(members__id=actor.user_id) | Q(is_default=True)).values("pk")
    return (
        QuickPhrase.objects.filter(workspace_id=actor.workspace_id)
        .filter(Q(scope=QuickPhrase.Scope.WORKSPACE) | Q(scope=QuickPhrase.Scope.GROUP, group_id__in=my_groups)
                | Q(scope=QuickPhrase.Scope.PERSONAL, owner_id=actor.user_id))
    )


def valid_at(now):
    """Campaign phrases count only inside [valid_from, valid_until)."""
    return Q(Q(valid_from__isnull=True) | Q(valid_from__lte=now), Q(valid_until__isnull=True) | Q(valid_until__gt=now))


def usable_phrases(actor, now=None):
    """The phrases in the agent's reach that are valid now (the picker and use_phrase)."""
    return phrases_in_reach(actor).filter(valid_at(now or timezone.now()))


def own_phrases(actor):
    """The agent's personal phrases: the only ones they may change themselves."""
    return QuickPhrase.objects.filter(workspace_id=actor.workspace_id, scope=QuickPhrase.Scope.PERSONAL, owner_id=actor.user_id)


def validity(phrase, now=None):
    """"scheduled", "expired" or "" (valid now)."""
    now = now or timezone.now()
    if phrase.valid_from is not None and now < phrase.valid_from:
        return "scheduled"
    if phrase.valid_until is not None and now >= phrase.valid_until:
        return "expired"
    return ""


def search_key(shortcut, title, body):
    """What the composer's picker searches: shortcut, title and text, folded, in the text's own script, in
    simplified and traditional forms and in mainland phrasing (OpenCC), so 退貨 finds 退货, 运费 finds 運費 and
    软件 finds 軟體 (the query is not converted)."""
    plain = fold("\n".join((shortcut, title, body)), script=False)  # as the composer folds the query
    # + the mainland phrasing of Taiwan/HK wording (軟體 → 软件), as knowledge search does
    forms = [plain, to_simplified(plain), to_traditional(plain), fold(mainland_phrasing(plain))]
    return "\n".join(dict.fromkeys(forms))
