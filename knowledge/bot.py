"""The deflection bot for bot-first inboxes. For each customer message it searches the
knowledge base and either answers (confident), offers the top articles (not sure: a miss),
or hands the chat to a person (a handoff keyword, too many misses, or nothing found twice).
The widget always shows a "talk to a person" button while the bot has the chat.

Engines are pluggable (settings.KB_BOT["ENGINE"]): "retrieval" answers with the best
article itself; "llm" asks an OpenAI-compatible endpoint to answer from the retrieved
articles only (off by default). The bot runs after the customer's message is committed, as a
follow-up job (lifecycle.flow, which tries the workspace's keyword rules first): reply_to
searches or calls a model outside any transaction; deliver posts the reply or hands off."""

import json
import logging
import re
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from chat.messages import post_bot_message
from chat.models import Conversation, ConversationEvent, Message
from chat.states import hand_off_to_human
from helpdesk import analysis
from helpdesk.text import to_simplified

from . import choices, faq, feedback, synonyms, unanswered
from .models import ArticleVersion, SearchLog, UnansweredQuestion

log = logging.getLogger(__name__)



@dataclass
class Reply:
    kind: str  # "answer" | "suggest" | "handoff"
    text: str = ""
    articles: list = field(default_factory=list)  # [{"url", "name"}]
    reason: str = ""
    locale: str = "zh-hans"  # the customer's script: the language the bot answers in
    question: str = ""  # what the customer asked (set by reply_to)


def coverage(question, candidates, synonyms=()):
    """Share of the question's words that one candidate (the article's title or one of its
    similar questions, in any language) contains, for the best candidate: 1.0 when one of them
    says everything the customer asked. A word counts when the candidate has it, one of its
    glossary/synonym/pinyin equivalents, or all of its parts (第五 and 五天 of 第五天); a part
    alone does not (手机 of 手机信号). The same analyser as the index (helpdesk.analysis)."""
    groups = {}  # group → {word of the question → {it and its equivalents}}
    for q in analysis.query_terms(question, synonyms):
        if q.group >= 0:
            groups.setdefault(q.group, {}).setdefault(q.source, set()).add(q.term)
    if not groups:
        return 0.0
    best = 0.0
    for candidate in candidates:
        have = set(analysis.index_terms(candidate, with_grams=False))
        covered = 0
        for words in groups.values():
            head, *parts = sorted(words, key=len, reverse=True)
            found = {word for word, equivalents in words.items() if equivalents & have}
            covered += head in found or bool(parts) and all(part in found for part in parts)
        best = max(best, covered / len(groups))
    return best


def is_sure(question, hits, top_versions, unknown_words=(), synonyms=()):
    """Answer only when the best article stands out from the next (score margin), one of its
    titles or similar questions covers the question, and the question has no word of two
    characters or more that no article knows (淘宝, amazon: probably asked about something the
    knowledge base does not cover; a single character says too little to veto). See
    docs/knowledge.md, "The bot"."""
    if not hits or not top_versions or any(len(word) > 1 for word in unknown_words):
        return False
    margin = hits[0].score / hits[1].score if len(hits) > 1 and hits[1].score > 0 else float("inf")
    candidates = [text for v in top_versions for text in [v.title, *(q for q in v.similar_questions or [] if isinstance(q, str))]]
    return margin >= settings.KB_BOT["MIN_MARGIN"] and coverage(question, candidates, synonyms) >= settings.KB_BOT["MIN_CONFIDENCE"]


def wants_person(text, inbox):
    words = [w.strip().lower() for w in (inbox.bot_handoff_keywords or "").split(",") if w.strip()]
    lowered = str(text).lower()
    return any(w in lowered for w in words)


def decide(conversation, text, locale):
    """What the bot says to `text` (pure apart from the search and the engine call)."""
    inbox = conversation.inbox
    if wants_person(text, inbox):
        return Reply("handoff", reason="keyword")
    groups = synonyms.groups(conversation.workspace_id)
    hits, unknown = faq.customer_explained_search(conversation.workspace_id, text, locale=locale, limit=settings.KB_BOT["SUGGESTIONS"],
                                                  synonym_groups=groups)  # never an internal-only article
    SearchLog.objects.create(workspace_id=conversation.workspace_id, query=str(text)[:200], locale=locale,
                             source=SearchLog.Source.BOT, result_count=len(hits), visitor_key=f"c:{conversation.customer_id}")
    misses = ConversationEvent.objects.filter(conversation=conversation, kind=ConversationEvent.Kind.BOT_SUGGESTED).count()
    if not hits:
        return Reply("handoff", reason="misses") if misses + 1 >= inbox.bot_max_misses else Reply(
            "suggest", text=_("I could not find an answer to that. Could you put it another way, or talk to a person?"))
    versions = {(v.article_id, v.locale): v for v in ArticleVersion.objects.filter(
        article_id__in=[h.article_id for h in hits]).select_related("article__workspace")}
    links = [{"url": article_url(versions[(h.article_id, h.locale)]), "name": h.title, "article": h.article_id, "locale": h.locale}
             for h in hits if (h.article_id, h.locale) in versions]
    top = versions.get((hits[0].article_id, hits[0].locale))
    top_versions = [v for (aid, _loc), v in versions.items() if aid == top.article_id] if top is not None else []
    if is_sure(text, hits, top_versions, unknown, groups):
        return Reply("answer", text=_engine().answer(text, top, [versions[k] for k in versions]), articles=links[:1])
    if misses + 1 >= inbox.bot_max_misses:
        return Reply("handoff", reason="misses")
    return Reply("suggest", text=_("These articles may help:"), articles=links)


