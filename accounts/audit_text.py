"""The audit log as sentences in the reader's language ("店主 把 小李 的角色从 客服 改为 管理员").

describe(log, names) is pure: every name it needs comes in `names` (AuditNames), which the admin
looks up once per page (names_for). Rows written by any app are covered: the common actions have
their own sentence, any other change reads "X changed <kind> <object>", any other refusal
"X tried to change <kind> <object> and was refused"; no code of an action, role or capability is shown."""

from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import roles
from .models import Membership, Role, shown_name


@dataclass
class AuditNames:
    """Display names for one page of rows: users by id and by login name, members by membership id,
    objects by (target_type, id)."""

    users: dict = field(default_factory=dict)
    usernames: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)


def _role(value):
    try:
        return str(Role(value).label)
    except ValueError:
        return _("an unknown role")


def _capabilities(values):
    labels = [str(roles.CAPABILITY_LABELS[c]) for c in values or () if c in roles.CAPABILITY_LABELS]
    return _(", ").join(labels) if labels else _("no extra capabilities")


def _kind(target_type):
    model = _model(target_type)
    return str(model._meta.verbose_name) if model is not None else _("an item")


def _model(target_type):
    try:
        return apps.get_model(target_type) if target_type else None
    except (LookupError, ValueError):
        return None


def _field_names(target_type, keys):
    model = _model(target_type)
    shown = []
    for key in keys:
        try:
            shown.append(str(model._meta.get_field(key).verbose_name) if model is not None else None)
        except Exception:  # noqa: BLE001 (a key that is not a model field: a form-only setting)
            shown.append(None)
    return [name for name in shown if name]


def describe(log, names=None):
    """One sentence for an AuditLog row (or anything with its fields)."""
    names = names or AuditNames()
    before, after = log.before or {}, log.after or {}
    actor = names.users.get(log.actor_id) or _("someone whose account was deleted")
    obj = names.objects.get((log.target_type, str(log.target_id)))
    if obj is None and log.target_id:
        obj = _("(deleted)")

    def member():
        if log.target_type == "accounts.membership" and log.target_id in names.members:
            return names.members[log.target_id]
        username = after.get("user") or before.get("user")
        return names.usernames.get(username) or username or _("a member")

    params = {"actor": actor, "object": obj or "", "kind": _kind(log.target_type)}
    action = log.action
    if log.denied:
        refused = REFUSED.get(action)
        if refused is not None:
            return refused % params
        if action in ("admin.unknown_object", "admin.rejected_field"):
            return (_("%(actor)s tried to open an item that is not in this workspace, and was refused") if action == "admin.unknown_object"
                    else _("%(actor)s submitted a choice from outside this workspace, and was refused")) % params
        if log.target_id:
            return _("%(actor)s tried to change %(kind)s %(object)s, and was refused") % params
        return _("%(actor)s tried to do something their role does not allow, and was refused") % params

    if action == "member.change_role":
        return _("%(actor)s changed the role of %(member)s from %(old)s to %(new)s") % {
            **params, "member": member(), "old": _role(before.get("role")), "new": _role(after.get("role"))}
    if action == "member.add":
        return _("%(actor)s added %(member)s as %(role)s") % {**params, "member": member(), "role": _role(after.get("role"))}
    if action == "member.remove":
        return _("%(actor)s removed %(member)s (%(role)s)") % {**params, "member": member(), "role": _role(before.get("role"))}
    if action == "member.custom_role":
        role = names.objects.get(("accounts.customrole", str(after.get("custom_role"))))
        if after.get("custom_role") is None:
            return _("%(actor)s took away the custom role of %(member)s") % {**params, "member": member()}
        return _("%(actor)s gave %(member)s the custom role %(role)s") % {**params, "member": member(), "role": role or _("(deleted)")}
    if action == "member.invite":
        contact = after.get("email") or after.get("phone") or ""
        return _("%(actor)s invited %(contact)s to join as %(role)s") % {**params, "contact": contact, "role": _role(after.get("role"))}
    if action == "member.join":
        return _("%(actor)s joined by invitation as %(role)s") % {**params, "role": _role(after.get("role"))}
    if action == "member.activate":
        return _("%(actor)s chose a password and activated their account") % params
    if action in GRANTS:
        granted_text, revoked_text = GRANTS[action]
        return (granted_text if after.get("granted") else revoked_text) % {**params, "member": member()}
    if action == "custom_role.define":
        text = (_("%(actor)s created the custom role %(name)s: %(capabilities)s") if not before
                else _("%(actor)s changed the custom role %(name)s: %(capabilities)s"))
        return text % {**params, "name": after.get("name", ""), "capabilities": _capabilities(after.get("capabilities"))}
    if action == "api_token.create":
        return _("%(actor)s created the API token %(name)s") % {**params, "name": after.get("name", "")}
    if action == "api_token.revoke":
        return _("%(actor)s revoked an API token") % params
    if action == "customer.level":
        return _("%(actor)s set the membership level of %(object)s") % params
    if action.endswith(".add"):
        return _("%(actor)s added %(kind)s %(object)s") % params
    if action.endswith(".delete"):
        return _("%(actor)s deleted %(kind)s %(object)s") % params
    fields = _field_names(log.target_type, list(after) or list(before))
    if fields:
        return _("%(actor)s changed %(fields)s of %(kind)s %(object)s") % {**params, "fields": _(", ").join(fields)}
    if log.target_id:
        return _("%(actor)s changed %(kind)s %(object)s") % params
    return _("%(actor)s made a change in this workspace") % params


