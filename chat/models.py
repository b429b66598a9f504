import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import ObjectPermissionRow


def new_public_key():
    return secrets.token_urlsafe(18)


def new_secret():
    return secrets.token_urlsafe(32)


PRECHAT_TYPES = ("text", "email", "tel", "textarea")
PRECHAT_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Set only by the merchant's verified identity (they steer routing): never by a form the customer fills.
PRECHAT_RESERVED_KEYS = frozenset({"level", "tags"})
MAX_PRECHAT_FIELDS = 10


def validate_prechat_fields(fields):
    """Raise ValidationError unless `fields` is a list of {"key", "label", "type", "required"}
    (keys: "name", "phone", "email" or other lowercase slugs; no duplicates)."""
    if not isinstance(fields, list):
        raise ValidationError(_("Pre-chat fields must be a list."))
    if len(fields) > MAX_PRECHAT_FIELDS:
        raise ValidationError(_("At most %(n)s pre-chat fields.") % {"n": MAX_PRECHAT_FIELDS})
    seen = set()
    for index, field in enumerate(fields, start=1):
        if not isinstance(field, dict) or set(field) - {"key", "label", "type", "required"}:
            raise ValidationError(_("Pre-chat field %(n)s must be an object with key, label, type and required.") % {"n": index})
        key, label = field.get("key"), field.get("label")
        if not isinstance(key, str) or not PRECHAT_KEY_RE.match(key) or key in PRECHAT_RESERVED_KEYS:
            raise ValidationError(
                _("Pre-chat field %(n)s: the key must be 1-40 lowercase letters, digits, - or _ (not level or tags).") % {"n": index}
            )
        if key in seen:
            raise ValidationError(_("Pre-chat field key %(key)s is used twice.") % {"key": key})
        seen.add(key)
        if not isinstance(label, str) or not label.strip() or len(label) > 80:
            raise ValidationError(_("Pre-chat field %(n)s needs a label of 1-80 characters.") % {"n": index})
        if field.get("type", "text") not in PRECHAT_TYPES:
            raise ValidationError(_("Pre-chat field %(n)s: the type must be text, email, tel or textarea.") % {"n": index})
        if not isinstance(field.get("required", False), bool):
            raise ValidationError(_("Pre-chat field %(n)s: required must be true or false.") % {"n": index})


