"""History search (会话记录): conversations by agent, customer, rating, tag, channel, inbox, state,
date range and a keyword over their messages, with highlighted snippets; transcripts.

The keyword is folded like the index (reports/fold_map.py) and segmented by the project's analyser
(helpdesk.analysis: jieba); every word must occur in some message of the conversation (not
necessarily the same one):
- PostgreSQL: `history_tsv @@ to_tsquery(...)` on the GIN index of reports/migrations/0003
  (history_terms(body) of 0001, stored by the database): a Chinese word is the AND of its bigrams,
  each in simplified or traditional script (a single character: a prefix of a bigram), a latin word
  or number a prefix. A word the planner expects in few messages is looked up in the index first
  (few_word_conversations); a common one is tested conversation by conversation, newest first;
- SQLite: the FTS5 trigram table (history_message_fts), the word in simplified or traditional
  script as a substring (three characters or more use the index; shorter ones scan it).
Recalled messages are not searched. Private notes are (agents only read history).
A page is one query for the conversations (with customer, inbox, assignee and rating), one for
the customers' tags, one for the members' names and, with a keyword, one for the snippets,
whatever the data's size; on PostgreSQL a keyword adds an EXPLAIN per part of a word, one index lookup per rare word
and one query narrowing those conversations to the actor's."""

import json
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import BooleanField, F, Func, Prefetch, Q
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, shown_name
from chat.models import Conversation, Customer, Inbox, Message, Participant, Tag
from helpdesk import analysis
from helpdesk.errors import FieldErrors
from helpdesk.text import to_simplified, to_traditional
from helpdesk.validation import id_param

from .access import history_conversations
from .fold_map import fold_chars

MAX_KEYWORD = 200  # characters: a longer keyword is refused (400), not truncated
MAX_CUSTOMER = 120
MAX_WORDS = 12
PAGE_SIZE = 20
MAX_PAGE = 50
SNIPPET_CONTEXT = 40  # characters either side of the first hit
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_PIECES = re.compile(f"[{_CJK}]+|[0-9a-z]+")
_CJK_RUN = re.compile(f"[{_CJK}]+")


