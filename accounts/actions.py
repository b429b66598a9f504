"""Member, role and permission changes. Each one: authorise (refusals are audited),
change inside a short transaction with an audit row, then tell the affected
member's open sockets to re-check their access (after commit).

Targets are always looked up inside the acting member's workspace, so another
workspace's ids are "not found" (and the attempt is audited)."""

import csv
import hashlib
import io
import re
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import assign_perm, remove_perm
from guardian.utils import get_user_obj_perms_model

from chat import realtime
from chat.errors import ChatError
from chat.models import Inbox
from routing.models import AgentGroup

from . import roles
from .models import AuditLog, CustomRole, Invite, Membership, Role, Workspace

REPLY_IN_INBOX = "chat.reply_in_inbox"
SUPERVISE_GROUP = "routing.supervise_group"
VIEW_ALL_HISTORY_PERM = "accounts.view_all_history"


def member_not_found():
    return ChatError("not_found", _("Not found."), status=404)


def acting_member(user, workspace_id):
    """The acting user's membership in a workspace, or 404. The installation's superusers
    act as founders everywhere (an unsaved membership: nothing is written for them)."""
    membership = Membership.objects.select_related("custom_role", "user").filter(user=user, workspace_id=workspace_id).first()
    if membership is None and getattr(user, "is_superuser", False):
        membership = Membership(workspace_id=workspace_id, user=user, role=Role.FOUNDER)
    if membership is None:
        raise member_not_found()
    return membership


def membership_id_of(actor, user_id):
    """The membership id of a user in the actor's workspace (None when not a member)."""
    return Membership.objects.filter(workspace_id=actor.workspace_id, user_id=int_or_none(user_id)).values_list("pk", flat=True).first()


def audit(actor, action, *, target=None, before=None, after=None, denied=False, workspace_id=None):
    return AuditLog.objects.create(
        workspace_id=workspace_id or actor.workspace_id,
        actor_id=actor.user_id,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        before=before or {},
        after=after or {},
        denied=denied,
    )


def audit_changes(actor, action, target, before, after):
    """Audit only the fields that changed: before/after are {field: value} of the whole object."""
    return audit(actor, action, target=target, before={k: v for k, v in before.items() if after.get(k) != v},
                 after={k: v for k, v in after.items() if before.get(k) != v})


def _refuse(actor, action, detail, *, status=403, code="forbidden", message=None, target=None):
    """Record a refused attempt (outside any transaction that will roll back) and return the error to raise."""
    audit(actor, action, target=target, after={"refused": detail}, denied=True)
    if status == 404:
        return member_not_found()
    return ChatError(code, message or _("You are not allowed to do this."), status=status)


def _require(actor, capability, action):
    if not roles.can(actor, capability):
        raise _refuse(actor, action, f"missing capability {capability}")


def _target_membership(actor, membership_id, action):
    target = Membership.objects.select_related("user").filter(pk=int_or_none(membership_id), workspace_id=actor.workspace_id).first()
    if target is None:
        raise _refuse(actor, action, f"membership {membership_id!r} not in workspace", status=404)
    return target


def _in_workspace(actor, model, object_id, action):
    obj = model.objects.filter(pk=int_or_none(object_id), workspace_id=actor.workspace_id).first()
    if obj is None:
        raise _refuse(actor, action, f"{model._meta.label_lower} {object_id!r} not in workspace", status=404)
    return obj


def int_or_none(value):
    """An id from a request as an int, or None (which matches nothing) for anything else."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def notify_access_changed(user_id):
    """The member's open sockets re-read their access (inboxes, history scope) at once."""
    realtime.publish_control(realtime.group_for_agent(user_id), {"action": "resync"})


# --- members -------------------------------------------------------------------


def add_member(actor, *, user, role, display_name=""):
    action = "member.add"
    if role not in Role.values:
        raise ChatError("invalid_role", _("Unknown role."), status=400)
    _require(actor, roles.MANAGE_MEMBERS, action)
    if not roles.can_manage_role(actor, role):
        raise _refuse(actor, action, f"cannot add role {role}")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            workspace_id=actor.workspace_id, user=user, defaults={"role": role, "display_name": display_name[:80]}
        )
        if not created:
            raise ChatError("already_member", _("This person is already a member."), status=409)
        audit(actor, action, target=membership, after={"user": user.get_username(), "role": role})
    return membership


