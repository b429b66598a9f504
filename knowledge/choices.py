"""猜你想问: when the bot is not sure it offers the best articles' titles as choices, and a
customer who taps one gets that article as the answer, without another search.

The tap sends the title as an ordinary customer message (the chat client's outbox, so it is
never lost and works over WebSocket and HTTP alike; the agent later reads what was asked).
The offer is remembered server-side, in the bot_suggested event's data ({"choices": [{article,
locale, title}]}): a customer message whose text is exactly one of the titles offered in this
conversation's last few suggestions is answered with that article. Nothing the client sends is
trusted as an id: the article comes from our own event row, and is answered only if it is still
published in the conversation's workspace (a customer typing the title gets the same answer,
which is what they asked for).

Message attachments carry the choices to the widget: {"url", "name", "choice": "ask",
"article": id} for a suggestion (links still work where choices are not shown: the console,
WeChat), and {"name", "choice": "resolved" | "unresolved" | "handoff"} for the bot's own
buttons (no url: a label elsewhere)."""

from chat.models import ConversationEvent

from .models import Article, ArticleVersion

RECENT_SUGGESTIONS = 3  # a tap on an older offer, further up the chat, still counts
ASK, RESOLVED, UNRESOLVED, HANDOFF = "ask", "resolved", "unresolved", "handoff"


def suggestion_attachments(links):
    """Choices for the articles we know; any other link stays a plain link."""
    return [{"url": link["url"], "name": link["name"], **({"choice": ASK, "article": link["article"]} if link["article"] else {})}
            for link in links]


def offered(links):
    """What a bot_suggested event remembers of the choices it offered."""
    return [{"article": link["article"], "locale": link["locale"], "title": link["name"]} for link in links if link["article"]]


def chosen_version(conversation, text):
    """The article version the customer picked from a recent suggestion by sending its title, if
    it is still published in the conversation's workspace; else None (the bot searches as usual)."""
    text = " ".join(str(text or "").split())
    if not text:
        return None
    recent = (ConversationEvent.objects.filter(conversation_id=conversation.pk, kind=ConversationEvent.Kind.BOT_SUGGESTED)
              .order_by("-pk").values_list("data", flat=True)[:RECENT_SUGGESTIONS])
    for data in recent:
        for choice in (data or {}).get("choices") or []:
            if isinstance(choice, dict) and choice.get("title") == text:
                return (ArticleVersion.objects.select_related("article__workspace")
                        .filter(article_id=choice.get("article"), locale=choice.get("locale"), article__workspace_id=conversation.workspace_id,
                                article__status=Article.Status.PUBLISHED, article__internal_only=False).first())
    return None
