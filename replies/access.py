"""Which quick phrases an agent may use: one query, whatever their number."""

from django.db.models import Q
from django.utils import timezone

from .models import QuickPhrase


def usable_phrases(actor, now=None):
    """Workspace phrases, those of the agent's groups (the default group is everyone's), and their own;
    campaign phrases only inside their validity period."""
    from routing.models import AgentGroup

    now = now or timezone.now()
    my_groups = AgentGroup.objects.filter(workspace_id=actor.workspace_id).filter(Q(members__id=actor.user_id) | Q(is_default=True)).values("pk")
    return (
        QuickPhrase.objects.filter(workspace_id=actor.workspace_id)
        .filter(Q(scope=QuickPhrase.Scope.WORKSPACE) | Q(scope=QuickPhrase.Scope.GROUP, group_id__in=my_groups)
                | Q(scope=QuickPhrase.Scope.PERSONAL, owner_id=actor.user_id))
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=now), Q(valid_until__isnull=True) | Q(valid_until__gt=now))
    )