class Inbox(models.Model):
    """A channel through which customers reach a workspace (a site, an app, a mini program...)."""

    class Kind(models.TextChoices):
        WEB = "web", _("Web widget")
        APP = "app", _("App")
        WECHAT_MP = "wechat_mp", _("WeChat mini program")
        WECHAT_OA = "wechat_oa", _("WeChat official account")
        WECOM_KF = "wecom_kf", _("WeCom customer service")
        EMAIL = "email", _("E-mail")
        API = "api", _("API")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="inboxes")
    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.WEB)
    # Public: embedded in the widget snippet; identifies the inbox, grants nothing else.
    public_key = models.CharField(_("public key"), max_length=40, unique=True, default=new_public_key)
    # Private: signs merchant-side identities (HMAC of the merchant's user id).
    secret = models.CharField(_("secret"), max_length=64, default=new_secret)
    bot_first = models.BooleanField(_("bot answers first"), default=False,
                                    help_text=_("The deflection bot answers from the knowledge base before a person does."))
    bot_handoff_keywords = models.CharField(
        _("words that ask for a person"), max_length=300, blank=True, default="转人工,人工,人工客服,真人,轉人工,人工客服,human,agent,person",
        help_text=_("Comma-separated. A customer message containing one goes to a person at once."))
    bot_max_misses = models.PositiveSmallIntegerField(
        _("questions the bot may miss"), default=2, help_text=_("After this many unanswered questions the chat goes to a person."))
    # routing.hours format; empty: always open. Outside these hours customers leave a message.
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    leave_message_when_nobody_online = models.BooleanField(_("leave a message when no agent is online"), default=False)
    # The widget: its welcome line, the pre-chat form (see validate_prechat_fields), satisfaction survey.
    widget_greeting = models.CharField(_("widget greeting"), max_length=300, blank=True)
    # The widget's look (the admin's widget editor; the frame and the loader apply it).
    widget_title = models.CharField(_("title in the chat window"), max_length=40, blank=True,
                                    help_text=_("Empty: the inbox's name."))
    widget_color = models.CharField(_("theme colour"), max_length=7, default="#0b5cad",
                                    validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Choose a colour such as #0b5cad."))])
    widget_position = models.CharField(_("button position"), max_length=5, default="right",
                                       choices=[("right", _("Bottom right")), ("left", _("Bottom left"))])
    widget_launcher_text = models.CharField(_("button text"), max_length=12, blank=True,
                                            help_text=_("Shown beside the chat icon, e.g. 在线客服. Empty: the icon alone."))
    widget_language = models.CharField(_("widget language"), max_length=7, blank=True, default="",
                                       choices=[("", _("Follow the page or browser")), ("zh-hans", "简体中文"), ("zh-hant", "繁體中文"), ("en", "English")])
    # The uploaded brand picture's storage name (chat.avatars), in the widget's header and beside agents' messages.
    widget_avatar = models.CharField(_("avatar"), max_length=200, blank=True, default="")
    prechat_fields = models.JSONField(_("pre-chat form fields"), default=list, blank=True)
    csat_enabled = models.BooleanField(_("ask customers to rate finished conversations"), default=True)
    # Deadlines (chat.scheduler): 0 turns each off.
    auto_resolve_minutes = models.PositiveIntegerField(
        _("auto-resolve after minutes of silence"), default=0,
        help_text=_("Resolve an open conversation when nobody has written for this long (0: never)."))
    # Phone-first agents miss a chat now and then: by default the unanswered chat only goes to someone else.
    answer_timeout_marks_away = models.BooleanField(
        _("set an agent who does not answer in time to away"), default=False,
        help_text=_("An assigned chat nobody answers in time always goes to another agent; with this on, the silent agent is also set to away and gets no new chats until they come back."))
    queue_timeout_minutes = models.PositiveIntegerField(
        _("queue timeout in minutes"), default=0,
        help_text=_("A chat waiting this long in a group's queue is offered to every agent of the inbox, or becomes a message when nobody is on duty (0: never)."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("inbox")
        verbose_name_plural = _("inboxes")
        permissions = [("reply_in_inbox", _("Can serve and reply in this inbox"))]

    def __str__(self):
        return self.name

    @property
    def widget_avatar_url(self):  # our media view: an upload's rules, whichever storage holds it
        return f"{settings.MEDIA_URL}{self.widget_avatar}" if self.widget_avatar else ""

    def clean(self):
        super().clean()
        try:
            validate_prechat_fields(self.prechat_fields)
        except ValidationError as exc:
            raise ValidationError({"prechat_fields": exc.messages}) from None


class InboxUserPermission(ObjectPermissionRow):
    """Guardian object permissions on an inbox (direct foreign key). A user holding
    `chat.reply_in_inbox` serves the inbox: gets its conversations live and may reply.
    Grant and revoke through chat.staff (audit + live revocation)."""

    content_object = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="user_permissions")

    class Meta(ObjectPermissionRow.Meta):
        verbose_name = _("inbox permission")
        verbose_name_plural = _("inbox permissions")


class Tag(models.Model):
    """A label agents put on customers (and routing rules match on)."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="uniq_tag_name")]

    def __str__(self):
        return self.name


def new_public_id():
    return secrets.token_urlsafe(16)


class Customer(models.Model):
    """A visitor's identity within one workspace (anonymous or identified by the merchant)."""

    # What visitor tokens name instead of the pk: a token forged with a leaked key must still guess 128 bits.
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="customers")
    first_inbox = models.ForeignKey(Inbox, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("first inbox"))
    external_id = models.CharField(_("merchant user id"), max_length=128, null=True, blank=True)
    name = models.CharField(_("name"), max_length=120, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    # The last chat session's address as rate limits count it (an IPv6 /64): what a block covers (chat.blocks).
    last_ip = models.CharField(_("last address"), max_length=64, blank=True)
    # Set by an agent (0-9), wins while set; None: the merchant's signed `vip_level` (chat.customers.queue_level).
    vip_level = models.PositiveSmallIntegerField(_("VIP level set by an agent"), null=True, blank=True)
    # An anonymous visitor who logged in: their history moved to this customer (chat.customers.merge_visitor).
    merged_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                    verbose_name=_("merged into"))

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=Q(external_id__isnull=False), name="uniq_customer_external_id"
            )
        ]

    def __str__(self):
        return self.name or f"#{self.pk}"

    @property
    def display_name(self):
        return self.name or _("Visitor %(id)s") % {"id": self.pk}


