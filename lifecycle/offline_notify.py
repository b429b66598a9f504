"""Nobody misses 留言 (issue 18 item 5): a member who is off duty hears of left messages and
unanswered chats by Web Push to their devices and by an e-mail digest, each on or off and at
most once per chosen interval (lifecycle.models.OfflineNotifySettings; no row: push on every
15 minutes, e-mail off).

What counts: conversations the member may see (chat.access.visible_conversations: served
inboxes, supervised groups, or all for view-all roles) that are waiting (queued, assigned or
pending, not snoozed), that no person has answered (first_response_at empty), that are
unassigned or assigned to this member, and that arrived since the last notice on that channel.

The worker loop calls run_due() every OFFLINE_NOTIFY_SECONDS (60 s). For each channel it reads
the off-duty members whose notice is due (one query), skips workspaces with nothing new (one
query each), and for each remaining member asks what waits (one query). A member with
something to hear of is claimed by a conditional UPDATE of their OfflineNotice row (covered
until now, next allowed after the interval; a first notice inserts the row, which is unique per
member and channel), and the follow-up job that sends is written in the same transaction
(lifecycle.followups, leased): two schedulers never both claim, and what one claimed is sent
once after its commit, also if that process dies first."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, Role
from chat import access
from chat.models import Conversation, Message, PushSubscription, SenderKind
from helpdesk.errors import DomainError
from routing.models import AgentPresence
from routing.selection import AgentStatus

from . import followups, push
from .models import FollowUp, OfflineNotice, OfflineNotifySettings

Channel = OfflineNotice.Channel
WAITING = (Conversation.State.QUEUED, Conversation.State.ASSIGNED, Conversation.State.PENDING)
LISTED = 20  # conversations named in one notice; more are counted
FIRST_LINE_CHARS = 80
# A chat is counted once it is this old: one stored by a transaction still open at the check
# (created_at set, not yet visible) must not fall before a notice's cut-off unseen.
SETTLE_SECONDS = 5
JOB_KINDS = {Channel.PUSH: FollowUp.Kind.OFFLINE_PUSH, Channel.EMAIL: FollowUp.Kind.OFFLINE_EMAIL}


def check_seconds():
    return settings.SCHEDULER.get("OFFLINE_NOTIFY_SECONDS", 60)


def settings_of(membership):
    """The member's settings, or the unsaved defaults."""
    return OfflineNotifySettings.objects.filter(membership=membership).first() or OfflineNotifySettings(membership=membership)


def interval_of(prefs, channel):
    return timedelta(minutes=prefs.push_interval if channel == Channel.PUSH else prefs.email_interval)


# --- who waits --------------------------------------------------------------------------------


UNANSWERED = Q(state__in=WAITING, snoozed_until__isnull=True, first_response_at__isnull=True)


def waiting_for(actor, since, until):
    """What this member would be told of: see the module's docstring. One query."""
    arrived = Q(created_at__gt=since, created_at__lte=until, last_message_at__gt=since)  # last_message_at: the recent-activity index
    mine = Q(assignee__isnull=True) | Q(assignee_id=actor.user_id)
    return access.visible_conversations(actor).filter(UNANSWERED, arrived, mine)


def _off_duty():
    on_duty = AgentPresence.objects.filter(workspace_id=OuterRef("workspace_id"), user_id=OuterRef("user_id")).exclude(status=AgentStatus.OFFLINE)
    return ~Exists(on_duty)


def is_off_duty(membership):
    return not AgentPresence.objects.filter(workspace_id=membership.workspace_id, user_id=membership.user_id).exclude(
        status=AgentStatus.OFFLINE).exists()


def _due_members(channel, now):
    """Off-duty members who want this channel and may be told now: one query."""
    not_yet = OfflineNotice.objects.filter(membership=OuterRef("pk"), channel=channel, next_allowed_at__gt=now)
    members = Membership.objects.filter(_off_duty(), ~Exists(not_yet)).exclude(role=Role.VERIFIER)
    if channel == Channel.PUSH:
        if not settings.WEB_PUSH["ENABLED"]:
            return []
        devices = PushSubscription.objects.filter(workspace_id=OuterRef("workspace_id"), user_id=OuterRef("user_id"))
        members = members.filter(Exists(devices)).exclude(offline_notify__push_enabled=False)  # no row: on
    else:
        members = members.filter(offline_notify__email_enabled=True).exclude(user__email="")
    return list(members.select_related("user", "offline_notify").order_by("workspace_id", "pk"))


# --- the scheduler's part ------------------------------------------------------------------------


def run_due(now=None):
    """Claim and queue the notices that are due (the worker loop). Returns how many were queued."""
    now = now or timezone.now()
    until = now - timedelta(seconds=SETTLE_SECONDS)
    queued = 0
    for channel in Channel:
        members = _due_members(channel, now)
        notices = {n.membership_id: n for n in OfflineNotice.objects.filter(membership__in=[m.pk for m in members], channel=channel)}
        by_workspace = {}
        for member in members:
            by_workspace.setdefault(member.workspace_id, []).append(member)
        for workspace_id, group in by_workspace.items():
            starts = {m.pk: _since(m, channel, notices.get(m.pk), until) for m in group}
            if not Conversation.objects.filter(UNANSWERED, workspace_id=workspace_id, created_at__gt=min(starts.values()), created_at__lte=until).exists():
                continue  # nothing new in this workspace: no query per member
            for member in group:
                queued += _notify(member, channel, notices.get(member.pk), starts[member.pk], until, now)
    return queued


def _since(member, channel, notice, until):
    # A first notice looks back one interval: what arrived just before the member went off duty.
    return notice.covered_until if notice else until - interval_of(_prefs(member), channel)


