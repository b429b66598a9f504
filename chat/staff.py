"""Who serves which inbox: granting and revoking "serve and reply in inbox X", and creating
agents in bulk from CSV (with the inboxes they serve). Same rules as every member change in
accounts.actions: authorised, audited, and the member's open sockets re-check their access."""

import csv
import io
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import assign_perm

from accounts import roles
from accounts.actions import INVITE_TTL_HOURS, audit, create_user, in_workspace, invite_digest, require, set_object_permission
from accounts.models import Invite, Membership, Role
from helpdesk.errors import DomainError

from .models import Inbox

REPLY_IN_INBOX = "chat.reply_in_inbox"
CSV_COLUMNS = ("username", "email", "display_name", "role", "inboxes")
CSV_MAX_ROWS = 500


def set_inbox_access(actor, inbox_id, membership_id, granted):
    """Grant or revoke "serve and reply in inbox X". Revocation stops live delivery at once."""
    inbox = in_workspace(actor, Inbox, inbox_id, "inbox.access")
    return set_object_permission(
        actor, action="inbox.access", capability=roles.CONFIGURE, perm=REPLY_IN_INBOX, obj=inbox, membership_id=membership_id, granted=granted
    )


def bulk_create_agents(actor, csv_text):
    """Create members from CSV (header: username,email[,display_name,role,inboxes]; inboxes
    are names separated by ';'). All or nothing: any bad line refuses the whole file.
    Returns [(membership, invite secret)]: each new member sets a password through the link."""
    action = "member.bulk_create"
    require(actor, roles.MANAGE_MEMBERS, action)
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    if not rows:
        raise DomainError("empty_csv", _("The file has no rows."), status=400)
    if len(rows) > CSV_MAX_ROWS:
        raise DomainError("too_many_rows", _("At most %(n)s rows per file.") % {"n": CSV_MAX_ROWS}, status=400)
    unknown = set(rows[0]) - set(CSV_COLUMNS)
    if unknown or not {"username", "email"} <= set(rows[0]):
        raise DomainError("bad_header", _("The header must be: %(cols)s") % {"cols": ",".join(CSV_COLUMNS)}, status=400)
    inboxes = {i.name: i for i in Inbox.objects.filter(workspace_id=actor.workspace_id)}
    User = get_user_model()
    errors, planned, seen = [], [], set()
    for line, row in enumerate(rows, start=2):
        username = (row.get("username") or "").strip()
        email = (row.get("email") or "").strip().lower()
        role = (row.get("role") or Role.AGENT).strip() or Role.AGENT
        names = [n.strip() for n in (row.get("inboxes") or "").split(";") if n.strip()]
        problems = []
        if not username or len(username) > 150 or username in seen:
            problems.append(_("missing or repeated username"))
        elif User.objects.filter(username=username).exists():
            problems.append(_("username already taken"))
        try:
            validate_email(email)
        except ValidationError:
            problems.append(_("invalid e-mail"))
        if role not in Role.values or not roles.can_manage_role(actor, role):
            problems.append(_("role not allowed: %(role)s") % {"role": role})
        missing = [n for n in names if n not in inboxes]
        if missing:
            problems.append(_("unknown inbox: %(names)s") % {"names": ", ".join(missing)})
        seen.add(username)
        if problems:
            errors.append(_("line %(line)s: %(problems)s") % {"line": line, "problems": "; ".join(str(p) for p in problems)})
        planned.append((username, email, (row.get("display_name") or "").strip(), role, [inboxes[n] for n in names if n in inboxes]))
    if errors:
        audit(actor, action, after={"refused": [str(e) for e in errors][:20]}, denied=True)
        raise DomainError("invalid_csv", " ".join(str(e) for e in errors), status=400)
    created = []
    with transaction.atomic():
        for username, email, display_name, role, member_inboxes in planned:
            user = create_user(username, email=email)
            membership = Membership.objects.create(workspace_id=actor.workspace_id, user=user, role=role, display_name=display_name[:80])
            for inbox in member_inboxes:
                assign_perm(REPLY_IN_INBOX, user, inbox)
            secret = secrets.token_urlsafe(24)
            Invite.objects.create(workspace_id=actor.workspace_id, email=email, role=role, display_name=display_name[:80],
                                  token_hash=invite_digest(secret), invited_by_id=actor.user_id, for_user=user,
                                  expires_at=timezone.now() + timedelta(hours=INVITE_TTL_HOURS))
            created.append((membership, secret))
        audit(actor, action, after={"usernames": [m.user.get_username() for m, _ in created]})
    return created
