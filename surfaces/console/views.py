"""The agent console: server-rendered pages and the partials its small JS modules swap in.
Thin: parse, call chat.console (queries) or an action, render. The same partial renders the
first page and every live update (rows, panes, tags)."""

import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts import actions as account_actions
from accounts.models import Membership, UserPreferences
from accounts.views import remember_language
from chat import access, states, wrapup
from chat import messages as chat_messages
from chat import tags as customer_tags
from chat.models import Conversation
from helpdesk.errors import DomainError, invalid
from helpdesk.validation import id_param, int_or_none, loads_json
from lifecycle.forms import OfflineNotifyForm
from orders.access import verifier_membership
from routing import actions as routing
from surfaces.onboarding import console_checklist

from . import queries as console

WORKSPACE_SESSION_KEY = "console_workspace_id"


def _error(exc):
    return JsonResponse({"error": exc.as_dict()}, status=exc.status)


def console_view(view):
    """Login required; the actor is the user's membership in the chosen workspace (remembered in
    the session). Chat errors become JSON errors for the JS, or a plain error page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        chosen = request.GET.get("workspace") or request.session.get(WORKSPACE_SESSION_KEY)
        try:
            actor = access.acting_agent(request, chosen)
            if request.session.get(WORKSPACE_SESSION_KEY) != actor.workspace_id:
                request.session[WORKSPACE_SESSION_KEY] = actor.workspace_id  # a session write only on a change
            return view(request, actor, *args, **kwargs)
        except DomainError as exc:
            if request.headers.get("Accept", "").startswith("application/json") or request.method != "GET":
                return _error(exc)
            if exc.status == 403 and verifier_membership(request.user) is not None:
                return redirect("orders:verify")  # a verifier's page is the verification page, not a broken console
            return render(request, "chat/console/error.html", {"error": exc}, status=exc.status)

    return wrapper


def _client_texts():
    return {
        "connecting": _("Connecting…"), "online": _("Connected"), "offline": _("Offline, reconnecting…"),
        "http": _("Connected (compatibility mode)"), "sending": _("Sending…"), "failed": _("Not sent"),
        "recalled": _("(recalled)"), "recall": _("Recall"), "typing": _("%(name)s is typing…"),
        "new_message": _("New message"), "note": _("Private note"), "image": _("[Image]"), "file": _("[File]"),
        "no_phrases": _("No quick phrase matches."), "remove_attachment": _("Remove the attachment"), "taken": _("Someone else has already taken this conversation."),
        "error": _("Something went wrong; please retry."), "system": _("System"),
        "sensitive_alert": _("Sensitive words in conversation #{id}: {words}"), "dismiss": _("Dismiss"),
        "transferred_agent": _("Transferred to {name}."), "transferred_group": _("Transferred to the group {name}."),
        "read": _("Read"), "unread": _("Unread"),
        "no_articles": _("No article matches."), "faq_send": _("Send as a card"), "faq_paste": _("Paste the answer"),
        "faq_internal": _("Internal"),
    }


def _console_context(request, actor, flt, selected=None):
    rows, cursor = console.page(actor, flt)
    context = {
        "actor": actor, "flt": flt, "rows": rows, "cursor": cursor, "views": console.VIEWS,
        "counts": console.view_counts(actor), "states": Conversation.State.choices, "selected": selected,
        "texts": _client_texts(), "statuses": STATUS_CHOICES,
        "config": {
            "workspaceId": actor.workspace_id, "userId": actor.user_id, "userName": actor.name,
            "recallSeconds": settings.CHAT["RECALL_WINDOW_SECONDS"], "sound": _sound_on(request.user),
        },
        **console.sidebar(actor),
    }
    checklist = _onboarding(request, actor)
    context["onboarding"] = checklist if checklist is not None and not checklist.hidden else None
    if selected is not None:
        context.update(_pane_context(actor, selected))
    return context


def _onboarding(request, actor):
    """A founder's 开始使用 checklist of this workspace, put off or not (None for everyone else). Seen
    complete, it is retired for good: a step undone later does not bring it back."""
    checklist = console_checklist(request.user, actor.workspace_id)
    if checklist is not None and checklist.complete:
        account_actions.set_onboarding(request.user, actor.workspace_id, Membership.Onboarding.DONE)
        return None
    return checklist


STATUS_CHOICES = [("online", gettext_lazy("Online")), ("busy", gettext_lazy("Busy")), ("away", gettext_lazy("Away")),
                  ("offline", gettext_lazy("Offline"))]


def _sound_on(user):
    sound = UserPreferences.objects.filter(user=user).values_list("sound", flat=True).first()
    return True if sound is None else sound


def _pane_context(actor, conversation):
    messages, has_more = console.history(actor, conversation)
    can_reply = access.may_reply(actor, conversation)
    agents, groups = console.transfer_targets(conversation) if can_reply else ([], [])
    return {
        "conversation": conversation, "messages": messages, "has_more": has_more, "can_reply": can_reply,
        "transfer_agents": agents, "transfer_groups": groups, "now": timezone.now(),
        "assignee_name": console.member_name(conversation.workspace_id, conversation.assignee),
        "recall_window": timedelta(seconds=settings.CHAT["RECALL_WINDOW_SECONDS"]),
        "customer_read_seq": console.customer_read_seq(actor, conversation),
        "wrapup": wrapup.options(conversation.workspace_id) if can_reply and conversation.is_open else None,
        **console.customer_panel(actor, conversation.customer_id),
    }


def _filter(request):
    return console.ListFilter.from_params(request.GET)


@require_GET
@console_view
def home(request, actor):
    try:
        flt = _filter(request)
    except DomainError:
        flt = console.ListFilter()
    return render(request, "chat/console/console.html", _console_context(request, actor, flt))


@require_GET
@console_view
def conversation_page(request, actor, conversation_id):
    conversation = access.get_conversation(actor, conversation_id)
    try:
        flt = _filter(request)
    except DomainError:
        flt = console.ListFilter()
    return render(request, "chat/console/console.html", _console_context(request, actor, flt, selected=conversation))


@require_GET
@console_view
def conversation_list(request, actor):
    flt = _filter(request)
    rows, cursor = console.page(actor, flt)
    return render(request, "chat/console/_conversation_list.html", {"rows": rows, "cursor": cursor, "flt": flt,
                                                                     "counts": console.view_counts(actor)})


@require_GET
@console_view
def conversation_row(request, actor, conversation_id):
    """One row for a live update; 204 when the conversation has left this list."""
    flt = _filter(request)
    row = console.row(actor, conversation_id, flt)
    response = HttpResponse(status=204) if row is None else render(request, "chat/console/_conversation_row.html", {"c": row, "flt": flt})
    response["X-Counts"] = json.dumps(console.view_counts(actor))  # the tab badges follow every change
    return response


@require_GET
@console_view
def conversation_pane(request, actor, conversation_id):
    conversation = access.get_conversation(actor, conversation_id)
    return render(request, "chat/console/_panes.html", {"actor": actor, **_pane_context(actor, conversation)})


@require_GET
@console_view
def conversation_history(request, actor, conversation_id):
    messages, has_more, conversation = chat_messages.fetch_history_before(actor, conversation_id, before_seq=request.GET.get("before_seq"))
    response = render(request, "chat/console/_messages.html", _messages_context(actor, conversation, messages))
    response["X-Has-More"] = "1" if has_more else "0"
    return response


@require_GET
@console_view
def message_fragment(request, actor, conversation_id):
    """Messages after after_seq rendered by the same partial as the page (live messages)."""
    rows, _more, conversation = chat_messages.fetch_messages(actor, conversation_id, after_seq=request.GET.get("after_seq", 0),
                                                       limit=request.GET.get("limit"))
    return render(request, "chat/console/_messages.html", _messages_context(actor, conversation, rows))


def _messages_context(actor, conversation, messages):
    """What _message.html needs beside the message, as in _pane_context (the first page)."""
    return {"messages": messages, "actor": actor, "now": timezone.now(), "recall_window": timedelta(seconds=settings.CHAT["RECALL_WINDOW_SECONDS"]),
            "customer_read_seq": console.customer_read_seq(actor, conversation)}


def _body(request):
    if request.content_type == "application/json":
        data = loads_json(request.body or b"{}")  # deep nesting too: a 400, not a RecursionError
        if not isinstance(data, dict):
            raise invalid("malformed_body", _("The request body must be a JSON object."))
        return data
    return request.POST


@require_POST
@console_view
def change_state(request, actor, conversation_id):
    data = _body(request)
    conversation = states.change_state(actor, conversation_id, data.get("state"), disposition=data.get("disposition"))
    return JsonResponse({"state": conversation.state})


SNOOZE_PRESETS = {"1h": timedelta(hours=1), "3h": timedelta(hours=3), "1d": timedelta(days=1), "1w": timedelta(weeks=1)}


@require_POST
@console_view
def snooze(request, actor, conversation_id):
    raw = _body(request).get("until") or ""
    if raw in SNOOZE_PRESETS:
        until = timezone.now() + SNOOZE_PRESETS[raw]
    else:
        until = parse_datetime(raw) if isinstance(raw, str) else None
        if until is not None and timezone.is_naive(until):
            until = timezone.make_aware(until)
    conversation = states.snooze(actor, conversation_id, until)
    return JsonResponse({"state": conversation.state, "snoozed_until": conversation.snoozed_until.isoformat()})


def _tags_response(request, actor, customer):
    return render(request, "chat/console/_customer_tags.html", {"customer": customer})


@require_POST
@console_view
def add_tag(request, actor, customer_id):
    customer = customer_tags.add_customer_tag(actor, int_or_none(customer_id), _body(request).get("name"))
    return _tags_response(request, actor, customer)


@require_POST
@console_view
def remove_tag(request, actor, customer_id):
    customer = customer_tags.remove_customer_tag(actor, int_or_none(customer_id), _body(request).get("name"))
    return _tags_response(request, actor, customer)


@console_view
def preferences(request, actor):
    prefs = UserPreferences.objects.filter(user=request.user).first() or UserPreferences(user=request.user)
    if request.method == "POST":
        prefs = account_actions.save_preferences(request.user, language=request.POST.get("language", ""),
                                                 sound=request.POST.get("sound") == "on")
        # Redirect so the page (and everything after) speaks the chosen language.
        return remember_language(redirect(f"{request.path}?saved=1"), prefs.language)
    return _preferences_page(request, actor, prefs)


def _preferences_page(request, actor, prefs, offline_form=None, status=200):
    saved = request.GET.get("saved")
    offline_form = offline_form or OfflineNotifyForm(membership=_membership(request, actor))
    checklist = _onboarding(request, actor)
    return render(request, "chat/console/preferences.html", {"actor": actor, "prefs": prefs, "saved": saved,
                                                             "languages": UserPreferences.Language.choices, "offline_form": offline_form,
                                                             "onboarding_put_off": checklist if checklist is not None and checklist.hidden else None,
                                                             "statuses": STATUS_CHOICES, **console.sidebar(actor)}, status=status)


def _membership(request, actor):
    return Membership.objects.select_related("user").get(workspace_id=actor.workspace_id, user=request.user)


@require_POST
@console_view
def offline_notify(request, actor):
    """The settings page's 离线通知 section: saved, or the page again with the errors next to their inputs (400)."""
    form = OfflineNotifyForm(request.POST, membership=_membership(request, actor))
    if form.is_valid() and form.save():
        return redirect(f"{reverse('console:preferences')}?saved=offline#offline-notify")
    prefs = UserPreferences.objects.filter(user=request.user).first() or UserPreferences(user=request.user)
    return _preferences_page(request, actor, prefs, form, status=400)


@require_POST
@console_view
def onboarding(request, actor):
    """开始使用: 稍后再说 on the console card puts it off (show=0); the settings page brings it back (show=1)."""
    show = request.POST.get("show") == "1"
    account_actions.set_onboarding(request.user, actor.workspace_id,
                                   Membership.Onboarding.SHOWN if show else Membership.Onboarding.HIDDEN)
    return redirect(reverse("console:home") + ("#onboarding" if show else ""))


@require_POST
@console_view
def set_status(request, actor):
    data = _body(request)
    capacity = data.get("capacity")
    if capacity in (None, ""):
        capacity = None
    elif isinstance(capacity, str) and id_param(capacity) is not None:
        capacity = id_param(capacity)  # form posts send text ("²" passes isdigit() but not int()); the action refuses the rest
    presence = routing.set_status(actor, data.get("status"), capacity)
    return JsonResponse({"status": presence.status, "capacity": presence.capacity})