class CustomerNote(models.Model):
    """A note agents keep on a customer (not on one conversation): shown wherever the customer is."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes", verbose_name=_("customer"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("author"))
    text = models.TextField(_("text"), max_length=1000)
    created_at = models.DateTimeField(_("written at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer note")
        verbose_name_plural = _("customer notes")
        indexes = [models.Index(fields=["customer", "-created_at"], name="customer_note_recent")]

    def __str__(self):
        return self.text[:40]


class CustomerBlock(models.Model):
    """黑名单: a customer whose messages the workspace refuses until expires_at (None: until lifted).
    A block with the address also covers every other visitor opening a chat from it: they get a
    block of their own (source: this one) when their session opens (chat.blocks)."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="blocks", verbose_name=_("customer"))
    ip = models.CharField(_("address"), max_length=64, blank=True)
    source = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="derived")
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+",
                                   verbose_name=_("blocked by"))
    created_at = models.DateTimeField(_("blocked at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("until"), null=True, blank=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                  verbose_name=_("lifted by"))

    class Meta:
        verbose_name = _("blocked customer")
        verbose_name_plural = _("blocklist")
        constraints = [
            # One open block per customer: two agents blocking at once store one (the other is told it exists).
            models.UniqueConstraint(fields=["customer"], condition=Q(lifted_at__isnull=True), name="uniq_open_block"),
        ]
        indexes = [models.Index(fields=["workspace", "ip"], condition=Q(lifted_at__isnull=True) & ~Q(ip=""), name="block_open_ip")]

    def __str__(self):
        return str(self.customer)

    def in_force(self, now):
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


class Conversation(models.Model):
    class State(models.TextChoices):
        BOT = "bot", _("With bot")
        QUEUED = "queued", _("Queued")
        ASSIGNED = "assigned", _("Assigned")
        PENDING = "pending", _("Pending")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    OPEN_STATES = (State.BOT, State.QUEUED, State.ASSIGNED, State.PENDING)

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="conversations")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.QUEUED)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_conversations"
    )
    group = models.ForeignKey("routing.AgentGroup", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    entry_page = models.URLField(_("entry page"), max_length=1000, blank=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    # 留言: left outside business hours or with nobody online; agents take it from their leave-a-message list.
    is_leave_message = models.BooleanField(_("left as a message"), default=False)
    vip_level = models.PositiveSmallIntegerField(_("VIP level"), default=0)
    # Highest seq handed out; bumped under the row lock in the same transaction as the insert.
    last_seq = models.PositiveBigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Pending until then (snoozed); the sweep or the customer's next message wakes it.
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # 咨询分类: chosen by the agent at resolve (chat.wrapup); its wrapped_up event keeps the name of the moment.
    disposition = models.ForeignKey("Disposition", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                    verbose_name=_("wrap-up category"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["inbox", "state", "-last_message_at"], name="conv_inbox_state"),
            models.Index(fields=["customer", "-created_at"], name="conv_customer"),
            # Routing counts each agent's open chats (load snapshot, capacity check under lock).
            models.Index(fields=["workspace", "state", "assignee"], name="conv_ws_state_assignee"),
            # Newest activity first within a workspace (actions.conversations_for: DESC, nulls first).
            models.Index(fields=["workspace", "-last_message_at", "-id"], name="conv_ws_recent"),
            # The console lists order DESC NULLS LAST; PostgreSQL reads an index in that order only if
            # the index says NULLS LAST too, which SQLite cannot declare: conv_ws_recent_console
            # (workspace, last_message_at DESC NULLS LAST, id DESC) is created on PostgreSQL only, by
            # migration 0010 (SQLite's DESC already puts NULLs last).
        ]

    def __str__(self):
        return f"#{self.pk} {self.customer} ({self.get_state_display()})"

    @property
    def is_open(self):
        return self.state in self.OPEN_STATES


class SenderKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    AGENT = "agent", _("Agent")
    BOT = "bot", _("Bot")
    SYSTEM = "system", _("System")


class Message(models.Model):
    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        FILE = "file", _("File")
        CARD = "card", _("Card")
        ARTICLE = "article", _("Article")
        EVENT = "event", _("Event")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    sender_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    sender_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sender_customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # "c:<customer id>", "u:<user id>", "bot", "system": one column so idempotency is one unique constraint.
    sender_key = models.CharField(max_length=40)
    # Denormalised so history pages need no joins.
    sender_name = models.CharField(max_length=120, blank=True)
    client_msg_id = models.CharField(max_length=64, blank=True, default="")
    msg_type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    # Plain text, never trusted as markup: renderers must escape it.
    body = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    is_private = models.BooleanField(_("private note"), default=False)
    recalled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="uniq_message_seq"),
            # Per sender across conversations: a retry after the conversation was resolved (and a
            # new one opened) must find the original, not store the message again.
            models.UniqueConstraint(
                fields=["sender_key", "client_msg_id"],
                condition=~Q(client_msg_id=""),
                name="uniq_message_sender_client_id",
            ),
        ]

    @property
    def is_recalled(self):
        return self.recalled_at is not None


