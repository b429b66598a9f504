"""Tenant isolation, generated from the URL resolver, the admin registry and the WebSocket
consumers' frame handlers (issue 14).

Two workspaces hold one object of every kind. For every role of workspace A (founder, senior
admin, admin, agent, verifier), an anonymous visitor, a customer's visitor token and an API
token, every URL that names an object answers for workspace B's object exactly as for one that
does not exist: same status, same error code, same redirect, and no trace of B's object (its
names are all marked "Zebra") in either body. Every agent frame and customer frame that names a
conversation, message, agent or group answers B's id with the same error as a missing one.

Nothing is listed by hand but what each parameter means: a parameterised URL, an admin, or a
frame field that the tables below do not know fails test_every_parameter_is_known, so whoever
adds one says what it names, and from then on it is covered. A positive control checks that the
tables name the right objects (workspace A's own object answers differently from a missing one
for the founder), so the comparison can never pass because every value was wrong."""

import inspect
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import tokens
from accounts.admin_scope import WorkspaceScopedAdmin
from accounts.models import AuditLog, CustomRole, Invite, Membership, Role
from chat.models import Conversation, Customer, CustomerBlock, CustomerNote, Disposition, Inbox, Message, SatisfactionRating, WrapUpSettings
from chat.tests.wsutil import connect_agent, connect_customer, frame, frames_until, send_json, session_cookie
from conftest import make_agent, send, verified_client
from helpdesk.asgi import application
from knowledge import search as knowledge_search
from knowledge.models import Article, ArticleVersion, Category, SynonymGroup, UnansweredQuestion
from knowledge.rendering import render_markdown
from connectors.models import ChannelAccount, ChannelUser, OutboundMessage
from lifecycle.models import FollowUp
from orders.models import Voucher
from replies.models import AutoReplyRule, QuickPhrase, ReplySettings, SensitiveWordList
from reports import rollups
from reports.rollups import zone
from routing.models import AgentGroup, AgentPresence, ServiceAlertBreach, ServiceAlertRule
from surfaces.consumers import AgentConsumer, CustomerConsumer

MARK_A, MARK_B = "Aardvark", "Zebra"
# Text of workspace B that no answer to workspace A's people may contain (the personas name
# B "Shop Z", its inbox "Site Z", its agent "agent_z"; everything else made here says Zebra).
B_TEXTS = (MARK_B, "Shop Z", "Site Z", "agent_z")
MISSING_ID = 987654321
MISSING_SLUG = "no-such-slug"

# --- what each parameter names ---------------------------------------------------------------

CONVERSATION, CUSTOMER, MESSAGE, MEMBERSHIP, INBOX = "conversation", "customer", "message", "membership", "inbox"
API_TOKEN, PHRASE, KB_CATEGORY, KB_ARTICLE = "api token", "quick phrase", "help-center category", "help-center article"
AGENT_USER, AGENT_GROUP = "agent (user id)", "agent group"
INBOX_KEY = "WeChat inbox (public key)"
CHANNEL_MESSAGE = "message sent to a channel (failed delivery)"
CUSTOMER_BLOCK = "customer block (黑名单)"
CUSTOMER_NOTE = "customer note"

# Parameters that do not name a workspace's object: always workspace A's value, never varied.
HELP_CENTER = "help center (workspace slug: public, the URL's own workspace)"
LOCALE = "help-center locale"
CONTENT_TYPE = "content type (installation-wide)"
CHANNEL_MEDIA = "channel media id (the platform's, not a row)"
REPORT_TABLE = "report table (a name: timeline, breakdown...)"
EXPORT_FORMAT = "export format (csv, xlsx)"
CONTEXT = {HELP_CENTER, LOCALE, CONTENT_TYPE, CHANNEL_MEDIA, REPORT_TABLE, EXPORT_FORMAT}

_HELP = {"workspace": HELP_CENTER, "locale": LOCALE}
_CONSOLE_CONVERSATION = ("row", "conversation", "pane", "history", "messages", "state", "snooze")

