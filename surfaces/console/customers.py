"""Customers in the console: the list (search, scoped by what the agent may see), a customer's
page, notes, the VIP level and 主动联系. Thin: chat.customers and lifecycle.outreach decide.

Forms post as plain HTML (no script needed) and come back to `next`; the same URLs answer JSON to
fetch() callers. A refusal re-renders the customer's page with the message, nothing stored."""

import uuid

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from chat import customers
from helpdesk.errors import DomainError
from lifecycle import outreach

from . import customer_queries
from . import queries as console
from .views import STATUS_CHOICES, _body, console_view


def _wants_json(request):
    return request.headers.get("Accept", "").startswith("application/json") or request.content_type == "application/json"


def _next(request, default):
    target = request.POST.get("next") or ""
    if target.startswith("/console/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _customer_page(request, actor, customer, *, error=None, status=200, draft=""):
    conversations = list(customers.visible_conversations_of(actor, customer.pk))
    context = {"actor": actor, "customer": customer, "conversations": conversations, "error": error, "draft": draft,
               "attributes": {k: v for k, v in (customer.attributes or {}).items() if k != "tags" and isinstance(v, (str, int, float, bool))},
               "statuses": STATUS_CHOICES, **customer_queries.customer_extras(actor, customer), **console.sidebar(actor)}
    return render(request, "chat/console/customer.html", context, status=status)


@require_GET
@console_view
def customer_list(request, actor):
    q = request.GET.get("q", "")
    rows, cursor = customers.search(actor, q, request.GET.get("before", ""))
    return render(request, "chat/console/customers.html", {"actor": actor, "rows": rows, "cursor": cursor, "q": q[:64],
                                                           "statuses": STATUS_CHOICES, **console.sidebar(actor)})


@require_GET
@console_view
def customer_page(request, actor, customer_id):
    return _customer_page(request, actor, customers.get_customer(actor, customer_id))


def _form_action(request, actor, customer_id, action, *, default_next=None, draft=""):
    """Run an action; JSON callers get JSON, forms a redirect, or the page again with the error."""
    try:
        result = action()
    except DomainError as exc:
        if _wants_json(request) or exc.status == 404:
            raise
        customer = customers.get_customer(actor, customer_id)
        return _customer_page(request, actor, customer, error=exc.message, status=exc.status, draft=draft)
    if _wants_json(request):
        return JsonResponse(result)
    return redirect(_next(request, default_next or f"/console/customers/{customer_id}/"))


@require_POST
@console_view
def add_note(request, actor, customer_id):
    data = _body(request)

    def action():
        note = customers.add_note(actor, customer_id, data.get("text"))
        return {"id": note.pk, "text": note.text}

    return _form_action(request, actor, customer_id, action, draft=data.get("text") or "")


@require_POST
@console_view
def delete_note(request, actor, note_id):
    note = customers.delete_note(actor, note_id)
    if _wants_json(request):
        return JsonResponse({"deleted": note_id})
    return redirect(_next(request, f"/console/customers/{note.customer_id}/"))


@require_POST
@console_view
def set_level(request, actor, customer_id):
    data = _body(request)

    def action():
        customer = customers.set_level(actor, customer_id, data.get("level"))
        return {"vip_level": customer.vip_level}

    return _form_action(request, actor, customer_id, action)


@require_POST
@console_view
def contact(request, actor, customer_id):
    """主动联系: the first message of a new conversation, assigned to this agent."""
    data = _body(request)
    created = {}

    def action():
        conversation, message = outreach.reach_out(actor, customer_id, body=data.get("body"), inbox_id=data.get("inbox") or None,
                                                   client_msg_id=data.get("client_msg_id") or f"outreach-{uuid.uuid4()}")
        created["id"] = conversation.pk
        return {"conversation": conversation.pk, "message": message.pk}

    response = _form_action(request, actor, customer_id, action, draft=data.get("body") or "")
    if "id" in created and not _wants_json(request):
        return redirect(f"/console/c/{created['id']}/")
    return response
