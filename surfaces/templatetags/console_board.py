"""The 预警 banner pinned on every console page (templates/chat/console/base.html), and how the
board writes a duration."""

from django import template

from surfaces.console.board import banner_context

register = template.Library()


@register.inclusion_tag("chat/console/_service_alerts.html", takes_context=True)
def service_alerts_banner(context):
    actor = context.get("actor")
    return banner_context(actor) if actor is not None and getattr(actor, "is_agent", False) else {"service_alerts": []}


@register.filter
def duration(seconds):
    """12 → 0:12, 125 → 2:05, 3725 → 1:02:05; None → —."""
    if seconds is None:
        return "—"
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