@dataclass
class Filters:
    keyword: str = ""
    agent_id: int | None = None
    customer: str = ""
    rating: int | None = None
    tag_id: int | None = None
    channel: str = ""
    inbox_id: int | None = None
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    words: list = field(default_factory=list)

    def as_dict(self):
        """What was searched, for the audit log (JSON)."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()
                if k not in ("words", "page") and v not in ("", None)}


def _date(value, key, errors):
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = _("Enter a date as YYYY-MM-DD.")
        return None


def _choice_id(value, key, allowed, errors, message):
    if not value:
        return None
    number = id_param(value)
    if number is None or number not in allowed:
        errors[key] = message
        return None
    return number


def parse_filters(actor, params):
    """Filters from a query string; FieldErrors (400) naming every bad field. Ids must name this
    workspace's objects (another workspace's id is the same error as a missing one)."""
    errors, f = {}, Filters()
    get = lambda key: (params.get(key) or "").strip()  # noqa: E731
    f.keyword = get("q")
    if len(f.keyword) > MAX_KEYWORD:
        errors["q"] = _("The keyword is too long: at most %(n)s characters.") % {"n": MAX_KEYWORD}
        f.keyword = ""
    f.customer = get("customer")
    if len(f.customer) > MAX_CUSTOMER:
        errors["customer"] = _("At most %(n)s characters.") % {"n": MAX_CUSTOMER}
        f.customer = ""
    members = dict(agent_choices(actor))
    f.agent_id = _choice_id(get("agent"), "agent", members, errors, _("Select a member of this workspace."))
    f.inbox_id = _choice_id(get("inbox"), "inbox", {i for i, _n in inbox_choices(actor)}, errors, _("Select an inbox of this workspace."))
    f.tag_id = _choice_id(get("tag"), "tag", {i for i, _n in tag_choices(actor)}, errors, _("Select a tag of this workspace."))
    rating = get("rating")
    if rating:
        f.rating = id_param(rating)
        if f.rating is None or not 1 <= f.rating <= 5:
            errors["rating"], f.rating = _("Choose a rating from 1 to 5."), None
    f.channel = get("channel")
    if f.channel and f.channel not in Inbox.Kind.values:
        errors["channel"], f.channel = _("Choose a channel from the list."), ""
    f.state = get("state")
    if f.state and f.state not in Conversation.State.values:
        errors["state"], f.state = _("Choose a state from the list."), ""
    f.date_from, f.date_to = _date(get("from"), "from", errors), _date(get("to"), "to", errors)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        errors["to"] = _("The end date is before the start date.")
    page = get("page")
    if page:
        f.page = id_param(page) or 0
        if not 1 <= f.page <= MAX_PAGE:
            errors["page"], f.page = _("Choose a page from 1 to %(n)s; narrow the search to see older results.") % {"n": MAX_PAGE}, 1
    if errors:
        raise FieldErrors("invalid_filters", _("Some filters are not valid."), errors)
    f.words = keyword_words(f.keyword)
    return f


# --- the workspace's choices (one query each) ---------------------------------------------------


def agent_choices(actor):
    rows = Membership.objects.filter(workspace_id=actor.workspace_id).select_related("user").order_by("user__username")
    return [(m.user_id, shown_name(m.display_name, m.user)) for m in rows]


def member_names(actor):
    """{user id: how the workspace names them} (accounts.models.shown_name)."""
    return dict(agent_choices(actor))


def inbox_choices(actor):
    return list(Inbox.objects.filter(workspace_id=actor.workspace_id).order_by("name").values_list("pk", "name"))


def tag_choices(actor):
    return list(Tag.objects.filter(workspace_id=actor.workspace_id).order_by("name").values_list("pk", "name"))


# --- keyword -----------------------------------------------------------------------------------


def keyword_words(keyword):
    """The words every matching conversation must contain, folded (fold_map) and segmented by
    jieba through helpdesk.analysis; stop words go, unless the keyword is nothing else ("在吗")."""
    if not keyword:
        return []
    folded = fold_chars(keyword)
    found = [folded[start:end] for _term, start, end in analysis.words(keyword)]
    found = [piece for w in found for piece in _PIECES.findall(w)] or _PIECES.findall(folded)
    words = []
    for word in found:
        if word not in words:
            words.append(word)
    # jieba's search mode adds the long word after its parts (退货, 地址, 退货地址): the parts are enough.
    words = [w for w in words if not any(other != w and other in w for other in words)]
    return words[:MAX_WORDS]


def _bigrams(run):
    return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]


def _either_script(text):
    """The text in simplified and in traditional script (the index keeps the script as written)."""
    return list(dict.fromkeys([text, to_traditional(text), to_simplified(text)]))


def tsquery_parts(word):
    """The to_tsquery texts a message must match to contain the word (PostgreSQL): every bigram of a
    Chinese word (one character: a prefix) in either script, a latin word or number as a prefix.
    Lexemes are CJK characters or [0-9a-z] only, so nothing in them needs quoting."""
    if not _CJK_RUN.fullmatch(word):
        return [f"'{word}':*"]
    parts = []
    for gram in _bigrams(word):
        suffix = ":*" if len(gram) == 1 else ""
        variants = [f"'{v}'{suffix}" for v in _either_script(gram) if len(v) == len(gram)]
        parts.append(variants[0] if len(variants) == 1 else "(" + " | ".join(variants) + ")")
    return list(dict.fromkeys(parts))


def tsquery(words):
    """to_tsquery text for PostgreSQL: every part of every word."""
    return " & ".join(dict.fromkeys(part for word in words for part in tsquery_parts(word)))


class TermsMatch(Func):
    """history_tsv @@ to_tsquery('simple', query), PostgreSQL only. history_tsv is a generated
    column the model does not declare (SQLite has no such function): it is named on the body's
    table alias."""

    output_field = BooleanField()

    def __init__(self, query):
        super().__init__(F("body"))
        self.query = query

    def as_sql(self, compiler, connection, **extra):
        alias = compiler.quote_name_unless_alias(self.source_expressions[0].alias)
        return f"{alias}.history_tsv @@ to_tsquery('simple'::regconfig, %s)", [self.query]


class AnyOf(Func):
    """column = ANY(ids): one array parameter, which PostgreSQL uses as an index condition however
    many ids there are (an IN list of 20,000 parameters, or a join to unnest(), it does not)."""

    output_field = BooleanField()

    def __init__(self, expression, ids):
        super().__init__(expression)
        self.ids = list(ids)

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"{column} = ANY(%s::bigint[])", [*params, self.ids]


def _word_q(word):
    """SQLite: the word in simplified or traditional script. Three characters or more: the trigram
    table (its LIKE uses the index); shorter ones: the message row itself (FTS5's trigram LIKE finds
    nothing for two CJK characters, SQLite 3.40), a scan the embedded default's size affords."""
    condition = Q()
    for variant in _either_script(word):
        if len(variant) >= 3:
            condition |= Q(pk__in=RawSQL("SELECT rowid FROM history_message_fts WHERE body LIKE %s", [f"%{variant}%"]))
        else:
            condition |= Q(body__icontains=variant)
    return condition


