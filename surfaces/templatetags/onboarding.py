"""The founder's onboarding checklist on the admin index (templates/admin/index.html); the console shows
its card from its views (surfaces/console/views.py)."""

from django import template

from surfaces.onboarding import checklists_for

register = template.Library()


@register.inclusion_tag("admin/_onboarding.html", takes_context=True)
def onboarding_checklist(context):
    request = context.get("request")
    checklists = checklists_for(request.user) if request is not None else []
    return {"checklists": checklists, "several": len(checklists) > 1}
