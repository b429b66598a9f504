"""同义词: a workspace's own groups of equivalent words, for search and the bot.

    groups(workspace_id) -> [[phrase, ...], ...]   what helpdesk.analysis.query_terms(text, synonyms=...) takes
    cached(workspace_id) -> (version, groups) | None   this process's copy, without reading the database

Read on every search, so cached per process; an edit must apply at once on every process (and
host), so a cached copy is used only while the workspace's SynonymVersion row still holds the
version it was read under. That row is one indexed read per call (0.19 ms on SQLite, measured),
where reading and splitting 500 groups costs 0.49 ms (docs/knowledge.md, "Synonyms"). The
writes (knowledge.actions) bump the version inside their transaction. knowledge.search reads the
version with its hits instead (one round trip less): it searches with `cached()` and searches
again with groups() when the version read after the search is not the cached one.

Validation is here too so the admin form and the actions say the same: one phrase per line or
separated by commas (、，, ;), at least 2 distinct phrases (after folding case, width and
traditional/simplified), each at most 30 characters, at most 20 per group and 500 groups per
workspace."""

import threading

from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError
from helpdesk.text import fold

from .models import SynonymGroup, SynonymVersion

MAX_PHRASE_CHARS = 30
MAX_PHRASES = 20
MAX_GROUPS = 500
SEPARATORS = str.maketrans({",": "\n", "，": "\n", "、": "\n", ";": "\n", "；": "\n"})

_cache = {}  # workspace id -> (version, groups)
_lock = threading.Lock()


def invalid(code, message):
    error = DomainError(code, message, status=400)
    error.field = "phrases"
    return error


def clean_phrases(text):
    """The phrases of a group as a list (input: text, one per line or comma-separated, or a list)."""
    if isinstance(text, (list, tuple)):
        text = "\n".join(str(p) for p in text)
    if not isinstance(text, str):
        raise invalid("invalid_synonyms", _("Write the equivalent words as text, one per line."))
    kept, seen = [], set()
    for phrase in text.translate(SEPARATORS).splitlines():
        phrase = " ".join(phrase.split())
        if not phrase:
            continue
        if len(phrase) > MAX_PHRASE_CHARS:
            raise invalid("synonym_too_long", _("A word or phrase can be at most %(n)s characters: %(phrase)s")
                          % {"n": MAX_PHRASE_CHARS, "phrase": phrase[:MAX_PHRASE_CHARS] + "…"})
        key = fold(phrase)
        if key not in seen:
            seen.add(key)
            kept.append(phrase)
    if len(kept) < 2:
        raise invalid("too_few_synonyms", _("Enter at least two different words or phrases that mean the same."))
    if len(kept) > MAX_PHRASES:
        raise invalid("too_many_synonyms", _("A group can have at most %(n)s words or phrases.") % {"n": MAX_PHRASES})
    return kept


def check_room(workspace_id, group_id=None):
    """A new group must fit under the workspace's limit."""
    if group_id is None and SynonymGroup.objects.filter(workspace_id=workspace_id).count() >= MAX_GROUPS:
        raise invalid("too_many_synonym_groups", _("A workspace can have at most %(n)s synonym groups.") % {"n": MAX_GROUPS})


def cached(workspace_id):
    """(version, groups) as this process last read them, or None; the caller checks the version
    against SynonymVersion after using them (groups: shared, do not change them)."""
    return _cache.get(workspace_id)


def groups(workspace_id):
    """The workspace's synonym groups, [[phrase, ...], ...] (shared between callers: do not change them)."""
    version = SynonymVersion.current(workspace_id) or 0  # no row: no change ever saved
    cached = _cache.get(workspace_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    # Rows read after the version are at least as new as it: cached under that version they are
    # at worst read again once more, never kept stale.
    found = [p.splitlines() for p in SynonymGroup.objects.filter(workspace_id=workspace_id).order_by("pk").values_list("phrases", flat=True)]
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[workspace_id] = (version, found)
    return found