def _substring_q(word):
    """The word as written in the message, in either script, ignoring case."""
    condition = Q()
    for variant in _either_script(word):
        condition |= Q(body__icontains=variant)
    return condition


def matching_messages(words):
    """Messages (not recalled) containing every word, as a queryset: on PostgreSQL the indexed
    column alone (a substring test beside it would be cheaper per row but ruins the planner's
    estimate, which then reads every match through the index: scripts/bench_history.py)."""
    qs = Message.objects.filter(recalled_at__isnull=True)
    if connection.vendor == "postgresql":
        return qs.filter(TermsMatch(tsquery(words)))
    conditions = [_word_q(w.replace("%", "").replace("_", "")) for w in words]
    combined = conditions[0]
    for condition in conditions[1:]:
        combined &= condition
    return qs.filter(combined)


# PostgreSQL: a word the planner expects in fewer messages than this is looked up in the index first.
FEW_MESSAGES = 20_000


def _estimated_messages(part):
    """The planner's estimate of the messages matching one part (its statistics of history_tsv:
    close for frequent lexemes, a small default for the rest)."""
    plan = json.loads(Message.objects.filter(TermsMatch(part)).explain(format="json"))
    return plan[0]["Plan"]["Plan Rows"]  # the root: a scan, or a Gather of all its workers' rows


def few_word_conversations(words):
    """PostgreSQL: {word: the ids of the conversations (of any workspace) with a message containing
    it} for each word with few messages, None for a common word.

    Why: the page lists the newest conversations first, and the planner's way to that is a walk by
    recency that tests each conversation's messages until 21 match. That is the fastest plan for a
    common word and a disaster for a word almost nothing contains (every conversation is walked:
    docs/benchmarks.md, "10,000,000 messages"), and the planner cannot tell a rare word from a word
    it has no statistics for. So a word with a part the planner expects in fewer than FEW_MESSAGES
    messages (an AND matches at most as many as its rarest part) is looked up in the index first:
    few matches, the ids narrow the query; more than FEW_MESSAGES conversations after all, the walk
    is cheap anyway."""
    found = {}
    for word in words:
        if not any(_estimated_messages(part) < FEW_MESSAGES for part in tsquery_parts(word)):
            found[word] = None
            continue
        ids = list(matching_messages([word]).order_by().values_list("conversation_id", flat=True).distinct()[:FEW_MESSAGES + 1])
        found[word] = ids if len(ids) <= FEW_MESSAGES else None
    return found


def snippet_messages(words, conversation_ids):
    """The messages of these conversations with at least one word, by substring only (a page of
    conversations: the index is not needed, the same test as the highlight)."""
    condition = Q()
    for word in words:
        condition |= _substring_q(word)
    return Message.objects.filter(condition, recalled_at__isnull=True, conversation_id__in=conversation_ids)


# --- the search --------------------------------------------------------------------------------


def _day_start(day, tz):
    return datetime.combine(day, time.min, tzinfo=tz)


