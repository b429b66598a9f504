"""The console's channel facts, rendered by the same partials on the first page and on every live
update, without the console's views knowing about channels: `{% channel_header conversation %}`
in the conversation header, `{% message_delivery m %}` in each message bubble."""

from django import template

from chat import uploads

from .. import payloads

register = template.Library()
_CACHE_KEY = "connectors.deliveries"


@register.inclusion_tag("chat/console/_channel_badge.html")
def channel_header(conversation):
    return {"facts": payloads.conversation_facts(conversation)}


@register.inclusion_tag("chat/console/_delivery_state.html", takes_context=True)
def message_delivery(context, message):
    """The delivery state of an agent message. The first bubble of a render looks up the whole page
    (context["messages"]) in one query; the others read that."""
    if message.sender_kind != "agent" or message.is_private:
        return {"delivery": None}
    conversation = context.get("conversation")
    if conversation is not None and not payloads.is_channel(conversation.inbox):
        return {"delivery": None}  # the page of a web chat: no query
    # The bottom of the render context lives as long as this render; each {% include %} of a
    # bubble pushes its own level above it, so a cache kept there would last one bubble only.
    shared = context.render_context.dicts[0]
    found = shared.get(_CACHE_KEY)
    if found is None:
        page = context.get("messages") or [message]
        ids = [m.pk for m in page if getattr(m, "sender_kind", "") == "agent" and not getattr(m, "is_private", False)]
        if message.pk not in ids:
            ids.append(message.pk)
        found = shared[_CACHE_KEY] = payloads.deliveries(ids)
    return {"delivery": found.get(message.pk), "can_retry": context.get("can_reply", True)}


@register.filter
def channel_media_kind(attachment):
    """"voice" / "video" for a channel media attachment or an uploaded recording the console plays inline, else ""."""
    url = str(attachment.get("url") or "") if isinstance(attachment, dict) else ""
    if uploads.url_path(url) and url.endswith((".mp3", ".m4a")):
        return "voice"  # an uploaded recording (AMR/SILK arrive converted to MP3): the extension is the sniffed type
    if not url.startswith("/channels/media/"):
        return ""
    name = str(attachment.get("name") or "").lower()
    if name.startswith("voice") or name.endswith((".amr", ".silk", ".mp3", ".speex")):
        return "voice"
    if name.startswith("video") or name.endswith(".mp4"):
        return "video"
    return ""
