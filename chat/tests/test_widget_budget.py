"""Size budgets of the customer widget, measured on the files as served (gzip -9), and
"no third-party requests": nothing in them points at another origin."""

import gzip
import re
from pathlib import Path

import pytest
from django.conf import settings

STATIC = Path(settings.BASE_DIR, "static")
LOADER_BUDGET = 10 * 1024
WIDGET_BUDGET = 60 * 1024
WIDGET_FILES = ["chat/widget/widget.js", "chat/client.js", "chat/beep.js", "chat/widget/widget.css"]


def gz(data):
    return len(gzip.compress(data, 9))


def test_loader_within_10_kb_gzipped():
    size = gz((STATIC / "chat/widget/loader.js").read_bytes())
    print(f"loader.js: {size} bytes gzipped (budget {LOADER_BUDGET})")
    assert 0 < size <= LOADER_BUDGET


@pytest.mark.django_db
def test_whole_widget_within_60_kb_gzipped(client, personas):
    frame = client.get(f"/widget/frame/?inbox={personas.inbox_a.public_key}")
    assert frame.status_code == 200
    total = gz(frame.content) + sum(gz((STATIC / name).read_bytes()) for name in WIDGET_FILES + ["chat/widget/loader.js"])
    print(f"widget total: {total} bytes gzipped (budget {WIDGET_BUDGET})")
    assert total <= WIDGET_BUDGET
    # Everything the frame loads is ours.
    assert set(re.findall(r'(?:src|href)="([^"]+)"', frame.content.decode())) <= {
        "/static/chat/widget/widget.css", "/static/chat/widget/widget.js"}


def test_no_third_party_origins_in_the_widget_code():
    for name in WIDGET_FILES + ["chat/widget/loader.js"]:
        text = (STATIC / name).read_text()
        origins = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert origins <= {"https://HOST/static/chat/widget/loader.js"}, (name, origins)


@pytest.mark.django_db
def test_frame_is_embeddable_with_its_own_strict_csp(client, personas):
    response = client.get(f"/widget/frame/?inbox={personas.inbox_a.public_key}&lang=zh-TW")
    assert "X-Frame-Options" not in response
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert '<html lang="zh-hant">' in response.content.decode()
    assert client.get("/widget/frame/?inbox=nope").status_code == 404
    page = client.get(f"/widget/chat/?inbox={personas.inbox_a.public_key}&lang=en")
    assert page.status_code == 200 and page["X-Frame-Options"] == "DENY"  # the full page is not for framing


@pytest.mark.django_db
def test_demo_shop_page_embeds_the_loader_under_a_strict_csp(client, personas):
    response = client.get(f"/widget/demo/?inbox={personas.inbox_a.public_key}")
    assert response.status_code == 200
    assert f'data-inbox="{personas.inbox_a.public_key}"' in response.content.decode()
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert client.get("/").url.startswith("/widget/demo/")
