"""黑名单 in the console: block a customer from their panel, lift a block (supervisors), and the
workspace's list of blocked customers. Thin: chat.blocks decides and audits."""

from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from chat import blocks
from chat.models import Customer

from . import queries as console
from .views import _body, console_view


def _panel(request, actor, customer_id):
    customer = Customer.objects.get(pk=customer_id, workspace_id=actor.workspace_id)
    return render(request, "chat/console/_customer_block.html", console.block_context(actor, customer))


@require_POST
@console_view
def block(request, actor, customer_id):
    data = _body(request)
    with_address = data.get("with_address")
    if with_address in ("on", "true", "1"):  # a form's checkbox; JSON sends a boolean
        with_address = True
    elif with_address in (None, "", "false", "0"):
        with_address = False
    blocked = blocks.block_customer(actor, customer_id, reason=data.get("reason"), days=data.get("days"), with_address=with_address)
    return _panel(request, actor, blocked.customer_id)


@require_POST
@console_view
def lift(request, actor, block_id):
    lifted = blocks.lift(actor, block_id)
    if request.GET.get("from") == "list":
        return render(request, "chat/console/_blocklist_rows.html", {"blocks": console.blocklist_rows(actor), "may_lift": blocks.may_lift(actor)})
    return _panel(request, actor, lifted.customer_id)


@require_GET
@console_view
def blocklist(request, actor):
    return render(request, "chat/console/blocklist.html", {"blocks": console.blocklist_rows(actor), "may_lift": blocks.may_lift(actor)})
