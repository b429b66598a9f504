"""What a workspace configured for its messages (sensitive-word lists, whether it has keyword
rules or reply settings), cached per process for a few seconds.

Every message needs this, and it changes a few times a month: reading it per message cost
two queries on the hot path. A save or delete of a list, rule or settings row in this process
drops the entry at once (the rows' save() and delete() call invalidate(); the admin's bulk
delete too); other processes see the change within AUTO_REPLIES["CONFIG_TTL_SECONDS"] (5 s by
default). The models and this module import each other as modules (replies.models calls
invalidate, _load reads the models): names are looked up when called, never at import."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef

from accounts.models import Workspace
from helpdesk.workspace_cache import WorkspaceCache

from . import models


@dataclass(frozen=True)
class WorkspaceConfig:
    has_rules: bool
    has_settings: bool
    # (pk, updated_at, words, action, notice, name, applies_to) of the enabled lists
    word_lists: tuple


def _load(workspace_id):
    flags = Workspace.objects.filter(pk=workspace_id).values_list(
        Exists(models.AutoReplyRule.objects.filter(workspace_id=OuterRef("pk"), enabled=True)),
        Exists(models.ReplySettings.objects.filter(workspace_id=OuterRef("pk"))),
    ).first() or (False, False)
    lists = tuple(models.SensitiveWordList.objects.filter(workspace_id=workspace_id, enabled=True)
                  .values_list("pk", "updated_at", "words", "action", "notice", "name", "applies_to"))
    return WorkspaceConfig(has_rules=flags[0], has_settings=flags[1], word_lists=lists)


_cache = WorkspaceCache(_load, ttl=lambda: settings.AUTO_REPLIES["CONFIG_TTL_SECONDS"])
for_workspace = _cache.get
peek = _cache.peek  # None when not in memory
invalidate = _cache.invalidate