def filtered(actor, f, workspace_tz="UTC"):
    """The actor's history narrowed by the filters, newest activity first (no query yet)."""
    qs = history_conversations(actor)
    if f.agent_id:
        qs = qs.filter(pk__in=Participant.objects.filter(user_id=f.agent_id).values("conversation_id"))
    if f.customer:
        c = f.customer
        customers = Customer.objects.filter(workspace_id=actor.workspace_id).filter(
            Q(name__icontains=c) | Q(external_id=c) | Q(public_id=c) | Q(attributes__phone__icontains=c))
        qs = qs.filter(customer_id__in=customers.values("pk"))
    if f.rating:
        qs = qs.filter(rating__rating=f.rating)
    if f.tag_id:
        qs = qs.filter(customer_id__in=Customer.tags.through.objects.filter(tag_id=f.tag_id).values("customer_id"))
    if f.channel:
        qs = qs.filter(inbox__kind=f.channel)
    if f.inbox_id:
        qs = qs.filter(inbox_id=f.inbox_id)
    if f.state:
        qs = qs.filter(state=f.state)
    tz = zoneinfo.ZoneInfo(workspace_tz)
    if f.date_from:
        qs = qs.filter(created_at__gte=_day_start(f.date_from, tz))
    if f.date_to:
        qs = qs.filter(created_at__lt=_day_start(f.date_to + timedelta(days=1), tz))
    few = few_word_conversations(f.words) if f.words and connection.vendor == "postgresql" else {}
    rare = [set(ids) for ids in few.values() if ids is not None]
    if rare:
        # The conversations the actor may see among those few, in a query of their own: with the
        # page's ORDER BY … LIMIT the planner would walk every conversation by recency instead,
        # trusting its guess at how many the actor may see (a quarter or more, when an agent sees 2%).
        ids = sorted(set.intersection(*rare))
        ids = list(qs.filter(AnyOf(F("pk"), ids)).order_by().values_list("pk", flat=True)) if ids else []
        if not ids:
            return qs.none()
        qs = qs.filter(AnyOf(F("pk"), ids))
    for word in f.words:  # every word, each in any message of the conversation
        if few.get(word) is None:
            qs = qs.filter(pk__in=matching_messages([word]).values("conversation_id"))
    return qs.order_by(F("last_message_at").desc(nulls_last=True), "-id")


@dataclass
class Hit:
    conversation: Conversation
    assignee_name: str = ""
    snippet: str = ""
    matches: int = 0


class SearchTooSlow(Exception):
    """The keyword search ran past settings.HISTORY_SEARCH_TIMEOUT_MS and was cancelled."""


def search(actor, f, workspace_tz="UTC"):
    """(hits, has_more) of one page. On PostgreSQL a keyword search is cancelled after
    HISTORY_SEARCH_TIMEOUT_MS: a word that matches almost nothing in a large history makes the
    planner walk every conversation (docs/benchmarks.md, 10,000,000 messages), and one person's
    search must not hold a database connection and its parallel workers for a minute."""
    if not f.words or connection.vendor != "postgresql":
        return _search(actor, f, workspace_tz)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [int(settings.HISTORY_SEARCH_TIMEOUT_MS)])
            return _search(actor, f, workspace_tz)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
            raise SearchTooSlow from None
        raise


def _search(actor, f, workspace_tz):
    start = (f.page - 1) * PAGE_SIZE
    tags = Prefetch("customer__tags", queryset=Tag.objects.order_by("name"))
    rows = list(filtered(actor, f, workspace_tz).select_related("customer", "inbox")
                .annotate(rating_value=F("rating__rating"))
                .prefetch_related(tags)[start:start + PAGE_SIZE + 1])
    has_more = len(rows) > PAGE_SIZE
    names = member_names(actor) if rows else {}
    hits = [Hit(c, assignee_name=names.get(c.assignee_id, "")) for c in rows[:PAGE_SIZE]]
    if f.words and hits:
        by_id = {h.conversation.pk: h for h in hits}
        found = (snippet_messages(f.words, list(by_id)).order_by("conversation_id", "seq").values_list("conversation_id", "body"))
        for conversation_id, body in found:
            hit = by_id[conversation_id]
            hit.matches += 1
            if not hit.snippet:
                hit.snippet = snippet(body, f.words)
    return hits, has_more


def snippet(body, words, context=SNIPPET_CONTEXT):
    """The message around the first hit, HTML-escaped, every occurrence of a word in <mark>."""
    folded = fold_chars(body)
    spans = []
    for word in words:
        for m in re.finditer(re.escape(word), folded):
            spans.append((m.start(), m.end()))
    spans.sort()
    if spans:
        begin = max(0, spans[0][0] - context)
        end = min(len(body), spans[0][1] + 2 * context)
    else:
        begin, end = 0, min(len(body), 3 * context)
    out, pos = [], begin
    for s, e in spans:
        s, e = max(s, pos), min(e, end)
        if s >= e:
            continue
        out.append(escape(body[pos:s]))
        out.append(f"<mark>{escape(body[s:e])}</mark>")
        pos = e
    out.append(escape(body[pos:end]))
    return mark_safe(("…" if begin else "") + "".join(out) + ("…" if end < len(body) else ""))  # noqa: S308 - every piece escaped


def transcript(conversation):
    """Every message of the conversation in order (private notes included: agents only)."""
    return Message.objects.filter(conversation_id=conversation.pk).order_by("seq")