def _prefs(member):
    try:
        return member.offline_notify
    except OfflineNotifySettings.DoesNotExist:
        return OfflineNotifySettings(membership=member)


def _notify(member, channel, notice, since, until, now):
    try:
        actor = access.agent_actor(member)
    except DomainError:
        return 0  # a role that serves no chats
    found = waiting_for(actor, since, until)
    ids = list(found.order_by("created_at", "pk").values_list("pk", flat=True)[:LISTED + 1])
    if not ids:
        return 0
    total = len(ids) if len(ids) <= LISTED else found.count()
    return int(claim(member, channel, notice, until, now + interval_of(_prefs(member), channel), ids[:LISTED], total, since))


def claim(member, channel, notice, until, next_allowed_at, conversation_ids, total, since):
    """Move the member's notice row (conditional UPDATE on what this scheduler read, or insert the
    first one) and queue the sending job, in one transaction. Returns whether this call won."""
    with transaction.atomic():
        if notice is None:
            try:
                with transaction.atomic():
                    OfflineNotice.objects.create(membership=member, channel=channel, covered_until=until, next_allowed_at=next_allowed_at)
            except IntegrityError:
                return False  # another scheduler made the first notice meanwhile: it sends
        else:
            won = OfflineNotice.objects.filter(pk=notice.pk, covered_until=notice.covered_until, next_allowed_at=notice.next_allowed_at).update(
                covered_until=until, next_allowed_at=next_allowed_at)
            if not won:
                return False
        followups.enqueue_for_workspace(member.workspace_id, JOB_KINDS[channel], membership=member.pk, conversations=conversation_ids,
                                        total=total, since=since.isoformat())
    return True


# --- sending (leased follow-up jobs) --------------------------------------------------------------


def language_of(user):
    """The member's own language, else the site's default (workspaces have none of their own yet)."""
    prefs = getattr(user, "preferences", None)  # no row: Django's RelatedObjectDoesNotExist is an AttributeError
    return (prefs.language if prefs else "") or settings.LANGUAGE_CODE or "zh-hans"


def digest_rows(conversation_ids):
    """The listed conversations, oldest first, with the first line the customer wrote: one query.
    Call it in the reader's language: a customer without a name is called 访客 N / Visitor N."""
    first = (Message.objects.filter(conversation_id=OuterRef("pk"), sender_kind=SenderKind.CUSTOMER, is_private=False, recalled_at__isnull=True)
             .order_by("seq").values("body")[:1])
    rows = Conversation.objects.filter(pk__in=conversation_ids).select_related("customer").annotate(first_body=Subquery(first))
    return [{"id": c.pk, "customer": c.customer, "name": c.customer.display_name, "left": c.is_leave_message, "at": c.created_at,
             "first_line": _first_line(c.first_body), "url": settings.SITE_URL + reverse("console:conversation", args=[c.pk])}
            for c in rows.order_by("created_at", "pk")]


def _first_line(body):
    line = (body or "").strip().split("\n", 1)[0].strip()
    return line if len(line) <= FIRST_LINE_CHARS else line[:FIRST_LINE_CHARS - 1] + "…"


def _member_for(job):
    member = Membership.objects.select_related("user__preferences", "workspace").filter(pk=job.data["membership"]).first()
    if member is None or not is_off_duty(member):
        return None  # gone, or back on duty: the console shows them what waits
    return member


def _send_push(job, _prepared):
    member = _member_for(job)
    if member is None:
        return
    rows = digest_rows(job.data["conversations"])
    if not rows:
        return
    total = max(job.data.get("total", len(rows)), len(rows))

    def build():
        title = _("%(n)s customers are waiting for an answer") % {"n": total} if total > 1 else _("A customer is waiting for an answer")
        body = "\n".join(_("%(name)s: %(line)s") % {"name": row["customer"].display_name, "line": row["first_line"]} for row in rows[:5])
        url = reverse("console:conversation", args=[rows[0]["id"]]) if total == 1 else reverse("console:home")
        return {"type": "offline", "title": title, "body": body, "conversation_id": rows[0]["id"] if total == 1 else None,
                "url": url, "tag": "offline-digest"}

    push.send_to_member(member.workspace_id, member.user_id, build, topic="offline-digest")


def _send_email(job, _prepared):
    member = _member_for(job)
    if member is None or not member.user.email:
        return
    with translation.override(language_of(member.user)), timezone.override(member.workspace.timezone):
        rows = digest_rows(job.data["conversations"])
        if not rows:
            return
        total = max(job.data.get("total", len(rows)), len(rows))
        context = {"member": member.shown_name, "workspace": member.workspace.name, "rows": rows, "total": total,
                   "more": total - len(rows), "since": timezone.localtime(datetime.fromisoformat(job.data["since"])),
                   "console_url": settings.SITE_URL + reverse("console:home"),
                   "settings_url": settings.SITE_URL + reverse("console:preferences")}
        subject = _("[%(workspace)s] Waiting for an answer: %(n)s") % {"workspace": member.workspace.name, "n": total}
        message = EmailMultiAlternatives(subject, render_to_string("lifecycle/offline_digest.txt", context),
                                         settings.DEFAULT_FROM_EMAIL, [member.user.email])
        message.attach_alternative(render_to_string("lifecycle/offline_digest.html", context), "text/html")
    message.send()  # an SMTP failure raises: the job is retried (30 s × attempts)


followups.register(FollowUp.Kind.OFFLINE_PUSH, followups.Handler(apply=_send_push, leased=True))
followups.register(FollowUp.Kind.OFFLINE_EMAIL, followups.Handler(apply=_send_email, leased=True))
