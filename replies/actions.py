"""Domain writes for quick phrases (validate, authorise, change, audit).

- Workspace and group phrases are configuration: the acting membership needs the
  `configure` capability (refusals are audited); they are edited in the admin.
- Personal phrases belong to one agent, who manages them in the console; another agent's
  personal phrase (or any id outside the workspace) is "not found" (and audited).
- Every change is audited (phrase.add / phrase.change / phrase.delete, with before/after).
- Validation collects every field's error at once (`PhraseInvalid.errors`), so the admin
  and console forms show each next to its input and nothing is written."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_unicode_slug
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import roles
from accounts.actions import _audit_refusal, audit, audit_changes
from chat import uploads
from helpdesk.errors import DomainError, forbidden
from helpdesk.validation import int_or_none, is_int
from routing.models import AgentGroup

from .access import usable_phrases
from .models import QuickPhrase

MAX_TITLE_CHARS = QuickPhrase._meta.get_field("title").max_length
MAX_SHORTCUT_CHARS = QuickPhrase._meta.get_field("shortcut").max_length
MAX_CATEGORY_CHARS = QuickPhrase._meta.get_field("category").max_length
MAX_BODY_CHARS = QuickPhrase._meta.get_field("body").max_length
MAX_ATTACHMENT_NAME_CHARS = 255
SHARED_SCOPES = (QuickPhrase.Scope.WORKSPACE, QuickPhrase.Scope.GROUP)
AUDITED_FIELDS = ("scope", "group_id", "owner_id", "category", "title", "shortcut", "body", "attachment", "valid_from", "valid_until")


class PhraseInvalid(DomainError):
    """Bad input: `errors` maps form field names (None: the whole form) to a message."""

    def __init__(self, errors):
        self.errors = errors
        first = next(iter(errors.values()))
        super().__init__("invalid_phrase", first, status=400)
        self.field = next(iter(errors))


def phrase_not_found():
    return DomainError("not_found", _("Quick phrase not found."), status=404)


def fill_variables(body, *, customer_name, agent_name):
    """{customer_name} and {agent_name}; anything else in braces stays as typed."""
    return body.replace("{customer_name}", customer_name).replace("{agent_name}", agent_name)


# --- validation (also used by the admin and console forms) -------------------------------


def clean_shortcut(value):
    """What follows "/" in the composer: letters (any script), digits, hyphens, underscores."""
    shortcut = str(value or "").strip().lstrip("/").strip()
    if not shortcut:
        raise ValidationError(_("Enter a shortcut."))
    if len(shortcut) > MAX_SHORTCUT_CHARS:
        raise ValidationError(_("A shortcut can be at most {n} characters.").format(n=MAX_SHORTCUT_CHARS))
    try:
        validate_unicode_slug(shortcut)
    except ValidationError:
        raise ValidationError(_("A shortcut may contain only letters, digits, hyphens and underscores (no spaces).")) from None
    return shortcut


def clean_attachment(value, workspace_id):
    """{} or one file uploaded to this workspace (POST /api/v1/uploads): {url, name, size, content_type,
    kind[, width, height]}; type and kind come from the stored name, never from the input."""
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(_("The attachment must be a file uploaded here."))
    url = value.get("url")
    stored = uploads.type_for_url(url, workspace_id) if isinstance(url, str) and len(url) <= 2000 else None
    if stored is None:
        raise ValidationError(_("The attachment must be a file uploaded here."))
    name, size = value.get("name", ""), value.get("size", 0)
    if not isinstance(name, str) or not is_int(size) or size < 0:
        raise ValidationError(_("The attachment needs a name and a size."))
    cleaned = {"url": url, "name": " ".join(name.split())[:MAX_ATTACHMENT_NAME_CHARS] or url.rsplit("/", 1)[-1],
               "size": size, "content_type": stored[0], "kind": stored[1]}
    for key in ("width", "height"):
        dim = value.get(key)
        if is_int(dim) and 0 < dim < 1_000_000:
            cleaned[key] = dim
    return cleaned


def _aware_or_none(value):
    if value in (None, ""):
        return None
    if not isinstance(value, datetime):
        raise ValidationError(_("Enter a valid date and time."))
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def clean_phrase(workspace_id, *, scope, group_id=None, owner_id=None, title, shortcut, body, category="", attachment=None,
                 valid_from=None, valid_until=None, phrase_id=None):
    """The normalised fields of a phrase, or PhraseInvalid with every field's error."""
    errors, cleaned = {}, {}

    def check(field, fn):
        try:
            cleaned[field] = fn()
        except ValidationError as exc:
            errors[field] = exc.messages[0]

    def text(value, max_chars, required, label_required, label_long, multiline=False):
        value = str(value or "")
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip() if multiline else " ".join(value.split())
        if "\x00" in value:
            raise ValidationError(_("The text contains a NUL character."))
        if required and not value:
            raise ValidationError(label_required)
        if len(value) > max_chars:
            raise ValidationError(label_long.format(n=max_chars))
        return value

    if scope not in QuickPhrase.Scope.values:
        errors["scope"] = _("Choose a scope.")
    check("title", lambda: text(title, MAX_TITLE_CHARS, True, _("Enter a title."), _("A title can be at most {n} characters.")))
    check("shortcut", lambda: clean_shortcut(shortcut))
    check("category", lambda: text(category, MAX_CATEGORY_CHARS, False, "", _("A category can be at most {n} characters.")))
    check("body", lambda: text(body, MAX_BODY_CHARS, True, _("Enter the text."), _("The text can be at most {n} characters."), True))
    check("attachment", lambda: clean_attachment(attachment, workspace_id))
    check("valid_from", lambda: _aware_or_none(valid_from))
    check("valid_until", lambda: _aware_or_none(valid_until))
    start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
    if start and end and end <= start:
        errors["valid_until"] = _("The end must be after the start.")

    cleaned["group_id"] = None
    if scope == QuickPhrase.Scope.GROUP:
        group_pk = int_or_none(getattr(group_id, "pk", group_id))
        if group_pk is None or not AgentGroup.objects.filter(pk=group_pk, workspace_id=workspace_id).exists():
            errors["group"] = _("Choose an agent group of this workspace.")
        cleaned["group_id"] = group_pk
    elif group_id not in (None, ""):
        errors["group"] = _("Only group phrases have a group.")
    cleaned["owner_id"] = owner_id if scope == QuickPhrase.Scope.PERSONAL else None
    cleaned["scope"] = scope

    if "shortcut" in cleaned and "group" not in errors and "valid_until" not in errors and scope in QuickPhrase.Scope.values:
        # The same shortcut twice in one list (workspace, a group, or an agent's own) at overlapping times is ambiguous.
        same = QuickPhrase.objects.filter(workspace_id=workspace_id, scope=scope, group_id=cleaned["group_id"],
                                          owner_id=cleaned["owner_id"], shortcut__iexact=cleaned["shortcut"]).exclude(pk=phrase_id)
        if end:
            same = same.filter(Q(valid_from__isnull=True) | Q(valid_from__lt=end))
        if start:
            same = same.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=start))
        if same.exists():
            errors["shortcut"] = _("Another phrase in the same list already uses this shortcut during this period.")
    if errors:
        raise PhraseInvalid(errors)
    return cleaned