def change_role(actor, membership_id, new_role):
    action = "member.change_role"
    if new_role not in Role.values:
        raise ChatError("invalid_role", _("Unknown role."), status=400)
    _require(actor, roles.MANAGE_MEMBERS, action)
    target = _target_membership(actor, membership_id, action)
    if not (roles.can_manage_role(actor, target.role) and roles.can_manage_role(actor, new_role)):
        raise _refuse(actor, action, f"cannot move {target.role} to {new_role}", target=target)
    with _audit_refusal(actor, action, target), transaction.atomic():
        target = Membership.objects.select_for_update().get(pk=target.pk)
        before = target.role
        if before == Role.FOUNDER and new_role != Role.FOUNDER:
            _keep_a_founder(target)
        target.role = new_role
        target.save(update_fields=["role"])
        audit(actor, action, target=target, before={"role": before}, after={"role": new_role})
        notify_access_changed(target.user_id)
    return target


def remove_member(actor, membership_id):
    action = "member.remove"
    _require(actor, roles.MANAGE_MEMBERS, action)
    target = _target_membership(actor, membership_id, action)
    if not roles.can_manage_role(actor, target.role):
        raise _refuse(actor, action, f"cannot remove {target.role}", target=target)
    with _audit_refusal(actor, action, target), transaction.atomic():
        target = Membership.objects.select_for_update().get(pk=target.pk)
        if target.role == Role.FOUNDER:
            _keep_a_founder(target)
        snapshot = {"user": target.user.get_username(), "role": target.role}
        _drop_object_permissions(target)
        audit(actor, action, target=target, before=snapshot)
        target.delete()
        notify_access_changed(target.user_id)


def _keep_a_founder(target):
    """Called inside the transaction: lock every founder row, so two concurrent demotions cannot both pass."""
    founders = list(
        Membership.objects.select_for_update().filter(workspace_id=target.workspace_id, role=Role.FOUNDER).values_list("pk", flat=True)
    )
    if founders == [target.pk]:
        raise ChatError("last_founder", _("A workspace must keep at least one founder."), status=409)


class _audit_refusal:
    """Around a transaction: a ChatError raised inside rolls the change back, then is audited as refused."""

    def __init__(self, actor, action, target):
        self.actor, self.action, self.target = actor, action, target

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, ChatError):
            audit(self.actor, self.action, target=self.target, after={"refused": exc.code}, denied=True)
        return False


def _drop_object_permissions(membership):
    user = membership.user
    for inbox in Inbox.objects.filter(workspace_id=membership.workspace_id, user_permissions__user=user).distinct():
        remove_perm(REPLY_IN_INBOX, user, inbox)
    for group in AgentGroup.objects.filter(workspace_id=membership.workspace_id, user_permissions__user=user).distinct():
        remove_perm(SUPERVISE_GROUP, user, group)
    remove_perm(VIEW_ALL_HISTORY_PERM, user, membership.workspace)


# --- object permissions ------------------------------------------------------------


def holds(user, perm, obj):
    """The explicit guardian row, not has_perm (which is always true for superusers)."""
    codename = perm.split(".", 1)[1]
    return get_user_obj_perms_model(obj).objects.filter(user=user, content_object=obj, permission__codename=codename).exists()


def _set_object_permission(actor, *, action, capability, perm, obj, membership_id, granted):
    _require(actor, capability, action)
    target = _target_membership(actor, membership_id, action)
    if target.role in (Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN) and not roles.can_manage_role(actor, target.role):
        raise _refuse(actor, action, f"cannot change permissions of {target.role}", target=target)
    with transaction.atomic():
        user = target.user
        had = holds(user, perm, obj)
        if granted and not had:
            assign_perm(perm, user, obj)
        elif not granted and had:
            remove_perm(perm, user, obj)
        audit(actor, action, target=obj, before={"user": user.get_username(), "granted": had}, after={"user": user.get_username(), "granted": granted})
        notify_access_changed(user.pk)
    return target


def set_inbox_access(actor, inbox_id, membership_id, granted):
    """Grant or revoke "serve and reply in inbox X". Revocation stops live delivery at once."""
    inbox = _in_workspace(actor, Inbox, inbox_id, "inbox.access")
    return _set_object_permission(
        actor, action="inbox.access", capability=roles.CONFIGURE, perm=REPLY_IN_INBOX, obj=inbox, membership_id=membership_id, granted=granted
    )


def set_group_supervision(actor, group_id, membership_id, granted):
    group = _in_workspace(actor, AgentGroup, group_id, "group.supervise")
    return _set_object_permission(
        actor, action="group.supervise", capability=roles.CONFIGURE, perm=SUPERVISE_GROUP, obj=group, membership_id=membership_id, granted=granted
    )


