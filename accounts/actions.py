"""Member, role and permission changes. Each one: authorise (refusals are audited),
change inside a short transaction with an audit row, then tell the affected
member's open sockets to re-check their access (after commit).

Targets are always looked up inside the acting member's workspace, so another
workspace's ids are "not found" (and the attempt is audited)."""

import hashlib
import re
import secrets
from datetime import timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import assign_perm, remove_perm
from guardian.utils import get_user_obj_perms_model

from helpdesk import realtime
from helpdesk.errors import DomainError
from helpdesk.validation import int_or_none

from . import roles
from .models import AuditLog, CustomRole, Invite, Membership, ObjectPermissionRow, Role, RoutingVersion, UserPreferences, Workspace

VIEW_ALL_HISTORY_PERM = "accounts.view_all_history"


def member_not_found():
    return DomainError("not_found", _("Not found."), status=404)


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
    return DomainError(code, message or _("You are not allowed to do this."), status=status)


def require(actor, capability, action):
    if not roles.can(actor, capability):
        raise _refuse(actor, action, f"missing capability {capability}")


def _target_membership(actor, membership_id, action):
    target = Membership.objects.select_related("user").filter(pk=int_or_none(membership_id), workspace_id=actor.workspace_id).first()
    if target is None:
        raise _refuse(actor, action, f"membership {membership_id!r} not in workspace", status=404)
    return target


def in_workspace(actor, model, object_id, action):
    obj = model.objects.filter(pk=int_or_none(object_id), workspace_id=actor.workspace_id).first()
    if obj is None:
        raise _refuse(actor, action, f"{model._meta.label_lower} {object_id!r} not in workspace", status=404)
    return obj


def notify_access_changed(user_id):
    """The member's open sockets re-read their access (inboxes, history scope) at once."""
    realtime.publish_control(realtime.group_for_agent(user_id), {"action": "resync"})


def sign_in_changed(user_id, *, second_factor_reset=False):
    """After a logout, a password change or a deactivation, the user's open sockets re-check
    their session at once and close if HTTP would no longer accept it. A two-factor reset closes
    them all: the session may still be valid, but the device that verified it is gone, so the
    socket must be authenticated again."""
    realtime.revoke_agent(user_id, close=second_factor_reset)


# --- members -------------------------------------------------------------------


def add_member(actor, *, user, role, display_name=""):
    action = "member.add"
    if role not in Role.values:
        raise DomainError("invalid_role", _("Unknown role."), status=400)
    require(actor, roles.MANAGE_MEMBERS, action)
    if not roles.can_manage_role(actor, role):
        raise _refuse(actor, action, f"cannot add role {role}")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            workspace_id=actor.workspace_id, user=user, defaults={"role": role, "display_name": display_name[:80]}
        )
        if not created:
            raise DomainError("already_member", _("This person is already a member."), status=409)
        audit(actor, action, target=membership, after={"user": user.get_username(), "role": role})
    return membership


def change_role(actor, membership_id, new_role):
    action = "member.change_role"
    if new_role not in Role.values:
        raise DomainError("invalid_role", _("Unknown role."), status=400)
    require(actor, roles.MANAGE_MEMBERS, action)
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
    require(actor, roles.MANAGE_MEMBERS, action)
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
        raise DomainError("last_founder", _("A workspace must keep at least one founder."), status=409)


class _audit_refusal:
    """Around a transaction: a DomainError raised inside rolls the change back, then is audited as refused."""

    def __init__(self, actor, action, target):
        self.actor, self.action, self.target = actor, action, target

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, DomainError):
            audit(self.actor, self.action, target=self.target, after={"refused": exc.code}, denied=True)
        return False


def _drop_object_permissions(membership):
    """Every object permission the member holds in the workspace: the rows of each app's
    ObjectPermissionRow table (inboxes, agent groups, the workspace itself...) whose object is
    the workspace or belongs to it. Generic, so accounts needs to know none of those apps."""
    for model in apps.get_models():
        if not issubclass(model, ObjectPermissionRow):
            continue
        target = model._meta.get_field("content_object").related_model
        lookup = "content_object_id" if issubclass(target, Workspace) else "content_object__workspace_id"
        model.objects.filter(user_id=membership.user_id, **{lookup: membership.workspace_id}).delete()


# --- object permissions ------------------------------------------------------------


def holds(user, perm, obj):
    """The explicit guardian row, not has_perm (which is always true for superusers)."""
    codename = perm.split(".", 1)[1]
    return get_user_obj_perms_model(obj).objects.filter(user=user, content_object=obj, permission__codename=codename).exists()


def set_object_permission(actor, *, action, capability, perm, obj, membership_id, granted):
    require(actor, capability, action)
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
            RoutingVersion.bump(target.workspace_id)  # a queryset delete: ObjectPermissionRow.delete() is not called
        audit(actor, action, target=obj, before={"user": user.get_username(), "granted": had}, after={"user": user.get_username(), "granted": granted})
        notify_access_changed(user.pk)
    return target


def set_view_all_history(actor, membership_id, granted):
    workspace = Workspace.objects.get(pk=actor.workspace_id)
    return set_object_permission(
        actor, action="history.view_all", capability=roles.MANAGE_MEMBERS, perm=VIEW_ALL_HISTORY_PERM, obj=workspace,
        membership_id=membership_id, granted=granted,
    )


# --- custom roles ---------------------------------------------------------------


