"""The founder's onboarding checklist (issue 20 item 5): five first steps, each ticked from what
the database already holds, so no tick is stored and none can go stale. One query for all the
workspaces a person founded (a subquery per step).

- connect a channel: a WeChat / WeCom account, or the web widget embedded somewhere (only the
  embedded widget reports the pages it sits on, so a visit proves it is on the merchant's site;
  the founder's own test chat on the full-page chat does not count);
- add agents: a member with the agent role;
- set business hours: an inbox with hours;
- add five FAQs: five published articles customers can see;
- send a test chat: any conversation.

The admin index lists every unfinished checklist a person founded (`checklists_for`); the console
shows the one of the workspace it is in as a card (`console_checklist`), which its founder may put
off (Membership.onboarding) and which is retired for good once it has been seen complete.
"""

from dataclasses import dataclass

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Role, Workspace
from chat.models import Conversation, CustomerVisit, Inbox
from connectors.models import ChannelAccount
from knowledge.models import Article

FAQS_WANTED = 5
SHOWN_OR_PUT_OFF = [Membership.Onboarding.SHOWN, Membership.Onboarding.HIDDEN]  # not yet retired (DONE)


@dataclass
class Step:
    key: str
    label: str
    hint: str
    url: str
    done: bool


@dataclass
class Checklist:
    workspace: Workspace
    steps: list
    hidden: bool = False  # the founder put the console card off (settings bring it back)

    @property
    def done_count(self):
        return sum(step.done for step in self.steps)

    @property
    def complete(self):
        return self.done_count == len(self.steps)

    @property
    def percent(self):
        return round(100 * self.done_count / len(self.steps))


def _with_progress(workspaces):
    in_workspace = {"workspace": OuterRef("pk")}
    published_faqs = (Article.objects.filter(**in_workspace, status=Article.Status.PUBLISHED, internal_only=False)
                      .order_by().values("workspace").annotate(n=Count("pk")).values("n"))
    first_web_inbox = Inbox.objects.filter(**in_workspace, kind=Inbox.Kind.WEB).order_by("pk").values("public_key")[:1]
    return workspaces.annotate(
        has_channel_account=Exists(ChannelAccount.objects.filter(inbox__workspace=OuterRef("pk"))),
        has_embedded_widget=Exists(CustomerVisit.objects.filter(inbox__workspace=OuterRef("pk"))),
        has_agent=Exists(Membership.objects.filter(**in_workspace, role=Role.AGENT)),
        has_hours=Exists(Inbox.objects.filter(**in_workspace).exclude(business_hours={})),
        faq_count=Coalesce(Subquery(published_faqs, output_field=IntegerField()), Value(0)),
        has_conversation=Exists(Conversation.objects.filter(**in_workspace)),
        web_inbox_key=Subquery(first_web_inbox),
    )


def _steps(workspace):
    test_chat = (f"{reverse('chat:widget-page')}?inbox={workspace.web_inbox_key}" if workspace.web_inbox_key
                 else reverse("admin:chat_inbox_add"))
    return [
        Step("channel", _("Connect a channel"), _("Embed the chat widget on your site, or connect a WeChat account."),
             reverse("admin:chat_inbox_changelist"), workspace.has_channel_account or workspace.has_embedded_widget),
        Step("agents", _("Add agents"), _("Invite the people who will answer customers."),
             reverse("admin:accounts_invite_add"), workspace.has_agent),
        Step("hours", _("Set business hours"), _("Outside them customers leave a message."),
             reverse("admin:chat_inbox_changelist"), workspace.has_hours),
        Step("faqs", _("Add five FAQs"),
             _("Published articles answered by the help center and the bot: %(n)s of %(wanted)s.")
             % {"n": min(workspace.faq_count, FAQS_WANTED), "wanted": FAQS_WANTED},
             reverse("admin:knowledge_article_add"), workspace.faq_count >= FAQS_WANTED),
        Step("test_chat", _("Send a test chat"), _("Chat as a customer and answer in the console."),
             test_chat, workspace.has_conversation),
    ]


def checklists_for(user):
    """The unfinished checklists of the workspaces `user` founded and has not retired on the console
    (one query); [] for anyone else. Putting the console card off does not take it off the admin index."""
    if not getattr(user, "is_authenticated", False):
        return []
    founded = Workspace.objects.filter(memberships__user=user, memberships__role=Role.FOUNDER,
                                       memberships__onboarding__in=SHOWN_OR_PUT_OFF).order_by("pk")
    checklists = [Checklist(workspace, _steps(workspace)) for workspace in _with_progress(founded)]
    return [checklist for checklist in checklists if not checklist.complete]


def console_checklist(user, workspace_id):
    """The checklist of the workspace the console is in when `user` founded it and has not retired
    it, with whether they put it off (one query; None for anyone else). Possibly complete: the
    console then retires it (accounts.actions.set_onboarding)."""
    if not getattr(user, "is_authenticated", False):
        return None
    # One filter() call: the conditions must hold for the same membership (one join, reused by F()).
    founded = Workspace.objects.filter(pk=workspace_id, memberships__user=user, memberships__role=Role.FOUNDER,
                                       memberships__onboarding__in=SHOWN_OR_PUT_OFF)
    workspace = _with_progress(founded.annotate(onboarding=F("memberships__onboarding"))).first()
    if workspace is None:
        return None
    return Checklist(workspace, _steps(workspace), hidden=workspace.onboarding == Membership.Onboarding.HIDDEN)