# (URL name, parameter) -> kind. A new parameterised URL must be added here (or to EXEMPT).
URL_PARAMS = {
    "api-member": {"membership_id": MEMBERSHIP},
    "api-inbox-access": {"inbox_id": INBOX, "membership_id": MEMBERSHIP},
    "api-token": {"token_id": API_TOKEN},
    **{f"console:{name}": {"conversation_id": CONVERSATION} for name in _CONSOLE_CONVERSATION},
    "console:tag-add": {"customer_id": CUSTOMER},
    "console:tag-remove": {"customer_id": CUSTOMER},
    "console:customer-block": {"customer_id": CUSTOMER},
    "console:block-lift": {"block_id": CUSTOMER_BLOCK},
    "console:customer": {"customer_id": CUSTOMER},
    "console:customer-note-add": {"customer_id": CUSTOMER},
    "console:customer-note-delete": {"note_id": CUSTOMER_NOTE},
    "console:customer-level": {"customer_id": CUSTOMER},
    "console:customer-contact": {"customer_id": CUSTOMER},
    "console:phrase-use": {"phrase_id": PHRASE},
    "console:phrase-edit": {"phrase_id": PHRASE},
    "console:phrase-delete": {"phrase_id": PHRASE},
    "console:history-transcript": {"conversation_id": CONVERSATION},
    "console:history-transcript-export": {"conversation_id": CONVERSATION},
    "console:reports-export": {"table": REPORT_TABLE, "fmt": EXPORT_FORMAT},
    "knowledge:root": {"workspace": HELP_CENTER},
    "knowledge:sitemap": {"workspace": HELP_CENTER},
    "knowledge:home": _HELP,
    "knowledge:search": _HELP,
    "knowledge:search-json": _HELP,
    "knowledge:category": {**_HELP, "category": KB_CATEGORY},
    "knowledge:article": {**_HELP, "article": KB_ARTICLE},
    "knowledge:vote": {**_HELP, "article": KB_ARTICLE},
    "chat:api-messages": {"conversation_id": CONVERSATION},
    "chat:api-read": {"conversation_id": CONVERSATION},
    "chat:api-state": {"conversation_id": CONVERSATION},
    "chat:api-customer-rating": {"conversation_id": CONVERSATION},
    "chat:api-customer-handoff": {"conversation_id": CONVERSATION},
    "chat:api-customer-contact": {"conversation_id": CONVERSATION},
    "chat:api-customer-bot-feedback": {"conversation_id": CONVERSATION},
    "admin:view_on_site": {"content_type_id": CONTENT_TYPE, "object_id": CONVERSATION},
    "connectors:media": {"public_key": INBOX_KEY, "media_id": CHANNEL_MEDIA},
    "connectors:outbound-retry": {"message_id": CHANNEL_MESSAGE},
}

# Parameterised URLs that name no workspace object, or where the value itself is the credential.
EXEMPT = {
    "accounts:invite-accept": "the link's secret is the credential (single use, expiring): any holder may open it",
    "chat:media": "uploads are served by unguessable name to whoever holds the link (surfaces/api/uploads.py)",
    "admin:app_list": "an app label, not a row",
    "connectors:wechat-callback": "called by WeChat, signed with the inbox's Token (connectors/views.py); answers no workspace data",
    "admin/(?P<url>.*)$": "the admin's catch-all: the same answer for any path",
}

# Parameters of a ModelAdmin's own views name a row of its model (the admin registry says which).
ADMIN_OBJECT_PARAMS = {"object_id", "pk", "id"}

# Admins of installation-level models (no workspace): which row "belongs" to workspace B.
INSTALLATION_ROWS = {
    "auth.user": lambda side: side.agent_user,
    "auth.group": lambda side: side.auth_group,
    "axes.accessattempt": lambda side: side.axes_attempt,
    "axes.accesslog": lambda side: side.axes_log,
    "axes.accessfailurelog": lambda side: side.axes_failure,
    "otp_totp.totpdevice": lambda side: side.totp_device,
}

# A minimal valid body, so a request gets past input validation to the lookup it is about.
BODIES = {
    "console:state": {"state": "resolved"},
    "console:snooze": {"until": "1h"},
    "console:tag-add": {"name": "vip"},
    "console:tag-remove": {"name": "vip"},
    "console:customer-block": {"reason": "spam", "days": 7},
    "console:customer-note-add": {"text": "a note"},
    "console:customer-level": {"level": 3},
    "console:customer-contact": {"body": "hello", "client_msg_id": "iso-outreach"},
    "console:phrase-edit": {"title": "t", "shortcut": "t", "body": "t"},
    "api-member": {"role": "agent"},
    "api-inbox-access": {"granted": False},
    "knowledge:vote": {"helpful": True},
    "chat:api-messages": {"client_msg_id": "iso-1", "body": "hello"},
    "chat:api-read": {"seq": 1},
    "chat:api-state": {"state": "resolved"},
    "chat:api-customer-rating": {"rating": 5, "comment": "ok"},
    "chat:api-customer-contact": {"phone": "13800138000"},
    "chat:api-customer-bot-feedback": {"message_id": 1, "resolved": True},
}

