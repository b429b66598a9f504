from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from chat import access, states
from chat.models import Inbox
from helpdesk.errors import DomainError

# Status and label texts the JavaScript shows, translated on the server.
CLIENT_TEXTS = {
    "connecting": _("Connecting…"),
    "online": _("Online"),
    "offline": _("Offline, reconnecting…"),
    "http": _("Connected (compatibility mode)"),
    "me": _("Me"),
    "recalled": _("(recalled)"),
}


def demo_page(view):
    """Only with DEMO_PAGES on (`make run`): a demo page picks the installation's first inbox for
    anyone, which a real deployment must not offer. 404 before any login redirect."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.DEMO_PAGES:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@demo_page
def customer_demo(request):
    """A minimal end-user chat page (the real widget is a later issue)."""
    key = request.GET.get("inbox", "")
    inbox = Inbox.objects.filter(public_key=key).first() if key else Inbox.objects.filter(kind=Inbox.Kind.WEB).order_by("pk").first()
    if inbox is None:
        raise Http404
    return render(request, "chat/customer_demo.html", {"inbox": inbox, "texts": CLIENT_TEXTS})


@demo_page
@login_required
def agent_demo(request):
    """A minimal agent page to answer the demo chat (the real console is a later issue)."""
    try:
        actor = access.acting_agent(request, request.GET.get("workspace"))
    except DomainError:
        raise Http404 from None
    conversations = states.conversations_for(actor, limit=50)
    return render(request, "chat/agent_demo.html", {"actor": actor, "conversations": conversations, "inbox_ids": access.agent_inbox_ids(actor), "texts": CLIENT_TEXTS})
