"""The widget editor (issue 20 item 2): the inbox's look as a form, the frame and the loader apply it,
and the code an owner copies works: the embed line, and server code that signs a user exactly as
chat.identity checks it (Python and Node.js run here; PHP and Java are shown the same way)."""

import os
import shutil
import subprocess

import pytest
from django.utils import translation

from chat.admin import InboxForm
from chat.identity import identity_hash
from chat.widget_snippets import SECRET_ENV, SERVER
from conftest import verified_client

pytestmark = [pytest.mark.django_db]


def test_the_python_snippet_signs_like_the_server(personas, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, personas.inbox_a.secret)
    scope = {}
    exec(SERVER["Python"], scope)  # the exact text the owner copies
    assert scope["helpdesk_user_hash"]("u-42 李雷") == identity_hash(personas.inbox_a.secret, "u-42 李雷")


def test_the_node_snippet_signs_like_the_server(personas):
    node = shutil.which("node")
    if node is None and os.environ.get("CI") == "true":
        pytest.fail("node is needed to check the Node.js snippet")
    if node is None:
        pytest.skip("node is not installed")
    script = SERVER["Node.js"] + 'process.stdout.write(helpdeskUserHash("u-42 李雷"));'
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=True,
                         env={**os.environ, SECRET_ENV: personas.inbox_a.secret}).stdout
    assert out == identity_hash(personas.inbox_a.secret, "u-42 李雷")


def test_other_languages_read_the_secret_from_the_environment_never_inline(personas):
    for language in ("PHP", "Java"):
        assert SECRET_ENV in SERVER[language] and "hmac" in SERVER[language].lower()
    html = verified_client(personas.owner_user).get(f"/admin/chat/inbox/{personas.inbox_a.pk}/change/").content.decode()
    for language in SERVER:
        assert f"{language}" in html
    assert "/static/chat/widget/loader.js" in html and personas.inbox_a.public_key in html
    assert personas.inbox_a.secret in html  # behind 显示, for the owner's own server set-up


def look(personas, **overrides):
    data = {"workspace": personas.workspace.pk, "name": "Site A", "kind": "web", "widget_color": "#ffd400", "widget_position": "left",
            "widget_launcher_text": "在线客服", "widget_title": "茶馆客服", "widget_language": "zh-hant"}
    data.update(overrides)
    return InboxForm(data={k: v for k, v in data.items() if v is not None}, instance=personas.inbox_a)


def test_the_look_is_saved(personas):
    form = look(personas)
    assert form.is_valid(), form.errors
    inbox = form.save()
    assert (inbox.widget_color, inbox.widget_position, inbox.widget_launcher_text, inbox.widget_title, inbox.widget_language) == (
        "#ffd400", "left", "在线客服", "茶馆客服", "zh-hant")


@pytest.mark.parametrize("overrides, field", [
    ({"widget_color": "yellow"}, "widget_color"), ({"widget_color": "#ffd40"}, "widget_color"),
    ({"widget_color": "#ffd400;background:url(x)"}, "widget_color"), ({"widget_position": "top"}, "widget_position"),
    ({"widget_launcher_text": "在线客服" * 4}, "widget_launcher_text"), ({"widget_language": "fr"}, "widget_language"),
    ({"widget_title": "x" * 41}, "widget_title"),
])
def test_a_bad_look_is_a_field_error_and_nothing_is_saved(personas, overrides, field):
    with translation.override("zh-hans"):
        form = look(personas, **overrides)
        assert not form.is_valid() and field in form.errors
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.widget_color == "#0b5cad" and personas.inbox_a.widget_launcher_text == ""


def test_the_frame_shows_the_look_and_the_owners_language(personas, client):
    form = look(personas)
    assert form.is_valid()
    form.save()
    html = client.get("/widget/frame/", {"inbox": personas.inbox_a.public_key, "lang": "en"}).content.decode()
    assert 'lang="zh-hant"' in html and "<h1>茶馆客服</h1>" in html
    assert 'data-color="#ffd400"' in html and 'data-position="left"' in html and 'data-launcher-text="在线客服"' in html
    personas.inbox_b.widget_language = ""
    personas.inbox_b.save()
    follows_page = client.get("/widget/frame/", {"inbox": personas.inbox_b.public_key, "lang": "en"}).content.decode()
    assert 'lang="en"' in follows_page and "<h1>App B</h1>" in follows_page