class ConversationEvent(models.Model):
    """Every state change of a conversation, with actor and time: timelines and metrics read these."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        STATE_CHANGED = "state_changed", _("State changed")
        ASSIGNED = "assigned", _("Assigned")
        ROUTED = "routed", _("Queued or pooled by routing")
        TRANSFERRED = "transferred", _("Transferred")
        SNOOZED = "snoozed", _("Snoozed")
        WOKEN = "woken", _("Woken from snooze")
        TAGGED = "tagged", _("Customer tags changed")
        BOT_ANSWERED = "bot_answered", _("Answered by the bot")
        BOT_SUGGESTED = "bot_suggested", _("Bot suggested articles")
        HANDED_OFF = "handed_off", _("Handed to a person")
        FIRST_RESPONSE = "first_response", _("First response")
        MESSAGE_RECALLED = "message_recalled", _("Message recalled")
        RATED = "rated", _("Rated by the customer")
        AUTO_REPLIED = "auto_replied", _("Auto-reply sent")
        HOSTED = "hosted", _("Hosting reply sent")
        FLAGGED = "flagged", _("Sensitive words found")
        CSAT_PROMPTED = "csat_prompted", _("Rating requested")
        WRAPPED_UP = "wrapped_up", _("Wrap-up category chosen")
        CONTACT_LEFT = "contact_left", _("Contact details left")
        BLOCKED = "blocked", _("Customer blocked")
        UNBLOCKED = "unblocked", _("Customer unblocked")
        MERGED = "merged", _("Visitor merged into a customer")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12, blank=True)
    actor_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("conversation event")
        verbose_name_plural = _("conversation events")
        ordering = ["id"]

    @classmethod
    def record(cls, conversation, kind, actor=None, *, from_state="", to_state="", data=None):
        """Write one timeline row. actor: who did it (an access actor); None is the system
        (routing, the scheduler)."""
        return cls.objects.create(
            conversation=conversation, kind=kind, from_state=from_state, to_state=to_state,
            actor_kind=actor.kind if actor else SenderKind.SYSTEM,
            actor_user_id=actor.user_id if actor else None,
            actor_customer_id=actor.customer_id if actor else None,
            data=data or {},
        )


class ReadState(models.Model):
    """How far one participant (a customer or an agent) has read a conversation."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_states")
    participant_key = models.CharField(max_length=40)
    last_read_seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "participant_key"], name="uniq_read_state")]