# WebSocket frame fields that name an object; fields of one group are alternatives (one per frame).
FRAME_FIELDS = {"conversation_id": CONVERSATION, "message_id": MESSAGE, "to_agent_id": AGENT_USER, "to_group_id": AGENT_GROUP}
FRAME_ALTERNATIVES = ({"to_agent_id", "to_group_id"},)
# *_id fields that name nothing of a workspace.
FRAME_NOT_OBJECTS = {"client_msg_id": "the sender's own idempotency key (looked up by sender: chat.messages._sent_before)"}
FRAME_EXTRAS = {"send": {"client_msg_id": "iso-ws", "body": "hello"}, "read": {"seq": 1}, "resume": {"after_seq": 0}}


# --- the URLs, from the resolver ---------------------------------------------------------------

PARAM_RE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name"; the pattern itself when unnamed
    route: str
    params: tuple
    callback: object

    @property
    def model_admin(self):
        """The ModelAdmin behind an admin page: its views carry it, or wrap one of its bound methods."""
        view = self.callback
        while view is not None:
            for candidate in (getattr(view, "model_admin", None), getattr(view, "__self__", None)):
                if isinstance(candidate, ModelAdmin):
                    return candidate
            view = getattr(view, "__wrapped__", None)
        return None

    def path(self, values):
        assert "(?P<" not in self.route, f"{self.name}: a regex route; give it a path() converter or exempt it"
        return "/" + PARAM_RE.sub(lambda m: quote(str(values[m.group(1)]), safe=""), self.route)

    def methods(self):
        if self.model_admin is not None:
            return ["get", "post"]
        cls = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)
        if cls is None:
            return ["get", "post"]  # a function view: try both (a refusal of the method is an answer too)
        return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)]


def parameterised_routes():
    found = []

    def walk(patterns, prefix, namespace, inherited):
        for entry in patterns:
            params = inherited + tuple(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), ":".join(filter(None, (namespace, entry.namespace))), params)
            elif params:
                route = prefix + str(entry.pattern)
                name = (f"{namespace}:{entry.name}" if namespace else entry.name) if entry.name else route
                found.append(Route(name, route, params, entry.callback))

    walk(get_resolver().url_patterns, "", "", ())
    return found


def admin_kind(model_admin):
    return ("admin row", model_admin.model._meta.label_lower)


def kinds_of(route):
    """{parameter: kind} for a route; raises KeyError naming what is unknown."""
    known = dict(URL_PARAMS.get(route.name, {}))
    if route.model_admin is not None:
        for param in ADMIN_OBJECT_PARAMS & set(route.params):
            known.setdefault(param, admin_kind(route.model_admin))
    unknown = [p for p in route.params if p not in known]
    if unknown:
        raise KeyError(f"{route.name} ({route.route}): {unknown}")
    return known


def checked_routes():
    return [(route, kinds_of(route)) for route in parameterised_routes() if route.name not in EXEMPT]


def frame_fields(consumer):
    """{frame type: [*_id fields its handler reads]} from the handlers' source."""
    pattern = re.compile(r"""frame(?:\.get\(\s*|\[\s*)["'](\w+_id)["']""")
    return {frame_type: sorted(set(pattern.findall(inspect.getsource(handler)))) for frame_type, handler in consumer.handlers.items()}


def registered_admins(scoped):
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if isinstance(model_admin, WorkspaceScopedAdmin) == scoped]


def test_every_parameter_is_known():
    """The guarantee that new URLs, admins and frames are covered: each must be described."""
    problems = []
    routes = parameterised_routes()
    for route in routes:
        if route.name in EXEMPT:
            continue
        try:
            kinds_of(route)
        except KeyError as exc:
            problems.append(f"URL {exc.args[0]}: add the parameter to URL_PARAMS (what object does it name?) or the URL to EXEMPT")
    names = {route.name for route in routes}
    problems += [f"URL_PARAMS/EXEMPT name {name!r}, which no longer exists: remove it" for name in (*URL_PARAMS, *EXEMPT) if name not in names]
    for model, _admin in registered_admins(scoped=False):
        if model._meta.label_lower not in INSTALLATION_ROWS:
            problems.append(f"admin of {model._meta.label_lower} is not workspace-scoped and not in INSTALLATION_ROWS")
    for consumer in (AgentConsumer, CustomerConsumer):
        for frame_type, fields in frame_fields(consumer).items():
            problems += [f"frame {frame_type!r} of {consumer.__name__} reads {f!r}: add it to FRAME_FIELDS" for f in fields if f not in FRAME_FIELDS and f not in FRAME_NOT_OBJECTS]
    assert problems == [], "\n".join(problems)
    # The walk sees what it must: the API, the console, the help center and every admin's object pages.
    names_seen = {route.name for route in routes}
    assert {"chat:api-messages", "console:pane", "knowledge:article", "api-member"} <= names_seen
    for model in admin.site._registry:
        label = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert {f"{label}_change", f"{label}_delete", f"{label}_history"} <= names_seen, label


# --- two workspaces, one object of every kind in each --------------------------------------------


