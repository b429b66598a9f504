"""Who a customer is: visitor tokens, sessions (anonymous or identified by the merchant's
signed user id), the attributes a verified identity may set, the pages they visit."""

import hashlib
import hmac
import math
import re
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from helpdesk import ratelimit
from helpdesk.errors import DomainError, forbidden, invalid

from . import access, blocks, customers
from .models import Customer, CustomerVisit, Inbox, Tag
from .tags import TAG_RE, record_tag_change

CUSTOMER_TOKEN_SALT = "chat.customer-token.v2"


CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


CONTROL_CHARS_BUT_LINES_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps tab and newline (comments, textareas)


USER_HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")


ATTRIBUTE_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,39}$")


TEL_RE = re.compile(r"^[0-9+\- ]{1,32}$")


MAX_ATTRIBUTES = 30


MAX_ATTRIBUTE_CHARS = 200


MAX_NAME_CHARS = 120


MAX_IDENTITY_TAGS = 20


MAX_PAGE_URL_CHARS = 1000


MAX_PAGE_TITLE_CHARS = 200


VISIT_DEDUPE_SECONDS = 60


def visitor_token_key():
    """Visitor tokens have their own key (CHAT_VISITOR_TOKEN_KEY, else derived from SECRET_KEY):
    it can be rotated, logging every visitor out, without touching sessions or anything else."""
    return settings.CHAT["VISITOR_TOKEN_KEY"] or salted_hmac("chat.visitor-token-key", "v1", secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()


def make_customer_token(customer, inbox):
    # The customer is named by their random public id, never the sequential pk.
    payload = {"w": customer.workspace_id, "i": inbox.pk, "c": customer.public_id}
    return signing.dumps(payload, key=visitor_token_key(), salt=CUSTOMER_TOKEN_SALT, compress=True)


def actor_from_customer_token(token):
    """The customer actor a token stands for, or a DomainError. One query (the inbox still exists and matches)."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise DomainError("invalid_token", _("The visitor token is missing or invalid."), status=401)
    try:
        data = signing.loads(token, key=visitor_token_key(), salt=CUSTOMER_TOKEN_SALT, max_age=settings.CHAT["CUSTOMER_TOKEN_MAX_AGE_SECONDS"])
        workspace_id, inbox_id, public_id = int(data["w"]), int(data["i"]), str(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise DomainError("invalid_token", _("The visitor token is missing or invalid."), status=401) from None
    customer = Customer.objects.filter(public_id=public_id, workspace_id=workspace_id, workspace__inboxes__pk=inbox_id).first()
    if customer is None:
        raise DomainError("invalid_token", _("The visitor token is missing or invalid."), status=401)
    return access.customer_actor(customer, inbox_id)


def open_customer_session(inbox_key, *, token=None, name="", user_id=None, user_hash=None, attributes=None, page=None, client_ip=None):
    """Issue (or renew) a visitor identity for an inbox. Returns (customer, inbox, token).

    Anonymous: the customer of a valid token for this workspace, else a new one. Identified:
    `user_id` with `user_hash` = hex HMAC-SHA256(inbox.secret, user_id) from the merchant's server
    gives the workspace's customer with that external id (the same on every device); a valid
    anonymous visitor token of the same workspace sent along is merged into it (the visitor logged
    in: chat.customers.merge_visitor moves their history, in this transaction). Only a verified
    identity may set attributes beyond `name`.
    Everything is checked before anything is stored."""
    inbox = Inbox.objects.filter(public_key=str(inbox_key or "")[:40]).select_related("workspace").first()
    if inbox is None:
        raise DomainError("unknown_inbox", _("This chat is not available."), status=404)
    identified = user_id not in (None, "")
    if identified:
        user_id = _verified_user_id(inbox, user_id, user_hash)
    changes = _clean_attributes(attributes, verified=identified)
    if name not in (None, "") and "name" not in changes:
        changes["name"] = _clean_name(name)
    page = _clean_page(page, strict=False)  # a page we cannot record never costs the visitor their chat
    with transaction.atomic():
        customer = None
        if identified:
            customer = _identified_customer(inbox, user_id, changes.get("name", ""))
            visitor = _token_customer(token, inbox)
            if visitor is not None:
                customers.merge_visitor(visitor, customer)
        elif token:
            try:
                actor = actor_from_customer_token(token)
            except DomainError:
                actor = None  # a stale token just gets a fresh identity
            if actor and actor.workspace_id == inbox.workspace_id:
                customer = Customer.objects.get(pk=actor.customer_id)
        if customer is None:
            # New anonymous visitors per client address (settings.RATE_LIMITS); refused before anything is written.
            ratelimit.hit("new_customer_ip", client_ip)
            customer = Customer.objects.create(workspace_id=inbox.workspace_id, first_inbox=inbox, name=changes.get("name", ""))
        customer = _apply_customer_changes(customer, changes)
        blocks.cover_by_address(customer, client_ip)  # client_ip: as rate limits count it (ratelimit.ip_key)
        if page:
            _record_visit(customer.pk, inbox.pk, *page)
    return customer, inbox, make_customer_token(customer, inbox)


def _token_customer(token, inbox):
    """The anonymous visitor a token names, in this inbox's workspace; None for anything else."""
    if not token:
        return None
    try:
        actor = actor_from_customer_token(token)
    except DomainError:
        return None
    if actor.workspace_id != inbox.workspace_id:
        return None
    return Customer.objects.filter(pk=actor.customer_id, external_id__isnull=True).first()


def identity_hash(secret, user_id):
    """What the merchant's server computes: hex HMAC-SHA256 of the user id (UTF-8) keyed with the inbox secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _verified_user_id(inbox, user_id, user_hash):
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 128 or CONTROL_CHARS_RE.search(user_id):
        raise invalid("invalid_user_id", _("user_id must be 1 to 128 characters of text."))
    if not isinstance(user_hash, str) or not USER_HASH_RE.match(user_hash) or not hmac.compare_digest(
        user_hash.lower(), identity_hash(inbox.secret, user_id)
    ):
        raise DomainError("invalid_identity", _("The user identity could not be verified."), status=403)
    return user_id


def clean_text(value, limit, *, lines=False):
    """Text without control characters, trimmed; None if too long."""
    value = (CONTROL_CHARS_BUT_LINES_RE if lines else CONTROL_CHARS_RE).sub("", value).strip()
    return value if len(value) <= limit else None


def _clean_name(value):
    cleaned = clean_text(value, MAX_NAME_CHARS) if isinstance(value, str) else None
    if cleaned is None:
        raise invalid("invalid_name", _("The name must be text of at most %(n)s characters.") % {"n": MAX_NAME_CHARS})
    return cleaned


def _bad_attribute(key):
    return invalid(
        "invalid_attributes",
        _("Attribute %(key)s must be text of at most 200 characters, a number, true/false or null (no nested objects).") % {"key": key},
    )


def _clean_attribute_value(key, value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= 10**15:
            raise _bad_attribute(key)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad_attribute(key)
        return value
    if not isinstance(value, str):
        raise _bad_attribute(key)
    cleaned = clean_text(value, MAX_ATTRIBUTE_CHARS)
    if cleaned is None:
        raise _bad_attribute(key)
    if cleaned and key == "email":
        try:
            validate_email(cleaned)
        except ValidationError:
            raise invalid("invalid_attributes", _("Attribute email must be a valid e-mail address.")) from None
    if cleaned and key == "phone" and not TEL_RE.match(cleaned):
        raise invalid("invalid_attributes", _("Attribute phone must be at most 32 digits, +, - or spaces."))
    return cleaned


def _clean_identity_tags(value):
    if not isinstance(value, list) or len(value) > MAX_IDENTITY_TAGS:
        raise invalid("invalid_attributes", _("tags must be a list of at most %(n)s tags.") % {"n": MAX_IDENTITY_TAGS})
    names = []
    for item in value:
        name = CONTROL_CHARS_RE.sub("", item).strip() if isinstance(item, str) else ""
        if not TAG_RE.match(name):
            raise invalid("invalid_attributes", _("A tag is 1 to 40 characters, without < or >."))
        if name not in names:
            names.append(name)
    return names


def _clean_attributes(attributes, *, verified):
    """{"name"?, "tags"?, "attributes"?: {key: value or None}} from the attributes object of a session.
    Without a verified identity only `name` is accepted: a visitor must not claim a level or tags."""
    if attributes in (None, {}):
        return {}
    if not isinstance(attributes, dict):
        raise invalid("invalid_attributes", _("attributes must be an object."))
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid("invalid_attributes", _("At most %(n)s attributes.") % {"n": MAX_ATTRIBUTES})
    if not verified and set(attributes) - {"name"}:
        raise invalid("identity_required", _("Without a verified user identity (user_id and user_hash) only the name can be set."))
    changes = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not ATTRIBUTE_KEY_RE.match(key):
            raise invalid("invalid_attributes", _("Attribute names are 1 to 40 letters, digits, _ . or -."))
        if key == "name":
            if value not in (None, ""):
                changes["name"] = _clean_name(value)
        elif key == "tags":
            changes["tags"] = _clean_identity_tags(value)
        else:
            changes.setdefault("attributes", {})[key] = _clean_attribute_value(key, value)
    return changes


def _clean_page(page, *, strict):
    """(url, title) of a page the widget reports; None when there is none (or, not strict, a bad one)."""
    try:
        if not isinstance(page, dict):
            raise invalid("invalid_page", _("The page must be an object with url and title."))
        url, title = page.get("url"), page.get("title") or ""
        if not isinstance(url, str) or not isinstance(title, str):
            raise invalid("invalid_page", _("The page must be an object with url and title."))
        url = url.strip()
        try:
            if len(url) > MAX_PAGE_URL_CHARS:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise invalid("invalid_url", _("The page address must be an http(s) URL of at most 1000 characters.")) from None
    except DomainError:
        if strict:
            raise
        return None
    return url, CONTROL_CHARS_RE.sub("", title).strip()[:MAX_PAGE_TITLE_CHARS]


def _identified_customer(inbox, user_id, name):
    """The workspace's customer with this merchant user id, created on first sight (race-safe)."""
    customer = Customer.objects.filter(workspace_id=inbox.workspace_id, external_id=user_id).first()
    if customer is not None:
        return customer
    try:
        with transaction.atomic():
            return Customer.objects.create(workspace_id=inbox.workspace_id, first_inbox=inbox, external_id=user_id, name=name)
    except IntegrityError:  # another device of the same user created it a moment ago
        return Customer.objects.get(workspace_id=inbox.workspace_id, external_id=user_id)


def _apply_customer_changes(customer, changes):
    """Caller holds a transaction. Name, attributes (null removes a key) and tags (added, never
    removed: agents manage them); last_seen_at always. Returns the customer as stored."""
    now = timezone.now()
    if not changes:
        Customer.objects.filter(pk=customer.pk).update(last_seen_at=now)
        customer.last_seen_at = now
        return customer
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if "name" in changes:
        customer.name = changes["name"]
    if "attributes" in changes:
        merged = dict(customer.attributes or {})
        for key, value in changes["attributes"].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        customer.attributes = merged
    customer.last_seen_at = now
    customer.save(update_fields=["name", "attributes", "last_seen_at"])
    if changes.get("tags"):
        _add_identity_tags(customer, changes["tags"])
    return customer


def _add_identity_tags(customer, names):
    present = set(customer.tags.filter(name__in=names).values_list("name", flat=True))
    new = [name for name in names if name not in present]
    if not new:
        return
    customer.tags.add(*[Tag.objects.get_or_create(workspace_id=customer.workspace_id, name=name)[0] for name in new])
    actor = access.customer_actor(customer, customer.first_inbox_id)
    for name in new:
        record_tag_change(customer, actor, added=name)


def _record_visit(customer_id, inbox_id, url, title):
    """Caller holds a transaction and has written the customer row (which serialises one
    customer's reports). The same page again within VISIT_DEDUPE_SECONDS is not recorded."""
    last = CustomerVisit.objects.filter(customer_id=customer_id).order_by("-created_at", "-pk").values_list("url", "created_at").first()
    if last and last[0] == url and timezone.now() - last[1] < timedelta(seconds=VISIT_DEDUPE_SECONDS):
        return False
    CustomerVisit.objects.create(customer_id=customer_id, inbox_id=inbox_id, url=url, title=title)
    return True


def record_visit(actor, page):
    """The widget reports a page the customer opened. Returns whether it was recorded (False: a repeat)."""
    if not actor.is_customer:
        raise forbidden()
    url, title = _clean_page(page, strict=True)
    with transaction.atomic():
        Customer.objects.filter(pk=actor.customer_id).update(last_seen_at=timezone.now())
        return _record_visit(actor.customer_id, actor.inbox_id, url, title)
