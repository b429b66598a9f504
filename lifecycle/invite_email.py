"""Invitation e-mails (accounts' 邀请 with an address): a follow-up job written in the transaction
that creates the invitation, so no e-mail goes out for an invitation that was rolled back, and an
SMTP failure is retried (30 s × attempts). The job carries the link (only its digest is stored on the
invitation) and forgets it once the mail is sent."""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import Invite

from . import followups
from .models import FollowUp


def enqueue(invite, link, language):
    """Inside the transaction that created `invite`."""
    return followups.enqueue_for_workspace(invite.workspace_id, FollowUp.Kind.INVITE_EMAIL, invite=invite.pk, link=link,
                                           language=language)


def _send(job, _prepared):
    invite = Invite.objects.select_related("workspace").filter(pk=job.data["invite"]).first()
    link = job.data.get("link")
    if invite is not None and invite.email and link and invite.accepted_at is None and invite.revoked_at is None:
        with translation.override(job.data.get("language") or settings.LANGUAGE_CODE):
            subject = _("You are invited to %(workspace)s") % {"workspace": invite.workspace.name}
            body = _("Open this link within 72 hours to join: %(link)s") % {"link": link}
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invite.email])  # a failure raises: retried
    # Sent (or no longer wanted): the link leaves the database.
    FollowUp.objects.filter(pk=job.pk).update(data={"invite": job.data["invite"]})


followups.register(FollowUp.Kind.INVITE_EMAIL, followups.Handler(apply=_send, leased=True))