def populate(workspace, inbox, founder_user, agent_user, visitor, mark):
    """One object of every kind in `workspace`, each named with `mark` where a page could show it."""
    s = SimpleNamespace(workspace=workspace, inbox=inbox, founder_user=founder_user, agent_user=agent_user)
    low = mark.lower()
    s.message, _ = send(visitor, f"{mark} message")
    s.conversation = Conversation.objects.get(pk=s.message.conversation_id)
    s.customer = Customer.objects.get(pk=s.conversation.customer_id)
    Customer.objects.filter(pk=s.customer.pk).update(name=f"{mark} customer")
    s.membership = Membership.objects.get(workspace=workspace, user=agent_user)
    s.founder_membership = Membership.objects.get(workspace=workspace, user=founder_user)
    s.token, s.token_key = tokens.issue(s.founder_membership, f"{mark} token")
    s.group = AgentGroup.objects.create(workspace=workspace, name=f"{mark} group")
    ServiceAlertRule.objects.create(group=s.group, max_queue_length=5)  # 预警: the group's thresholds and an open breach (banner, log)
    ServiceAlertBreach.objects.create(workspace=workspace, group=s.group, metric="queue_length", value=9, threshold=5, opened_at=timezone.now())
    s.phrase = QuickPhrase.objects.create(workspace=workspace, scope="workspace", title=f"{mark} phrase", shortcut=f"{low}-hi", body=f"{mark} text")
    s.personal_phrase = QuickPhrase.objects.create(workspace=workspace, scope="personal", owner=founder_user, title=f"{mark} own phrase",
                                                   shortcut=f"{low}-mine", body=f"{mark} own text")
    s.category = Category.objects.create(workspace=workspace, slug=f"{low}-topic", name_en=f"{mark} topic", name_zh_hans=f"{mark} 分类")
    s.article = Article.objects.create(workspace=workspace, slug=f"{low}-guide", category=s.category, status=Article.Status.PUBLISHED,
                                       published_at=timezone.now())
    ArticleVersion.objects.create(article=s.article, locale="en", title=f"{mark} guide", body=f"{mark} body",
                                  body_html=render_markdown(f"{mark} body"))
    CustomRole.objects.create(workspace=workspace, name=f"{mark} role")
    SynonymGroup.objects.create(workspace=workspace, phrases=f"{mark} word\n{mark} phrase")
    UnansweredQuestion.objects.create(workspace=workspace, normalised=f"{low} question", text=f"{mark} question", reason="suggested",
                                      count=1, last_asked_at=timezone.now())
    Invite.objects.create(workspace=workspace, email=f"{low}@example.com", display_name=f"{mark} invitee", token_hash=secrets.token_hex(32),
                          expires_at=timezone.now() + timedelta(days=1))
    SatisfactionRating.objects.create(conversation=s.conversation, customer=s.customer, rating=4, comment=f"{mark} comment")
    AgentPresence.objects.get_or_create(workspace=workspace, user=agent_user)
    Voucher.objects.create(workspace=workspace, customer=s.customer, code=f"{mark}-0001", title=f"{mark} voucher")
    ReplySettings.objects.create(workspace=workspace, inbox=inbox, resolved_message=f"{mark} resolved line")
    s.note = CustomerNote.objects.create(workspace=workspace, customer=s.customer, author=founder_user, text=f"{mark} customer note")
    s.block = CustomerBlock.objects.create(workspace=workspace, customer=s.customer, reason=f"{mark} block reason", created_by=founder_user)
    Disposition.objects.create(wrap_up=WrapUpSettings.objects.create(workspace=workspace), name=f"{mark} wrap-up category")
    AutoReplyRule.objects.create(workspace=workspace, name=f"{mark} rule", keywords=f"{low}-keyword", reply_text=f"{mark} reply", enabled=False)
    SensitiveWordList.objects.create(workspace=workspace, name=f"{mark} words", words=f"{low}-word", enabled=False)
    FollowUp.objects.create(workspace=workspace, conversation=s.conversation, kind=FollowUp.Kind.PUSH_MESSAGE, run_after=timezone.now(),
                            state=FollowUp.State.FAILED, last_error=f"{mark} error")
    # A WeChat inbox with a conversation whose agent reply failed to reach WeChat
    s.wechat_inbox = Inbox.objects.create(workspace=workspace, name=f"{mark} WeChat", kind=Inbox.Kind.WECHAT_OA)
    ChannelAccount.objects.create(inbox=s.wechat_inbox, app_id=f"{mark}app", token="tok123")
    wx_customer = Customer.objects.create(workspace=workspace, first_inbox=s.wechat_inbox, name=f"{mark} WeChat customer")
    channel_user = ChannelUser.objects.create(inbox=s.wechat_inbox, customer=wx_customer, external_id=f"{low}-openid")
    wx_conversation = Conversation.objects.create(workspace=workspace, inbox=s.wechat_inbox, customer=wx_customer, last_seq=1,
                                                  state=Conversation.State.ASSIGNED, assignee=founder_user)
    s.channel_message = Message.objects.create(conversation=wx_conversation, seq=1, sender_kind="agent", sender_user=founder_user,
                                               sender_key=f"u{founder_user.pk}", client_msg_id=f"{low}-wx", body=f"{mark} WeChat reply")
    OutboundMessage.objects.create(message=s.channel_message, inbox=s.wechat_inbox, channel_user=channel_user,
                                   state=OutboundMessage.State.FAILED, error=f"{mark} delivery error")
    assert AuditLog.objects.filter(workspace=workspace).exists()  # issuing the token wrote one
    # installation-level rows that concern this workspace's people
    s.totp_device = TOTPDevice.objects.create(user=agent_user, name=f"{mark} device", confirmed=True)
    s.auth_group = Group.objects.create(name=f"{mark} staff")
    seen = {"user_agent": "test", "ip_address": "10.0.0.9", "username": agent_user.username, "http_accept": "*/*", "path_info": "/accounts/login/",
            "attempt_time": timezone.now()}
    s.axes_attempt = AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1)
    s.axes_log = AccessLog.objects.create(**seen)
    s.axes_failure = AccessFailureLog.objects.create(**seen)
    today = timezone.localdate(timezone.now(), zone(workspace.timezone))
    rollups.record_status(workspace.pk, agent_user.pk, "online")
    rollups.rebuild_range(workspace.pk, today, today)  # the reports pages show this workspace's figures and names
    return s


