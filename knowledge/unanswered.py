"""未解决问题: the questions the bot could not answer, grouped for the merchant.

The bot's follow-up job (after the customer's message committed, inside the job's own
transaction: lifecycle.followups) records a question when it only offered suggestions, when it
handed the chat to a person after misses, and when the customer marked an answer 未解决
(knowledge.feedback). One row per workspace and normalised text (a unique constraint) with an
F() counter, so concurrent askers of the same question never lose a count and never make two
rows. A question asked again after the merchant handled it is open again: the fix did not work.

A table of its own rather than a GROUP BY over SearchLog: the admin lists and sorts it like any
other, its size is the number of distinct questions, not of searches, and SearchLog does not
know what happened after the search (answered, then 未解决)."""

import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.text import fold

from .models import LOCALES, UnansweredQuestion

MAX_CHARS = UnansweredQuestion._meta.get_field("text").max_length
LOCALE_CODES = {code for code, _label in LOCALES}
_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3400-\u9fff]")


def normalise(text):
    """Folded (case, width, traditional → simplified), punctuation and spaces out (kept between
    two latin words): 「退貨怎麼辦？」 and 「退货 怎么办」 are one question."""
    parts = _WORD.findall(fold(str(text or "")).replace("_", " "))
    joined = ""
    for part in parts:
        if joined and not (_CJK.match(joined[-1]) or _CJK.match(part[0])):
            joined += " "
        joined += part
    return joined[:MAX_CHARS]


def record(workspace_id, text, locale, reason):
    """Count one more asking of `text` (inside the caller's transaction). None for text with
    no words (an emoji, punctuation)."""
    key = normalise(text)
    if not key:
        return None
    text = " ".join(str(text).split())[:MAX_CHARS]
    locale = locale if locale in LOCALE_CODES else "zh-hans"
    now = timezone.now()
    changes = {"count": F("count") + 1, "last_asked_at": now, "text": text, "locale": locale, "reason": reason, "handled_at": None}
    if UnansweredQuestion.objects.filter(workspace_id=workspace_id, normalised=key).update(**changes):
        return key
    try:
        with transaction.atomic():
            UnansweredQuestion.objects.create(workspace_id=workspace_id, normalised=key, text=text, locale=locale, reason=reason,
                                              count=1, last_asked_at=now)
    except IntegrityError:  # a concurrent first asking made the row: count on it
        UnansweredQuestion.objects.filter(workspace_id=workspace_id, normalised=key).update(**changes)
    return key
