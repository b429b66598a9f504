"""What a workspace configured for its messages (sensitive-word lists, whether it has keyword
rules or reply settings), cached per process for a few seconds.

Every message needs this, and it changes a few times a month: reading it per message cost
two queries on the hot path. A save or delete of a list, rule or settings row in this process
drops the entry at once (the models call invalidate()); other processes see the change
within AUTO_REPLIES["CONFIG_TTL_SECONDS"] (5 s by default)."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef

_cache = {}  # workspace_id -> (expires at, WorkspaceConfig)


@dataclass(frozen=True)
class WorkspaceConfig:
    has_rules: bool
    has_settings: bool
    # (pk, updated_at, words, action, notice, name, applies_to) of the enabled lists
    word_lists: tuple


def for_workspace(workspace_id):
    now = time.monotonic()
    hit = _cache.get(workspace_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    config = _load(workspace_id)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[workspace_id] = (now + settings.AUTO_REPLIES["CONFIG_TTL_SECONDS"], config)
    return config


def invalidate(workspace_id=None):
    if workspace_id is None:
        _cache.clear()
    else:
        _cache.pop(workspace_id, None)


def _load(workspace_id):
    from accounts.models import Workspace

    from .models import AutoReplyRule, ReplySettings, SensitiveWordList

    flags = Workspace.objects.filter(pk=workspace_id).values_list(
        Exists(AutoReplyRule.objects.filter(workspace_id=OuterRef("pk"), enabled=True)),
        Exists(ReplySettings.objects.filter(workspace_id=OuterRef("pk"))),
    ).first() or (False, False)
    lists = tuple(SensitiveWordList.objects.filter(workspace_id=workspace_id, enabled=True)
                  .values_list("pk", "updated_at", "words", "action", "notice", "name", "applies_to"))
    return WorkspaceConfig(has_rules=flags[0], has_settings=flags[1], word_lists=lists)