class World:
    def own(self, kind):
        """Workspace A's object of `kind` (what the URL is given besides the parameter being varied)."""
        return self._values(self.a, kind)[0]

    def theirs(self, kind):
        """Workspace B's objects of `kind` (one or a few: e.g. a shared and a personal phrase)."""
        return self._values(self.b, kind)

    @staticmethod
    def missing(kind):
        return MISSING_SLUG if kind in (KB_CATEGORY, KB_ARTICLE) else MISSING_ID

    def _values(self, side, kind):
        if isinstance(kind, tuple):
            return [self._admin_row(side, kind[1]).pk]
        return {
            CONVERSATION: lambda: [side.conversation.pk],
            CUSTOMER: lambda: [side.customer.pk],
            MESSAGE: lambda: [side.message.pk],
            MEMBERSHIP: lambda: [side.membership.pk],
            INBOX: lambda: [side.inbox.pk],
            INBOX_KEY: lambda: [side.wechat_inbox.public_key],
            CHANNEL_MESSAGE: lambda: [side.channel_message.pk],
            CUSTOMER_BLOCK: lambda: [side.block.pk],
            CUSTOMER_NOTE: lambda: [side.note.pk],
            CHANNEL_MEDIA: lambda: ["MEDIA_1"],
            API_TOKEN: lambda: [side.token.pk],
            PHRASE: lambda: [side.phrase.pk, side.personal_phrase.pk],
            KB_CATEGORY: lambda: [side.category.slug],
            KB_ARTICLE: lambda: [side.article.slug],
            AGENT_USER: lambda: [side.founder_user.pk if side is self.a else side.agent_user.pk],
            AGENT_GROUP: lambda: [side.group.pk],
            HELP_CENTER: lambda: [self.a.workspace.slug],
            LOCALE: lambda: ["en"],
            REPORT_TABLE: lambda: ["breakdown"],
            EXPORT_FORMAT: lambda: ["csv"],
            CONTENT_TYPE: lambda: [ContentType.objects.get_for_model(Conversation).pk],
        }[kind]()

    def _admin_row(self, side, label):
        model = next(m for m in admin.site._registry if m._meta.label_lower == label)
        model_admin = admin.site._registry[model]
        if isinstance(model_admin, WorkspaceScopedAdmin):
            row = model._default_manager.filter(**{model_admin.workspace_path: side.workspace.pk}).order_by("pk").first()
        else:
            row = INSTALLATION_ROWS[label](side)
        assert row is not None, f"no {label} row in {side.workspace}: create one in populate() so its admin pages are checked"
        return row


@pytest.fixture
def world(personas, settings):
    settings.WECHAT_API_BASE = settings.WECOM_API_BASE = "http://127.0.0.1:1"  # WeChat unreachable at once: no call leaves this machine
    p = personas
    w = World()
    w.p = p
    w.users = {Role.FOUNDER: p.owner_user, Role.AGENT: p.agent_a_user}
    for role in (Role.SENIOR_ADMIN, Role.ADMIN, Role.VERIFIER):
        w.users[role], _ = make_agent(p.workspace, [] if role == Role.VERIFIER else [p.inbox_a], role=role, username=f"{role}_a")
    other_founder, _ = make_agent(p.other_workspace, [p.other_inbox], role=Role.FOUNDER, username="founder_z")
    w.a = populate(p.workspace, p.inbox_a, p.owner_user, p.agent_a_user, p.visitor, MARK_A)
    w.b = populate(p.other_workspace, p.other_inbox, other_founder, p.other_agent_user, p.other_visitor, MARK_B)
    return w