def define_custom_role(actor, name, capabilities, role_id=None):
    """Create (or, with role_id, rename and redefine) a custom role."""
    action = "custom_role.define"
    require(actor, roles.MANAGE_ROLES, action)
    capabilities = sorted(set(capabilities or ()))
    forbidden = [c for c in capabilities if c not in roles.GRANTABLE_BY_CUSTOM_ROLE]
    if forbidden:
        raise _refuse(actor, action, f"ungrantable capabilities {forbidden}", code="invalid_capability",
                      message=_("A custom role cannot grant member management."), status=400)
    name = str(name or "").strip()[:60]
    if not name:
        raise DomainError("invalid_name", _("A name is required."), status=400)
    existing = in_workspace(actor, CustomRole, role_id, action) if role_id is not None else None
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
    require(actor, roles.MANAGE_ROLES, action)
    target = _target_membership(actor, membership_id, action)
    if not roles.can_manage_role(actor, target.role):
        raise _refuse(actor, action, f"cannot change the custom role of {target.role}", target=target)
    custom_role = in_workspace(actor, CustomRole, custom_role_id, action) if custom_role_id is not None else None
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


def invite_digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def invite_member(actor, *, role, email="", phone="", display_name="", ttl_hours=INVITE_TTL_HOURS):
    """Create an expiring single-use invitation; returns (invite, secret). The caller
    turns the secret into a link (accounts.views.invite_url) and delivers it."""
    action = "member.invite"
    email, phone = (email or "").strip().lower(), (phone or "").strip()
    if role not in Role.values:
        raise DomainError("invalid_role", _("Unknown role."), status=400)
    if not email and not phone:
        raise DomainError("contact_required", _("Give an e-mail address or a phone number."), status=400)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise DomainError("invalid_email", _("Enter a valid e-mail address."), status=400) from None
    if phone and not PHONE_RE.match(phone):
        raise DomainError("invalid_phone", _("Enter a valid phone number."), status=400)
    require(actor, roles.MANAGE_MEMBERS, action)
    if not roles.can_manage_role(actor, role):
        raise _refuse(actor, action, f"cannot invite role {role}")
    secret = secrets.token_urlsafe(24)
    with transaction.atomic():
        invite = Invite.objects.create(
            workspace_id=actor.workspace_id, email=email, phone=phone, role=role, display_name=display_name[:80],
            token_hash=invite_digest(secret), invited_by_id=actor.user_id, expires_at=timezone.now() + timedelta(hours=ttl_hours),
        )
        audit(actor, action, target=invite, after={"email": email, "phone": phone, "role": role})
    return invite, secret


def find_invite(secret):
    """The pending invitation for a link secret, or a DomainError saying why it cannot be used."""
    invite = Invite.objects.select_related("workspace").filter(token_hash=invite_digest(str(secret or ""))).first()
    if invite is None or invite.revoked_at is not None:
        raise DomainError("invalid_invite", _("This invitation link is not valid."), status=404)
    if invite.accepted_at is not None:
        raise DomainError("invite_used", _("This invitation has already been used."), status=410)
    if invite.expires_at <= timezone.now():
        raise DomainError("invite_expired", _("This invitation has expired. Ask for a new one."), status=410)
    return invite


def accept_invite(secret, *, user=None, username="", password="", email=""):
    """Join the workspace: an existing (logged-in) user, or a new account created here;
    for an account created in bulk, the link sets its first password instead.
    Single use even when two people open the link at once (row lock)."""
    invite = find_invite(secret)
    with transaction.atomic():
        invite = Invite.objects.select_for_update().get(pk=invite.pk)
        if invite.accepted_at is not None:
            raise DomainError("invite_used", _("This invitation has already been used."), status=410)
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
            raise DomainError("already_member", _("You are already a member of this workspace."), status=409)
        membership = Membership.objects.create(workspace_id=invite.workspace_id, user=user, role=invite.role,
                                               display_name=invite.display_name or user.get_username())
        invite.accepted_at, invite.accepted_by = timezone.now(), user
        invite.save(update_fields=["accepted_at", "accepted_by"])
        AuditLog.objects.create(workspace_id=invite.workspace_id, actor=user, action="member.join", target_type="accounts.membership",
                                target_id=str(membership.pk), after={"role": invite.role, "invite": invite.pk, "invited_by": invite.invited_by_id})
    return membership


def save_preferences(user, *, language, sound):
    """A person's own settings (no audit: they touch nobody else)."""
    if language not in UserPreferences.Language.values:
        raise DomainError("invalid_language", _("Unknown language."), status=400)
    prefs, _created = UserPreferences.objects.update_or_create(user=user, defaults={"language": language, "sound": bool(sound)})
    return prefs


def set_onboarding(user, workspace_id, state):
    """A founder puts their 开始使用 card off, brings it back, or (the console, once all five steps are
    done) retires it for good. Their own view of the console: no audit. Never brings back a retired card."""
    if state not in Membership.Onboarding.values:
        raise DomainError("invalid_onboarding", _("Unknown choice."), status=400)
    founder = Membership.objects.filter(user=user, workspace_id=int_or_none(workspace_id), role=Role.FOUNDER)
    if not founder.exists():
        raise DomainError("forbidden", _("Only a founder of this workspace has the getting-started checklist."), status=403)
    # .update(): a save() would bump the routing version for a change that routes nothing
    founder.exclude(onboarding=Membership.Onboarding.DONE).update(onboarding=state)
