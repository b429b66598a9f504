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
from helpdesk.text import fold, to_simplified

from . import search
from .models import ArticleVersion, SearchLog

log = logging.getLogger(__name__)

STOP = set("的 了 吗 呢 吧 啊 呀 么 我 你 您 是 在 有 和 怎么 怎样 如何 什么 可以 能 请问 请 一下 这个 那个 the a an is are do does i my me you your to of for how what can in on it".split())


@dataclass
class Reply:
    kind: str  # "answer" | "suggest" | "handoff"
    text: str = ""
    articles: list = field(default_factory=list)  # [{"url", "name"}]
    reason: str = ""
    locale: str = "zh-hans"  # the customer's script: the language the bot answers in


def terms(text):
    """Words of a question, traditional folded to simplified, lower-cased, stop words out."""
    import jieba

    folded = fold(str(text))
    words = {w.strip() for w in jieba.cut_for_search(folded)}
    return {w for w in words if w and w not in STOP and re.search(r"\w", w)}


def confidence(question, title, similar_questions):
    """Share of the question's words found in the article's title or one similar question
    (the best of them): 1.0 when one of them says everything the customer asked."""
    asked = terms(question)
    if not asked:
        return 0.0
    best = 0.0
    for candidate in [title, *similar_questions]:
        have = terms(candidate)
        if have:
            best = max(best, len(asked & have) / len(asked))
    return best


def wants_person(text, inbox):
    words = [w.strip().lower() for w in (inbox.bot_handoff_keywords or "").split(",") if w.strip()]
    lowered = str(text).lower()
    return any(w in lowered for w in words)


def decide(conversation, text, locale):
    """What the bot says to `text` (pure apart from the search and the engine call)."""
    inbox = conversation.inbox
    if wants_person(text, inbox):
        return Reply("handoff", reason="keyword")
    hits = search.search(conversation.workspace_id, text, locale=locale, limit=settings.KB_BOT["SUGGESTIONS"])
    SearchLog.objects.create(workspace_id=conversation.workspace_id, query=str(text)[:200], locale=locale,
                             source=SearchLog.Source.BOT, result_count=len(hits), visitor_key=f"c:{conversation.customer_id}")
    misses = ConversationEvent.objects.filter(conversation=conversation, kind=ConversationEvent.Kind.BOT_SUGGESTED).count()
    if not hits:
        return Reply("handoff", reason="misses") if misses + 1 >= inbox.bot_max_misses else Reply(
            "suggest", text=_("I could not find an answer to that. Could you put it another way, or talk to a person?"))
    versions = {(v.article_id, v.locale): v for v in ArticleVersion.objects.filter(
        article_id__in=[h.article_id for h in hits]).select_related("article__workspace")}
    links = [{"url": article_url(versions[(h.article_id, h.locale)]), "name": h.title} for h in hits if (h.article_id, h.locale) in versions]
    top = versions.get((hits[0].article_id, hits[0].locale))
    sure = top is not None and confidence(text, top.title, top.similar_questions or []) >= settings.KB_BOT["MIN_CONFIDENCE"]
    if sure:
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
    locale = locale_of(message.body)
    with translation.override(locale):
        reply = decide(conversation, message.body, locale)
    reply.locale = locale
    return reply


def deliver(conversation_id, reply):
    """Post the bot's reply, or hand the chat to a person (a person may have taken it meanwhile:
    then the bot says nothing)."""
    with translation.override(reply.locale):
        if reply.kind == "handoff":
            post_bot_message(conversation_id, _("Let me get a colleague for you. One moment, please."))
            hand_off_to_human(conversation_id, reason=reply.reason)
            return
        post_bot_message(
            conversation_id, reply.text, msg_type=Message.Type.ARTICLE if reply.articles else Message.Type.TEXT,
            attachments=reply.articles,
            event=ConversationEvent.Kind.BOT_ANSWERED if reply.kind == "answer" else ConversationEvent.Kind.BOT_SUGGESTED,
            event_data={"articles": [a["url"] for a in reply.articles]},
        )


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