# --- HTTP: every parameterised URL, every role ----------------------------------------------------

ANONYMOUS, CUSTOMER_TOKEN, API_TOKEN_ROLE = "anonymous", "customer token", "founder's API token"
HTTP_ROLES = [*Role.values, ANONYMOUS, CUSTOMER_TOKEN, API_TOKEN_ROLE]
OWN_PAGE_ROLES = {Role.FOUNDER, Role.AGENT, ANONYMOUS, CUSTOMER_TOKEN}


def client_for(world, role):
    """A client that records a server error as an answer (a 500 for a missing id is a difference too)."""
    if role == ANONYMOUS:
        return Client(raise_request_exception=False)
    if role == CUSTOMER_TOKEN:
        return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Customer {world.p.visitor_token}")
    if role == API_TOKEN_ROLE:
        return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {world.a.token_key}")
    return verified_client(world.users[role], Client(raise_request_exception=False))


def call(client, route, method, path):
    if method == "get":
        return client.get(path)
    if route.model_admin is not None:
        return getattr(client, method)(path)  # an empty form
    return getattr(client, method)(path, json.dumps(BODIES.get(route.name, {})), content_type="application/json")


def body_text(response):
    return b"".join(response.streaming_content).decode(errors="replace") if response.streaming else response.content.decode(errors="replace")


def answer(response, path):
    """What a caller learns, with the requested path itself taken out (it appears in redirects)."""
    code = None
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            data = json.loads(body_text(response) or "null")
        except ValueError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else (data.get("detail") if isinstance(data, dict) else None)
    location = response.get("Location", "").replace(quote(path, safe=""), "<path>").replace(path, "<path>")
    return response.status_code, code, location


def requests_to_check(world):
    """(route, parameter, kind, method, base values): one row per object parameter of every checked URL."""
    rows = []
    for route, kinds in checked_routes():
        base = {param: world.own(kind) for param, kind in kinds.items()}
        for param, kind in kinds.items():
            if kind in CONTEXT:
                continue
            for method in route.methods():
                rows.append((route, param, kind, method, base))
    return rows


@pytest.mark.django_db
@pytest.mark.parametrize("role", HTTP_ROLES)
def test_another_workspaces_objects_answer_like_missing_ones(world, role):
    client = client_for(world, role)
    differ, leaks, compared = [], [], 0
    rows = requests_to_check(world)
    for route, param, kind, method, base in rows:
        missing_path = route.path({**base, param: world.missing(kind)})
        baseline = call(client, route, method, missing_path)
        for theirs in world.theirs(kind):
            path = route.path({**base, param: theirs})
            got = call(client, route, method, path)
            compared += 1
            if answer(got, path) != answer(baseline, missing_path):
                differ.append(f"{method.upper()} {path} ({route.name}, {param}: B's {kind}) -> {answer(got, path)}, "
                              f"missing -> {answer(baseline, missing_path)}")
            for response, where in ((got, path), (baseline, missing_path)):
                text = body_text(response)
                leaks += [f"{method.upper()} {where} ({route.name}) shows {t!r}" for t in B_TEXTS if t in text]
    # And workspace A's own pages (help center, console, admin forms with their choices) show nothing of
    # B: checked for the founder (who sees the most of A) and the least privileged callers.
    own_pages = 0
    for route, kinds in checked_routes() if role in OWN_PAGE_ROLES else ():
        path = route.path({param: world.own(kind) for param, kind in kinds.items()})
        text = body_text(client.get(path))
        own_pages += 1
        leaks += [f"GET {path} ({route.name}, workspace A's own) shows {t!r}" for t in B_TEXTS if t in text]
    assert differ == [], f"{role}: workspace B's objects answer differently from missing ones:\n" + "\n".join(differ)
    assert leaks == [], f"{role}: answers show workspace B's text:\n" + "\n".join(leaks)
    assert own_pages >= 100 or role not in OWN_PAGE_ROLES
    assert compared >= len(rows) >= 150  # the API, console, help center and ~23 admins × 3 object pages at least
    # B's objects are all still there, unchanged
    assert Conversation.objects.get(pk=world.b.conversation.pk).state == world.b.conversation.state
    assert Membership.objects.get(pk=world.b.membership.pk).role == Role.AGENT
    assert QuickPhrase.objects.filter(workspace=world.p.other_workspace).count() == 2


