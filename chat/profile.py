"""The widget's pre-chat form: which fields an inbox asks for, and the customer's answers; and the
contact details a customer leaves when nobody can answer now (留下联系方式)."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import FieldErrors, forbidden, invalid

from . import access
from .identity import MAX_NAME_CHARS, TEL_RE, clean_text
from .messages import post_automatic_reply
from .models import ConversationEvent, Customer, Inbox, validate_prechat_fields
from .notify import notify_conversation

MAX_PRECHAT_ANSWER_CHARS = 200


def prechat_fields_of(inbox):
    """The inbox's pre-chat form with defaults filled in; none if the stored config is unusable."""
    try:
        validate_prechat_fields(inbox.prechat_fields)
    except ValidationError:
        return []
    return [
        {"key": f["key"], "label": f["label"], "type": f.get("type", "text"), "required": bool(f.get("required", False))}
        for f in inbox.prechat_fields
    ]


def update_profile(actor, answers):
    """The pre-chat form's answers: `name` goes to the customer's name, other keys the form defines
    to customer.attributes. Returns the customer."""
    if not actor.is_customer:
        raise forbidden()
    if not isinstance(answers, dict):
        raise invalid("invalid_fields", _("Send the form's answers as a JSON object."))
    inbox = Inbox.objects.get(pk=actor.inbox_id)
    fields = {f["key"]: f for f in prechat_fields_of(inbox)}
    unknown = sorted(str(key) for key in answers if key not in fields)
    if unknown:
        raise FieldErrors("unknown_fields", _("Fields not accepted here: %(fields)s") % {"fields": ", ".join(unknown[:30])},
                          {key: _("This form has no such field.") for key in unknown[:30]})
    errors, cleaned = {}, {}
    for key, field in fields.items():
        value = answers.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[key] = _("Enter text.")
            continue
        limit = MAX_NAME_CHARS if key == "name" else MAX_PRECHAT_ANSWER_CHARS
        value = clean_text(value, limit, lines=field["type"] == "textarea")
        if value is None:
            errors[key] = _("At most %(n)s characters.") % {"n": limit}
        elif not value:
            if field["required"]:
                errors[key] = _("This field is required.")
        elif field["type"] == "email" and not _is_email(value):
            errors[key] = _("Enter a valid e-mail address.")
        elif field["type"] == "tel" and not TEL_RE.match(value):
            errors[key] = _("Enter a phone number: digits, +, - and spaces, at most 32.")
        else:
            cleaned[key] = value
    if errors:
        raise FieldErrors("invalid_fields", _("Please check the highlighted fields."), errors)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=actor.customer_id)
        if "name" in cleaned:
            customer.name = cleaned.pop("name")
        customer.attributes = {**(customer.attributes or {}), **cleaned}
        customer.last_seen_at = timezone.now()
        customer.save(update_fields=["name", "attributes", "last_seen_at"])
    return customer


def _is_email(value):
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def customer_inbox(actor):
    if not actor.is_customer:
        raise forbidden()
    return Inbox.objects.get(pk=actor.inbox_id)


# WeChat's own rule for a WeChat ID: 6-20 letters, digits, _ or -, starting with a letter.
WECHAT_ID_RE = re.compile(r"^[A-Za-z][-_A-Za-z0-9]{5,19}$")


def leave_contact(actor, conversation_id, *, phone="", wechat=""):
    """A customer leaves a phone number and/or a WeChat ID under the line saying nobody can answer
    now. Stored on the customer (attributes contact_phone / contact_wechat: what the merchant's
    signed identity says stays as it is), shown to the agents as a private note and an event in
    the conversation. At least one is needed; bad input changes nothing. Returns the customer."""
    if not actor.is_customer:
        raise forbidden()
    phone = phone.strip() if isinstance(phone, str) else None
    wechat = wechat.strip() if isinstance(wechat, str) else None
    errors = {}
    if phone is None or (phone and (not TEL_RE.match(phone) or sum(c.isdigit() for c in phone) < 5)):
        errors["phone"] = _("Enter a phone number: digits, +, - and spaces, at most 32.")
    if wechat is None or (wechat and not WECHAT_ID_RE.match(wechat)):
        errors["wechat"] = _("A WeChat ID is 6 to 20 letters, digits, _ or -, and starts with a letter.")
    if not errors and not phone and not wechat:
        errors["phone"] = errors["wechat"] = _("Enter a mobile number or a WeChat ID.")
    if errors:
        raise FieldErrors("invalid_contact", _("Please check the highlighted fields."), errors)
    left = {key: value for key, value in (("contact_phone", phone), ("contact_wechat", wechat)) if value}
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        customer = Customer.objects.select_for_update().get(pk=actor.customer_id)
        customer.attributes = {**(customer.attributes or {}), **left}
        customer.save(update_fields=["attributes"])
        ConversationEvent.record(conversation, ConversationEvent.Kind.CONTACT_LEFT, actor, data=left)
        lines = [str(_("Mobile: %(phone)s") % {"phone": phone})] if phone else []
        lines += [str(_("WeChat ID: %(wechat)s") % {"wechat": wechat})] if wechat else []
        post_automatic_reply(conversation, _("The customer left their contact details.") + " " + "; ".join(lines), private=True)
        notify_conversation(conversation)
    return customer
