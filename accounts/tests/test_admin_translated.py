"""Every admin page a founder reaches reads in Chinese (issue 20 item 3): the index, each model's list,
add page and a change page, rendered in zh-Hans, may show no English word but product names, codes
and the data itself (written in Chinese here, so any English left is the interface's)."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts import actions, roles
from accounts.models import Membership, Role
from chat.models import Customer, Inbox
from conftest import make_agent, make_workspace, verified_client

pytestmark = [pytest.mark.django_db]

# Names, codes and formats that stay as they are in a Chinese interface.
ALLOWED = {
    "AI", "API", "App", "app", "CSV", "XLSX", "ID", "IP", "URL", "VIP", "FAQ", "HTML", "JSON", "HMAC", "SHA", "TOTP", "OTP", "QR",
    "WeChat", "WeCom", "Python", "Node", "js", "PHP", "Java", "Asia", "Shanghai", "Hong_Kong", "Taipei", "Macau", "Singapore",
    "Kuala_Lumpur", "Tokyo", "Seoul", "Bangkok", "Dubai", "Europe", "London", "Berlin", "America", "New_York", "Los_Angeles",
    "Australia", "Sydney", "UTC", "English", "pre", "sale", "shop", "example", "zh", "en", "hans", "hant", "HELPDESK_INBOX_SECRET",
    "pinyin", "Markdown", "SLA", "Web", "Push", "SMTP", "HTTP", "https", "http", "www", "com", "static", "chat", "widget", "loader",
    "src", "data", "inbox", "async", "script", "window", "HelpdeskSettings", "identity", "userId", "userHash", "user", "hash",
    "from", "your", "server", "id", "PM", "AM",
    "Control", "Command", "Mac",  # key names in Django's multiple-select hint
    "True", "False",  # the alt text of Django's yes/no icons (images; the column says what they mean)
    "AppID", "CorpID", "AppSecret", "Secret", "Token", "EncodingAESKey", "open_kfid",  # WeChat's own names for its settings
    "PNG", "JPEG", "WebP", "SVG", "MB",  # picture formats and the size unit (the widget's avatar)
}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")  # {customer_name} in a help text is what the owner types
GENERATED_KEY = re.compile(r"[A-Za-z0-9_-]{16,}")  # an inbox's public key or secret: data, not words
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")


class VisibleText(HTMLParser):
    """Text a person sees, plus labels read aloud (aria-label, title, placeholder, alt, value of buttons)."""

    SKIP = {"script", "style", "code", "pre", "template"}

    def __init__(self):
        super().__init__()
        self.parts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        attrs = dict(attrs)
        for name in ("aria-label", "title", "placeholder", "alt"):
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def english_words(html, data=()):
    parser = VisibleText()
    parser.feed(html)
    return {w for part in parser.parts for w in LATIN_WORD.findall(GENERATED_KEY.sub("", PLACEHOLDER.sub("", part))) if w not in ALLOWED and w not in data}


@pytest.fixture
def shop(db):
    ws = make_workspace("茶馆")
    inbox = Inbox.objects.create(workspace=ws, name="官网")
    user, _membership = make_agent(ws, [inbox], role=Role.FOUNDER, username="店主")
    Customer.objects.create(workspace=ws, name="韩梅梅", first_inbox=inbox)
    founder = Membership.objects.get(user=user)
    actions.define_custom_role(founder, "夜班", [roles.SERVE_CHATS])  # a custom role, and an audit row read as a sentence
    actions.invite_member(founder, role=Role.AGENT, phone="+86 138 0000 0000")
    user.data_words = {ws.slug, *ws.slug.split("-")}  # generated data, not interface
    return user


def founder_pages(client):
    pages = ["/admin/", reverse("admin:accounts_membership_team")]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        request = client.get("/admin/").wsgi_request
        if not model_admin.has_module_permission(request) or not model_admin.has_view_permission(request):
            continue
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        first = model_admin.get_queryset(request).first()
        if first is not None:
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
    return pages


def test_every_founder_admin_page_reads_in_chinese(shop):
    client = verified_client(shop)
    client.cookies["django_language"] = "zh-hans"
    untranslated = {}
    pages = founder_pages(client)
    assert len(pages) > 20
    for path in pages:
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, path
        words = english_words(response.content.decode(), shop.data_words)
        if words:
            untranslated[path] = sorted(words)
    assert untranslated == {}
