"""Sensitive words (敏感词): checked at the edge, before a message is stored.

Each workspace list applies to customers' or agents' messages (or both) with one action:
mask (the words become ＊), block (the message is refused with a notice, nothing stored) or
alert (delivered as written; supervisors are told). Matching is case-, width- and
script-insensitive (退貨 = 退货). Lists come from the per-process workspace config
(replies.config) and are compiled once per (list, version) per process."""

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError
from helpdesk.text import fold

from . import config
from .matching import keywords_of
from .models import SensitiveWordList

_compiled = {}  # (pk, updated_at) -> regex or None


@dataclass
class Verdict:
    body: str
    alerts: list = field(default_factory=list)  # [(list name, [words])]


def _pattern(pk, updated_at, words):
    key = (pk, updated_at)
    if key not in _compiled:
        folded = sorted({fold(w) for w in keywords_of(words)}, key=len, reverse=True)
        if len(_compiled) > 2000:
            _compiled.clear()
        _compiled[key] = re.compile("|".join(map(re.escape, folded))) if folded else None
    return _compiled[key]


def _spans(pattern, body):
    """Match positions in the original text: the folded text keeps its length almost always
    (t2s is character for character); when it does not, match the case-folded original."""
    folded = fold(body)
    if len(folded) != len(body):
        folded = body.casefold() if len(body.casefold()) == len(body) else body
    return [(m.start(), m.end()) for m in pattern.finditer(folded)]


def check(workspace_id, sender_is_customer, body):
    """The body to store (masked if needed) and the alerts to raise; raises DomainError when a list blocks it."""
    if not body:
        return Verdict(body)
    audience = {SensitiveWordList.AppliesTo.CUSTOMERS if sender_is_customer else SensitiveWordList.AppliesTo.AGENTS, SensitiveWordList.AppliesTo.BOTH}
    lists = [row for row in config.for_workspace(workspace_id).word_lists if row[6] in audience]
    verdict = Verdict(body)
    # Block first (nothing is stored), then mask, then alert on what is left.
    order = {SensitiveWordList.Action.BLOCK: 0, SensitiveWordList.Action.MASK: 1, SensitiveWordList.Action.ALERT: 2}
    for pk, updated_at, words, action, notice, name, _audience in sorted(lists, key=lambda r: (order[r[3]], r[0])):
        pattern = _pattern(pk, updated_at, words)
        spans = _spans(pattern, verdict.body) if pattern else []
        if not spans:
            continue
        if action == SensitiveWordList.Action.BLOCK:
            raise DomainError("blocked_words", notice or _("This message contains words that cannot be sent. Please rephrase it."), status=422)
        if action == SensitiveWordList.Action.MASK:
            text = list(verdict.body)
            for start, end in spans:
                text[start:end] = "＊" * (end - start)
            verdict.body = "".join(text)
        else:
            verdict.alerts.append((name, sorted({verdict.body[s:e] for s, e in spans})))
    return verdict