def set_view_all_history(actor, membership_id, granted):
    workspace = Workspace.objects.get(pk=actor.workspace_id)
    return _set_object_permission(
        actor, action="history.view_all", capability=roles.MANAGE_MEMBERS, perm=VIEW_ALL_HISTORY_PERM, obj=workspace,
        membership_id=membership_id, granted=granted,
    )


# --- custom roles ---------------------------------------------------------------


def define_custom_role(actor, name, capabilities, role_id=None):
    """Create (or, with role_id, rename and redefine) a custom role."""
    action = "custom_role.define"
    _require(actor, roles.MANAGE_ROLES, action)
    capabilities = sorted(set(capabilities or ()))
    forbidden = [c for c in capabilities if c not in roles.GRANTABLE_BY_CUSTOM_ROLE]
    if forbidden:
        raise _refuse(actor, action, f"ungrantable capabilities {forbidden}", code="invalid_capability",
                      message=_("A custom role cannot grant member management."), status=400)
    name = str(name or "").strip()[:60]
    if not name:
        raise ChatError("invalid_name", _("A name is required."), status=400)
    existing = _in_workspace(actor, CustomRole, role_id, action) if role_id is not None else None
    with transaction.atomic():
        if existing is None:
            role, _created = CustomRole.objects.update_or_create(
                workspace_id=actor.workspace_id, name=name, defaults={"capabilities": capabilities}
            )
            before = {}
        else:
            role, before = existing, {"name": existing.name, "capabilities": existing.capabilities}
            role.name, role.capabilities = name, capabilities
            role.save(update_fields=["name", "capabilities"])
        audit(actor, action, target=role, before=before, after={"name": name, "capabilities": capabilities})
        for user_id in role.members.values_list("user_id", flat=True):
            notify_access_changed(user_id)
    return role


def set_custom_role(actor, membership_id, custom_role_id):
    action = "member.custom_role"
    _require(actor, roles.MANAGE_ROLES, action)
    target = _target_membership(actor, membership_id, action)
    if not roles.can_manage_role(actor, target.role):
        raise _refuse(actor, action, f"cannot change the custom role of {target.role}", target=target)
    custom_role = _in_workspace(actor, CustomRole, custom_role_id, action) if custom_role_id is not None else None
    with transaction.atomic():
        before = target.custom_role_id
        target.custom_role = custom_role
        target.save(update_fields=["custom_role"])
        audit(actor, action, target=target, before={"custom_role": before}, after={"custom_role": custom_role.pk if custom_role else None})
        notify_access_changed(target.user_id)
    return target