# (granted, revoked): the after row says which.
GRANTS = {
    "inbox.access": (gettext_lazy("%(actor)s let %(member)s serve the inbox %(object)s"),
                     gettext_lazy("%(actor)s stopped %(member)s from serving the inbox %(object)s")),
    "group.supervise": (gettext_lazy("%(actor)s made %(member)s a supervisor of the group %(object)s"),
                        gettext_lazy("%(actor)s removed %(member)s as a supervisor of the group %(object)s")),
    "history.view_all": (gettext_lazy("%(actor)s let %(member)s view all conversation history"),
                         gettext_lazy("%(actor)s stopped %(member)s from viewing all conversation history")),
}

REFUSED = {
    "member.change_role": gettext_lazy("%(actor)s tried to change a member's role, and was refused"),
    "member.add": gettext_lazy("%(actor)s tried to add a member, and was refused"),
    "member.remove": gettext_lazy("%(actor)s tried to remove a member, and was refused"),
    "member.invite": gettext_lazy("%(actor)s tried to invite a member with a role they may not give, and was refused"),
    "member.custom_role": gettext_lazy("%(actor)s tried to change a member's custom role, and was refused"),
    "custom_role.define": gettext_lazy("%(actor)s tried to define a custom role, and was refused"),
    "inbox.access": gettext_lazy("%(actor)s tried to change who serves an inbox, and was refused"),
    "group.supervise": gettext_lazy("%(actor)s tried to change a group's supervisors, and was refused"),
    "history.view_all": gettext_lazy("%(actor)s tried to change who views all history, and was refused"),
}


def names_for(logs):
    """The names a page of rows needs: one query for members, one per kind of object named."""
    logs = list(logs)
    workspace_ids = {log.workspace_id for log in logs}
    usernames = {value for log in logs for side in (log.before or {}, log.after or {}) for key, value in side.items()
                 if key == "user" and isinstance(value, str)}
    names = AuditNames()
    rows = Membership.objects.filter(workspace_id__in=workspace_ids).select_related("user").only(
        "pk", "display_name", "user__username", "user__first_name", "user__last_name")
    for membership in rows:
        shown = membership.shown_name
        names.users[membership.user_id] = shown
        names.members[str(membership.pk)] = shown
        if membership.user.username in usernames:
            names.usernames[membership.user.username] = shown
    wanted = {}
    for log in logs:
        if log.target_type and log.target_id:
            wanted.setdefault(log.target_type, set()).add(log.target_id)
        if log.action == "member.custom_role" and log.after and log.after.get("custom_role") is not None:
            wanted.setdefault("accounts.customrole", set()).add(str(log.after["custom_role"]))
    for target_type, ids in wanted.items():
        model = _model(target_type)
        if model is None or model is Membership:
            continue
        keys = [i for i in ids if str(i).isdigit()]
        for obj in model._default_manager.filter(pk__in=keys):
            names.objects[(target_type, str(obj.pk))] = str(obj)
    for member_id, label in names.members.items():
        names.objects[("accounts.membership", member_id)] = label
    missing = {log.actor_id for log in logs if log.actor_id is not None and log.actor_id not in names.users}
    for user in get_user_model().objects.filter(pk__in=missing):  # no longer a member: their account's name
        names.users[user.pk] = shown_name("", user)
    return names
