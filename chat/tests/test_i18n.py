"""zh-Hans, zh-Hant and en ship complete, and pages follow the browser language."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytestmark = [pytest.mark.django_db]

EMPTY_MSGSTR = re.compile(r'^msgid "(.+)"\nmsgstr ""\n\n', re.M)


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant", "en"])
def test_catalogue_is_complete_and_compiled(locale):
    po = Path(settings.BASE_DIR, "locale", locale, "LC_MESSAGES", "django.po")
    text = po.read_text()
    assert text.count("msgid ") > 100
    assert EMPTY_MSGSTR.findall(text) == []
    assert "#, fuzzy" not in text
    assert po.with_suffix(".mo").stat().st_size > 1000  # compiled catalogue ships with the source


@pytest.mark.parametrize(
    "accept,expected",
    [("zh-CN,zh;q=0.9", "联系我们"), ("zh-TW,zh;q=0.9", "聯絡我們"), ("en-US,en;q=0.9", "Chat with us")],
)
def test_customer_page_follows_browser_language(personas, accept, expected):
    html = Client().get(f"/demo/?inbox={personas.inbox_a.public_key}", HTTP_ACCEPT_LANGUAGE=accept).content.decode()
    assert f"<title>{expected}</title>" in html


def test_api_errors_are_translated(personas):
    r = Client(HTTP_AUTHORIZATION=f"Customer {personas.visitor_token}", HTTP_ACCEPT_LANGUAGE="zh-TW").post(
        "/api/v1/customer/messages", {"client_msg_id": "x", "body": " "}, content_type="application/json"
    )
    assert r.json()["error"] == {"code": "empty_body", "message": "訊息為空。"}