# --- authorisation ------------------------------------------------------------------------


def _refused(actor, action, detail, error, target=None):
    audit(actor, action, target=target, after={"refused": detail}, denied=True)
    return error


def _authorise(actor, action, scope, target=None):
    """actor: the acting Membership (admin pages and console pages alike pass one)."""
    if scope in SHARED_SCOPES:
        if not roles.can(actor, roles.CONFIGURE):
            raise _refused(actor, action, f"missing capability {roles.CONFIGURE}", forbidden(), target)
    elif not roles.can(actor, roles.SERVE_CHATS):
        raise _refused(actor, action, "personal phrases are for agents", forbidden(), target)


def _existing(actor, phrase_id, action):
    """A phrase of the actor's workspace the actor may change: shared ones, or their own personal one."""
    phrase = QuickPhrase.objects.filter(pk=int_or_none(phrase_id), workspace_id=actor.workspace_id).first()
    if phrase is None or (phrase.scope == QuickPhrase.Scope.PERSONAL and phrase.owner_id != actor.user_id):
        raise _refused(actor, action, f"phrase {str(phrase_id)[:40]!r} not found or not the actor's", phrase_not_found())
    return phrase


def _state(phrase):
    state = {}
    for field in AUDITED_FIELDS:
        value = getattr(phrase, field)
        state[field] = value.isoformat() if isinstance(value, datetime) else value
    return state


# --- writes -------------------------------------------------------------------------------


def save_phrase(actor, phrase_id=None, *, scope, group_id=None, title, shortcut, body, category="", attachment=None,
                valid_from=None, valid_until=None):
    """Create (phrase_id None) or update a phrase in the actor's workspace. A personal phrase is always the
    actor's own; a phrase stays personal or shared (the scope moves only between workspace and group)."""
    action = "phrase.change" if phrase_id is not None else "phrase.add"
    existing = _existing(actor, phrase_id, action) if phrase_id is not None else None
    _authorise(actor, action, scope, existing)
    if existing is not None:
        _authorise(actor, action, existing.scope, existing)
        if (existing.scope == QuickPhrase.Scope.PERSONAL) != (scope == QuickPhrase.Scope.PERSONAL):
            raise PhraseInvalid({"scope": _("A personal phrase stays personal, and a shared one stays shared.")})
    owner_id = actor.user_id if scope == QuickPhrase.Scope.PERSONAL else None
    cleaned = clean_phrase(actor.workspace_id, scope=scope, group_id=group_id, owner_id=owner_id, title=title, shortcut=shortcut,
                           body=body, category=category, attachment=attachment, valid_from=valid_from, valid_until=valid_until,
                           phrase_id=existing.pk if existing else None)
    with _audit_refusal(actor, action, existing), transaction.atomic():
        phrase = QuickPhrase.objects.select_for_update().get(pk=existing.pk) if existing else QuickPhrase(workspace_id=actor.workspace_id)
        before = _state(phrase) if existing else {}
        for field, value in cleaned.items():
            setattr(phrase, field, value)
        after = _state(phrase)
        if existing and before == after:
            return phrase
        phrase.save()
        audit_changes(actor, action, phrase, before, after)
    return phrase


def delete_phrase(actor, phrase_id):
    action = "phrase.delete"
    phrase = _existing(actor, phrase_id, action)
    _authorise(actor, action, phrase.scope, phrase)
    with transaction.atomic():
        audit(actor, action, target=phrase, before=_state(phrase))
        QuickPhrase.objects.filter(pk=phrase.pk).delete()


def use_phrase(actor, phrase_id):
    """Count one use (F(): concurrent agents never lose a count). Only phrases the agent may use now."""
    if not roles.can(actor, roles.SERVE_CHATS):
        raise forbidden()
    updated = usable_phrases(actor).filter(pk=phrase_id if is_int(phrase_id) else -1).update(usage_count=F("usage_count") + 1)
    if not updated:
        raise phrase_not_found()