def create_user(username, password=None, email=""):
    User = get_user_model()
    user = User(username=username, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


# --- invitations and bulk creation --------------------------------------------------

INVITE_TTL_HOURS = 72
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{5,30}$")


def _invite_digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def invite_member(actor, *, role, email="", phone="", display_name="", ttl_hours=INVITE_TTL_HOURS):
    """Create an expiring single-use invitation; returns (invite, secret). The caller
    turns the secret into a link (accounts.views.invite_url) and delivers it."""
    action = "member.invite"
    email, phone = (email or "").strip().lower(), (phone or "").strip()
    if role not in Role.values:
        raise ChatError("invalid_role", _("Unknown role."), status=400)
    if not email and not phone:
        raise ChatError("contact_required", _("Give an e-mail address or a phone number."), status=400)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ChatError("invalid_email", _("Enter a valid e-mail address."), status=400) from None
    if phone and not PHONE_RE.match(phone):
        raise ChatError("invalid_phone", _("Enter a valid phone number."), status=400)
    _require(actor, roles.MANAGE_MEMBERS, action)
    if not roles.can_manage_role(actor, role):
        raise _refuse(actor, action, f"cannot invite role {role}")
    secret = secrets.token_urlsafe(24)
    with transaction.atomic():
        invite = Invite.objects.create(
            workspace_id=actor.workspace_id, email=email, phone=phone, role=role, display_name=display_name[:80],
            token_hash=_invite_digest(secret), invited_by_id=actor.user_id, expires_at=timezone.now() + timedelta(hours=ttl_hours),
        )
        audit(actor, action, target=invite, after={"email": email, "phone": phone, "role": role})
    return invite, secret


def find_invite(secret):
    """The pending invitation for a link secret, or a ChatError saying why it cannot be used."""
    invite = Invite.objects.select_related("workspace").filter(token_hash=_invite_digest(str(secret or ""))).first()
    if invite is None or invite.revoked_at is not None:
        raise ChatError("invalid_invite", _("This invitation link is not valid."), status=404)
    if invite.accepted_at is not None:
        raise ChatError("invite_used", _("This invitation has already been used."), status=410)
    if invite.expires_at <= timezone.now():
        raise ChatError("invite_expired", _("This invitation has expired. Ask for a new one."), status=410)
    return invite


def accept_invite(secret, *, user=None, username="", password="", email=""):
    """Join the workspace: an existing (logged-in) user, or a new account created here;
    for an account created in bulk, the link sets its first password instead.
    Single use even when two people open the link at once (row lock)."""
    invite = find_invite(secret)
    with transaction.atomic():
        invite = Invite.objects.select_for_update().get(pk=invite.pk)
        if invite.accepted_at is not None:
            raise ChatError("invite_used", _("This invitation has already been used."), status=410)
        if invite.for_user_id is not None:
            account = invite.for_user
            account.set_password(password)
            account.save(update_fields=["password"])
            invite.accepted_at, invite.accepted_by = timezone.now(), account
            invite.save(update_fields=["accepted_at", "accepted_by"])
            membership = Membership.objects.get(workspace_id=invite.workspace_id, user=account)
            AuditLog.objects.create(workspace_id=invite.workspace_id, actor=account, action="member.activate",
                                    target_type="accounts.membership", target_id=str(membership.pk))
            return membership
        if user is None:
            user = create_user(username, password, email=email or invite.email)
        if Membership.objects.filter(workspace_id=invite.workspace_id, user=user).exists():
            raise ChatError("already_member", _("You are already a member of this workspace."), status=409)
        membership = Membership.objects.create(workspace_id=invite.workspace_id, user=user, role=invite.role,
                                               display_name=invite.display_name or user.get_username())
        invite.accepted_at, invite.accepted_by = timezone.now(), user
        invite.save(update_fields=["accepted_at", "accepted_by"])
        AuditLog.objects.create(workspace_id=invite.workspace_id, actor=user, action="member.join", target_type="accounts.membership",
                                target_id=str(membership.pk), after={"role": invite.role, "invite": invite.pk, "invited_by": invite.invited_by_id})
    return membership


CSV_COLUMNS = ("username", "email", "display_name", "role", "inboxes")
CSV_MAX_ROWS = 500


def bulk_create_agents(actor, csv_text):
    """Create members from CSV (header: username,email[,display_name,role,inboxes]; inboxes
    are names separated by ';'). All or nothing: any bad line refuses the whole file.
    Returns [(membership, invite secret)]: each new member sets a password through the link."""
    action = "member.bulk_create"
    _require(actor, roles.MANAGE_MEMBERS, action)
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    if not rows:
        raise ChatError("empty_csv", _("The file has no rows."), status=400)
    if len(rows) > CSV_MAX_ROWS:
        raise ChatError("too_many_rows", _("At most %(n)s rows per file.") % {"n": CSV_MAX_ROWS}, status=400)
    unknown = set(rows[0]) - set(CSV_COLUMNS)
    if unknown or not {"username", "email"} <= set(rows[0]):
        raise ChatError("bad_header", _("The header must be: %(cols)s") % {"cols": ",".join(CSV_COLUMNS)}, status=400)
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
        raise ChatError("invalid_csv", " ".join(str(e) for e in errors), status=400)
    created = []
    with transaction.atomic():
        for username, email, display_name, role, member_inboxes in planned:
            user = create_user(username, email=email)
            membership = Membership.objects.create(workspace_id=actor.workspace_id, user=user, role=role, display_name=display_name[:80])
            for inbox in member_inboxes:
                assign_perm(REPLY_IN_INBOX, user, inbox)
            secret = secrets.token_urlsafe(24)
            Invite.objects.create(workspace_id=actor.workspace_id, email=email, role=role, display_name=display_name[:80],
                                  token_hash=_invite_digest(secret), invited_by_id=actor.user_id, for_user=user,
                                  expires_at=timezone.now() + timedelta(hours=INVITE_TTL_HOURS))
            created.append((membership, secret))
        audit(actor, action, after={"usernames": [m.user.get_username() for m, _ in created]})
    return created


def save_preferences(user, *, language, sound):
    """A person's own settings (no audit: they touch nobody else)."""
    from .models import UserPreferences

    if language not in UserPreferences.Language.values:
        raise ChatError("invalid_language", _("Unknown language."), status=400)
    prefs, _created = UserPreferences.objects.update_or_create(user=user, defaults={"language": language, "sound": bool(sound)})
    return prefs