# The workspace a signed-in member acts in is chosen by ?workspace= (console), X-Workspace (API) or
# ?workspace= on the agent socket (accounts.access.acting_membership): B's id must be refused exactly
# as an id that does not exist, on every console and API page that takes no object in its path.
SELECTOR_NAMESPACES = ("console:", "chat:api-", "api-", "admin:accounts_membership_team")  # the last: 团队与角色


def selector_routes():
    found = []

    def walk(patterns, prefix, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), ":".join(filter(None, (namespace, entry.namespace))))
            elif not entry.pattern.regex.groupindex and entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                if name.startswith(SELECTOR_NAMESPACES):
                    found.append((name, "/" + prefix + str(entry.pattern)))

    walk(get_resolver().url_patterns, "", "")
    return found


@pytest.mark.django_db
def test_choosing_another_workspace_answers_like_a_missing_one(world):
    routes = selector_routes()
    differ, leaks = [], []
    for role in [*Role.values, API_TOKEN_ROLE]:
        client = client_for(world, role)
        for name, path in routes:
            for how, b_request, missing_request in (
                ("?workspace=", lambda p: client.get(f"{p}?workspace={world.b.workspace.pk}"), lambda p: client.get(f"{p}?workspace={MISSING_ID}")),
                ("X-Workspace", lambda p: client.get(p, HTTP_X_WORKSPACE=str(world.b.workspace.pk)),
                 lambda p: client.get(p, HTTP_X_WORKSPACE=str(MISSING_ID))),
            ):
                got, baseline = b_request(path), missing_request(path)
                if answer(got, path)[:2] != answer(baseline, path)[:2]:
                    differ.append(f"{role}: GET {path} {how}B -> {answer(got, path)}, missing -> {answer(baseline, path)}")
                leaks += [f"{role}: GET {path} {how}B shows {t!r}" for t in B_TEXTS if t in body_text(got)]
    assert differ == [], "\n".join(differ)
    assert leaks == [], "\n".join(leaks)
    assert len(routes) >= 10