def article_url(version):
    article = version.article
    return reverse("knowledge:article", kwargs={"workspace": article.workspace.slug, "locale": version.locale, "article": article.slug})


def reply_to(message):
    """What the bot answers to a customer message of a conversation still with it (None otherwise).
    Outside any transaction: the search (and a model call) must not hold one."""
    conversation = message.conversation
    if conversation.state != Conversation.State.BOT:
        return None
    chosen = choices.chosen_version(conversation, message.body)  # 猜你想问: a suggestion tapped
    if chosen is not None:
        return answer_with(chosen, message.body)
    locale = locale_of(message.body)
    with translation.override(locale):
        reply = decide(conversation, message.body, locale)
    reply.locale, reply.question = locale, message.body
    return reply


def answer_with(version, question):
    """The answer to a question the customer picked from the bot's suggestions: that article."""
    with translation.override(version.locale):
        text = _engine().answer(question, version, [version])
    link = {"url": article_url(version), "name": version.title, "article": version.article_id, "locale": version.locale}
    return Reply("answer", text=text, articles=[link], reason="choice",
                 locale=version.locale, question=question)


def deliver(conversation_id, reply):
    """Post the bot's reply, or hand the chat to a person (a person may have taken it meanwhile:
    then the bot says nothing). An answer is followed by 「是否解决了您的问题？」 (knowledge.feedback);
    suggestions are 猜你想问 choices the customer can tap (knowledge.choices). Runs in the
    follow-up job's transaction: the lines, their events and the unanswered-question count
    (knowledge.unanswered) commit together."""
    with translation.override(reply.locale):
        if reply.kind == "handoff":
            posted = post_bot_message(conversation_id, _("Let me get a colleague for you. One moment, please."))
            hand_off_to_human(conversation_id, reason=reply.reason)
            if posted is not None and reply.reason == "misses":
                unanswered.record(posted.conversation.workspace_id, reply.question, reply.locale, UnansweredQuestion.Reason.HANDED_OFF)
            return
        workspace_id = Conversation.objects.filter(pk=conversation_id).values_list("workspace_id", flat=True).first()
        links = reply.articles  # [{"url", "name", "article", "locale"}]
        if reply.kind == "answer":
            feedback.post_answer(conversation_id, reply.text, links, question=reply.question, locale=reply.locale)
            return
        posted = post_bot_message(
            conversation_id, _("You may want to ask:") if links else reply.text,
            msg_type=Message.Type.ARTICLE if links else Message.Type.TEXT, attachments=choices.suggestion_attachments(links),
            event=ConversationEvent.Kind.BOT_SUGGESTED, event_data={"articles": [a["url"] for a in links], "choices": choices.offered(links)},
        )
        if posted is not None:
            unanswered.record(workspace_id, reply.question, reply.locale, UnansweredQuestion.Reason.SUGGESTED)


def locale_of(text):
    """The customer's script decides the bot's language: 繁體 when the text is traditional."""
    if not re.search(r"[\u4e00-\u9fff]", text or ""):
        return "en"
    return "zh-hant" if to_simplified(text) != text else "zh-hans"


# --- answer engines ---------------------------------------------------------------------


class RetrievalEngine:
    """The best article's own words: its title and the start of its text."""

    def answer(self, question, version, context):
        text = re.sub(r"\s+", " ", strip_tags(version.body_html or version.body)).strip()
        return f"{version.title}\n{text[:280]}{'…' if len(text) > 280 else ''}"


class LLMEngine:
    """An OpenAI-compatible chat-completions endpoint, told to answer only from the articles.
    Falls back to the retrieval answer when it fails or times out."""

    def answer(self, question, version, context):
        cfg = settings.KB_BOT
        articles = "\n\n".join(f"# {v.title}\n{strip_tags(v.body_html or v.body)[:2000]}" for v in context[:3])
        payload = {
            "model": cfg["LLM_MODEL"],
            "messages": [
                {"role": "system", "content": "You are a customer-service assistant. Answer briefly, in the customer's language, "
                 "using only the articles below. If they do not contain the answer, say so.\n\n" + articles},
                {"role": "user", "content": str(question)[:2000]},
            ],
            "temperature": 0.2,
        }
        request = urllib.request.Request(cfg["LLM_URL"], data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {cfg['LLM_KEY']}"})
        try:
            with urllib.request.urlopen(request, timeout=cfg["LLM_TIMEOUT_SECONDS"]) as response:
                data = json.loads(response.read())
            return str(data["choices"][0]["message"]["content"]).strip()[:2000] or RetrievalEngine().answer(question, version, context)
        except Exception:
            log.warning("LLM answer failed; using the article", exc_info=True)
            return RetrievalEngine().answer(question, version, context)


def _engine():
    return LLMEngine() if settings.KB_BOT["ENGINE"] == "llm" and settings.KB_BOT["LLM_URL"] else RetrievalEngine()
