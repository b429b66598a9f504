"""The console's quick phrases: the picker's list and use count, and the pages where an agent
manages their own phrases (replies owns the rules: replies.access, .actions, .forms)."""


from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import membership_in
from accounts.actions import audit
from accounts.models import Workspace
from helpdesk.validation import int_or_none
from replies import actions as reply_actions
from replies.access import own_phrases, phrases_in_reach, search_key, usable_phrases, validity
from replies.forms import PersonalPhraseForm

from . import queries as console
from .views import STATUS_CHOICES, console_view


def _member(request, actor):
    """The Membership the console's actor stands for (replies' actions take memberships, as the admin passes)."""
    return membership_in(request.user, actor.workspace_id)


@require_GET
@console_view
def phrases(request, actor):
    """Every quick phrase the agent may use now (the picker filters on the device)."""
    fields = ("shortcut", "title", "body", "category", "scope", "attachment")
    rows = usable_phrases(actor).order_by("-usage_count", "shortcut").values("pk", *fields)[:500]
    return JsonResponse({"phrases": [{"id": r["pk"], **{k: r[k] for k in fields}, "attachment": r["attachment"] or None,
                                      "search": search_key(r["shortcut"], r["title"], r["body"])} for r in rows]})


@require_POST
@console_view
def use_phrase(request, actor, phrase_id):
    reply_actions.use_phrase(_member(request, actor), int_or_none(phrase_id))
    return JsonResponse({"ok": True})


# --- quick phrases: the agent manages their own (personal) ones ------------------------


def _workspace_zone(actor):
    return Workspace.zone_of(actor.workspace_id)


@require_GET
@console_view
def manage_phrases(request, actor):
    """Every phrase the agent may use, by category, with its scope, validity and use count; their own can be edited."""
    now = timezone.now()
    zone = _workspace_zone(actor)
    rows = list(phrases_in_reach(actor).select_related("group").order_by("category", "shortcut", "pk"))
    for row in rows:
        row.state = validity(row, now)
        row.mine = row.scope == "personal"
    with timezone.override(zone):
        return render(request, "replies/manage.html", {"actor": actor, "phrases": rows, "saved": request.GET.get("saved"),
                                                       "statuses": STATUS_CHOICES, "zone": zone, **console.sidebar(actor)})


def _own_phrase(actor, phrase_id, action="phrase.change"):
    phrase = own_phrases(actor).filter(pk=int_or_none(phrase_id)).first()
    if phrase is None:  # another agent's, a shared one, another workspace's: not found (and audited)
        audit(actor, action, after={"refused": f"phrase {phrase_id!r} not the actor's"}, denied=True)
        raise reply_actions.phrase_not_found()
    return phrase


@console_view
def edit_phrase(request, actor, phrase_id=None):
    """Create or edit one of the agent's own phrases (server-rendered form; phrases.js uploads the attachment)."""
    phrase = _own_phrase(actor, phrase_id) if phrase_id is not None else None
    zone = _workspace_zone(actor)
    with timezone.override(zone):
        form = PersonalPhraseForm(request.POST or None, workspace_id=actor.workspace_id, owner_id=actor.user_id, phrase=phrase)
        if request.method == "POST" and form.is_valid():
            try:
                reply_actions.save_phrase(_member(request, actor), phrase.pk if phrase else None, scope="personal", **form.action_kwargs())
            except reply_actions.PhraseInvalid as exc:  # e.g. the same shortcut saved meanwhile in another tab
                for field, message in exc.errors.items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                return redirect(f"{reverse('console:phrases-manage')}?saved=1")
        status = 400 if request.method == "POST" else 200
        return render(request, "replies/edit.html", {"actor": actor, "form": form, "phrase": phrase, "zone": zone,
                                                     "statuses": STATUS_CHOICES, **console.sidebar(actor)}, status=status)


@require_POST
@console_view
def delete_phrase(request, actor, phrase_id):
    phrase = _own_phrase(actor, phrase_id, "phrase.delete")
    reply_actions.delete_phrase(_member(request, actor), phrase.pk)
    return redirect(f"{reverse('console:phrases-manage')}?saved=1")