@pytest.mark.django_db
def test_admin_searches_find_nothing_of_another_workspace(world):
    """Every searchable workspace admin's list, and the admin's autocomplete for every relation field
    that points at one, searched for workspace B's names by A's founder: nothing of B."""
    client = client_for(world, Role.FOUNDER)
    searched, leaks = [], []
    searchable = {model for model, model_admin in registered_admins(scoped=True) if model_admin.search_fields}
    for model in searchable:
        searched.append(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
    for model, _model_admin in admin.site._registry.items():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model in searchable:
                searched.append(f"/admin/autocomplete/?app_label={model._meta.app_label}&model_name={model._meta.model_name}"
                                f"&field_name={field.name}")
    found_own = 0
    for url in searched:
        query = f"{url}{'&' if '?' in url else '?'}{'term' if 'autocomplete' in url else 'q'}="
        # Parts of B's names (the page echoes the term, never the whole name unless it found the row).
        for term in ("ebr", "nt_z"):
            response = client.get(query + term)
            leaks += [f"{url} ({term}: {response.status_code}) shows {t!r}" for t in B_TEXTS if t in body_text(response)]
        found_own += MARK_A in body_text(client.get(query + "ardv"))  # the same search finds A's own rows
    assert leaks == [], "\n".join(leaks)
    assert len(searchable) >= 8 and len(searched) > len(searchable)
    assert found_own >= 8


@pytest.mark.django_db
def test_help_searches_show_only_their_own_workspace(world, search_index):
    """The help center of A and the widget of an A inbox search A's articles only, though B's match too."""
    for side in (world.a, world.b):
        knowledge_search.index_article(side.article.pk)
    slug = world.a.workspace.slug
    customer = client_for(world, CUSTOMER_TOKEN)
    answers = {
        "widget": customer.get("/api/v1/customer/help/search?q=guide&locale=en"),
        "help center (instant)": Client().get(f"/help/{slug}/en/search.json?q=guide"),
        "help center (page)": Client().get(f"/help/{slug}/en/search/?q=guide"),
    }
    for where, response in answers.items():
        text = body_text(response)
        assert response.status_code == 200 and f"{MARK_A} guide" in text, where
        assert [t for t in B_TEXTS if t in text] == [], where
    # and B's own widget finds B's article: the index holds both
    other = Client(HTTP_AUTHORIZATION=f"Customer {world.p.other_visitor_token}").get("/api/v1/customer/help/search?q=guide&locale=en")
    assert f"{MARK_B} guide" in body_text(other) and MARK_A not in body_text(other)


@pytest.mark.django_db
def test_the_tables_name_the_right_objects(world):
    """Positive control: for the founder, workspace A's own object answers differently from a missing
    one on some URL of every kind, so the comparison above is between real objects."""
    client = client_for(world, Role.FOUNDER)
    kinds_seen = {}
    rows = requests_to_check(world)
    # Destructive calls last: a deleted own object must not hide another kind's difference.
    rows.sort(key=lambda row: row[3] == "delete")
    for route, param, kind, method, base in rows:
        if kind in kinds_seen:
            continue
        missing_path = route.path({**base, param: world.missing(kind)})
        own_path = route.path(base)
        if answer(call(client, route, method, own_path), own_path) != answer(call(client, route, method, missing_path), missing_path):
            kinds_seen[kind] = f"{method.upper()} {own_path}"
    installation = {admin_kind(model_admin) for _model, model_admin in registered_admins(scoped=False)}
    expected = {kind for _route, _param, kind, _method, _base in rows} - installation  # founders may not open installation admins
    assert expected - set(kinds_seen) == set(), f"no URL tells workspace A's own object from a missing one for: {expected - set(kinds_seen)}"


# --- WebSocket: every frame that names an object ------------------------------------------------

WS_ROLES = [Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN, Role.AGENT, "customer"]


def frames_to_check(world, consumer):
    """(frame type, field, kind, frame with the other fields at workspace A's values) for every object field."""
    rows = []
    for frame_type, fields in frame_fields(consumer).items():
        fields = [f for f in fields if f not in FRAME_NOT_OBJECTS]
        for field in fields:
            others = [f for f in fields if f != field and not any({f, field} <= group for group in FRAME_ALTERNATIVES)]
            base = {"type": frame_type, **FRAME_EXTRAS.get(frame_type, {}), **{f: world.own(FRAME_FIELDS[f]) for f in others}}
            rows.append((frame_type, field, FRAME_FIELDS[field], base))
    return rows


async def answer_to(comm, frame, ref):
    """The frames answering `frame` (those carrying its ref), read up to a ping's pong."""
    await send_json(comm, {**frame, "ref": ref})
    await send_json(comm, {"type": "ping", "ref": f"{ref}-end"})
    pong, before = await frames_until(comm, "pong")
    assert pong["ref"] == f"{ref}-end"
    return [(f["type"], f.get("code")) for f in before if f.get("ref") == ref]


async def socket_in(user, workspace_id):
    """(first frame's type, its code, close code) of an agent socket opened in the chosen workspace."""
    cookie = await session_cookie(user)
    headers = [(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")]
    comm = WebsocketCommunicator(application, f"/ws/agent/?workspace={workspace_id}", headers=headers)
    connected, _ = await comm.connect()
    if not connected:
        return ("refused before the workspace was read",)
    first = await frame(comm)
    closed = await comm.receive_output(timeout=3)
    await comm.disconnect()
    return first.get("type"), first.get("code"), closed.get("code")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", WS_ROLES)
def test_frames_naming_another_workspaces_objects_answer_like_missing_ones(world, role):
    consumer = CustomerConsumer if role == "customer" else AgentConsumer
    rows = frames_to_check(world, consumer)

    @async_to_sync
    async def run():
        comm = await (connect_customer(world.p.visitor_token) if role == "customer" else connect_agent(world.users[role]))
        differ, leaks = [], []
        for n, (frame_type, field, kind, base) in enumerate(rows):
            baseline = await answer_to(comm, {**base, field: world.missing(kind)}, f"m{n}")
            for theirs in world.theirs(kind):
                got = await answer_to(comm, {**base, field: theirs}, f"b{n}")
                if got != baseline:
                    differ.append(f"{frame_type}.{field} = B's {kind}: {got}; missing: {baseline}")
                if got == [] or any(code is None for _type, code in got):
                    leaks.append(f"{frame_type}.{field} = B's {kind} was accepted: {got}")
        own = await answer_to(comm, {"type": "resume", "conversation_id": world.a.conversation.pk, "after_seq": 0}, "own")
        await comm.disconnect()
        if role != "customer":  # the workspace chosen on the agent socket
            chosen_b, chosen_missing = await socket_in(world.users[role], world.b.workspace.pk), await socket_in(world.users[role], MISSING_ID)
            if chosen_b != chosen_missing or chosen_b[0] != "error":
                differ.append(f"/ws/agent/?workspace=B: {chosen_b}; missing: {chosen_missing}")
        return differ, leaks, own

    differ, accepted, own = run()
    assert differ == [], f"{role}:\n" + "\n".join(differ)
    assert accepted == [], f"{role}:\n" + "\n".join(accepted)
    assert own == [("messages", None)]  # the harness reaches real objects: A's own conversation resumes
    assert len(rows) >= (4 if role == "customer" else 7)  # send, resume, read, typing, recall (+ claim, transfer × 3)
