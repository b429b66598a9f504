"""Exports of history (CSV), audited: who exported which conversation or which search, when.
The audit row is written before the file is sent (accounts.actions.audit)."""

import csv
import io

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import audit

from . import history

EXPORT_LIMIT = 10_000  # conversations in one result-set export; narrow the search for more
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """A CSV cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _local(moment, tz):
    return timezone.localtime(moment, tz).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _rows_as_csv(header, rows):
    """Yield CSV text chunk by chunk (a byte-order mark first, so spreadsheets read UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
        if buffer.tell() > 32_768:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_transcript(actor, conversation, tz):
    """CSV lines of one conversation's transcript; audited as history.export_transcript."""
    audit(actor, "history.export_transcript", target=conversation)
    header = [_("Seq"), _("Time"), _("Sender"), _("Name"), _("Type"), _("Private note"), _("Text"), _("Attachments"), _("Recalled")]
    messages = history.transcript(conversation).iterator(chunk_size=2000)

    def rows():
        for m in messages:
            names = ", ".join(str(a.get("name") or a.get("url") or "") for a in (m.attachments or []) if isinstance(a, dict))
            yield [m.seq, _local(m.created_at, tz), m.get_sender_kind_display(), m.sender_name, m.msg_type,
                   _("yes") if m.is_private else "", "" if m.recalled_at else m.body, names, _local(m.recalled_at, tz)]

    return _rows_as_csv(header, rows())


def export_results(actor, filters, tz):
    """CSV lines of the conversations found (at most EXPORT_LIMIT); audited as history.export_results."""
    audit(actor, "history.export_results", after={"filters": filters.as_dict(), "limit": EXPORT_LIMIT})
    header = [_("Conversation"), _("Started"), _("Last message"), _("State"), _("Inbox"), _("Channel"), _("Customer"),
              _("Merchant user id"), _("Assignee"), _("Rating"), _("Tags")]
    qs = (history.filtered(actor, filters, str(tz)).select_related("customer", "inbox")
          .annotate(rating_value=F("rating__rating"))
          .prefetch_related("customer__tags")[:EXPORT_LIMIT])

    names = history.member_names(actor)

    def rows():
        for c in qs.iterator(chunk_size=1000):
            yield [c.pk, _local(c.created_at, tz), _local(c.last_message_at, tz), c.get_state_display(), c.inbox.name,
                   c.inbox.get_kind_display(), c.customer.name, c.customer.external_id or "",
                   names.get(c.assignee_id, "") if c.assignee_id else "", c.rating_value or "",
                   "; ".join(sorted(t.name for t in c.customer.tags.all()))]

    return _rows_as_csv(header, rows())