class CustomerVisit(models.Model):
    """One page the customer opened (the widget reports them): the visit trail in the agent's panel."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="visits")
    inbox = models.ForeignKey(Inbox, on_delete=models.SET_NULL, null=True, related_name="+")
    url = models.URLField(_("page"), max_length=1000)
    title = models.CharField(_("title"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [models.Index(fields=["customer", "-created_at"], name="visit_customer_recent")]


class SatisfactionRating(models.Model):
    """The customer's rating of a finished conversation (CSAT), credited to the agent who had it then."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="rating", verbose_name=_("conversation"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ratings", verbose_name=_("customer"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("agent")
    )
    rating = models.PositiveSmallIntegerField(_("rating"))
    # Plain text, never trusted as markup: renderers must escape it.
    comment = models.TextField(_("comment"), max_length=1000, blank=True)
    # Codes of chat.ratings.REASONS the customer ticked (what went well, or what did not).
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")
        constraints = [models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="rating_1_to_5")]


class PushSubscription(models.Model):
    """One browser or phone of an agent that accepted Web Push (a service worker subscription)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")


class Deadline(models.Model):
    """Something that must happen to a conversation at a time, stored as a row so it survives
    restarts and fires exactly once whatever the number of scheduler processes (chat.scheduler)."""

    class Kind(models.TextChoices):
        NO_ANSWER = "no_answer", _("Hosting reply when nobody answered")
        QUEUE_TIMEOUT = "queue_timeout", _("Queue timeout")
        AUTO_RESOLVE = "auto_resolve", _("Auto-resolve after inactivity")
        CSAT_PROMPT = "csat_prompt", _("Rating request")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        FIRED = "fired", _("Fired")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="deadlines")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    due_at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("deadline")
        verbose_name_plural = _("deadlines")
        constraints = [
            # One pending deadline of a kind per conversation: scheduling again moves it.
            models.UniqueConstraint(fields=["conversation", "kind"], condition=Q(state="pending"), name="one_pending_deadline"),
        ]
        indexes = [models.Index(fields=["due_at", "id"], condition=Q(state="pending"), name="deadline_due")]

    def __str__(self):
        return f"{self.kind} #{self.conversation_id} @ {self.due_at:%Y-%m-%d %H:%M}"


class Participant(models.Model):
    """An agent took part in a conversation (was assigned it, or wrote in it): their own
    history keeps it after a transfer (chat.access.visible_conversations)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="uniq_participant")]

    @classmethod
    def add(cls, conversation_id, user_id):
        """One statement, whoever else adds the same row at the same time."""
        cls.objects.bulk_create([cls(conversation_id=conversation_id, user_id=user_id)], ignore_conflicts=True)


class StoredUpload(models.Model):
    """One file stored by uploads.store_upload: it counts against its workspace's storage quota
    (settings.UPLOADS) until the sweep deletes it for never being attached (lifecycle.storage)."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=200, unique=True)  # the storage name, e.g. uploads/3/2026/05/<hex>.png
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the sweep once a message or quick phrase refers to the file: kept from then on.
    attached = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["attached", "created_at"], name="upload_unattached")]


class WrapUpSettings(models.Model):
    """咨询分类 of one workspace: the categories an agent chooses from when resolving a conversation
    (edited by the owner in the admin, one form row per category) and whether one is required."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="wrap_up",
                                     verbose_name=_("workspace"))
    required = models.BooleanField(_("require a category at resolve"), default=False,
                                   help_text=_("Agents cannot resolve a conversation without choosing one of the categories in use."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("wrap-up categories")
        verbose_name_plural = _("wrap-up categories")

    def __str__(self):
        return str(self.workspace)


class Disposition(models.Model):
    """One wrap-up category (退货, 物流, 发票…). Not in use: no longer offered; conversations keep it."""

    wrap_up = models.ForeignKey(WrapUpSettings, on_delete=models.CASCADE, related_name="dispositions")
    name = models.CharField(_("name"), max_length=40)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("wrap-up category")
        verbose_name_plural = _("wrap-up categories")
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["wrap_up", "name"], name="uniq_disposition_name")]

    def __str__(self):
        return self.name
