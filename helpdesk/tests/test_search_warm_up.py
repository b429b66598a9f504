"""The first help-center search and bot answer after a start were ~4 s (jieba's dictionary, the
index): the server's lifespan and the worker warm the search on a background thread, while
commands and tests (AppConfig.ready) load nothing."""

import asyncio
import subprocess
import sys
import threading

import pytest
from django.conf import settings

from helpdesk import analysis, asgi
from knowledge import search

pytestmark = pytest.mark.django_db(transaction=True)


def test_warm_loads_the_dictionary_and_searches_nothing(search_index, monkeypatch):
    monkeypatch.setattr(analysis, "_JIEBA", {})
    search.warm()
    assert "tok" in analysis._JIEBA  # the tokenizer (≈0.6 s and more with the shop words) is ready


def test_warm_survives_a_broken_engine(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("index folder missing")

    monkeypatch.setattr(search, "explained_search", broken)
    search.warm()  # logged, never raised: the server starts anyway
    assert "search warm-up failed" in caplog.text


def test_the_server_lifespan_warms_on_a_background_thread(monkeypatch, settings):
    settings.SCHEDULER = {**settings.SCHEDULER, "EMBEDDED": False}
    warmed = threading.Event()
    threads = []

    def fake_warm():
        threads.append(threading.current_thread())
        warmed.set()

    monkeypatch.setattr(search, "warm", fake_warm)

    async def lifespan():
        inbox = asyncio.Queue()
        sent = []
        for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
            inbox.put_nowait(message)

        async def send(message):
            sent.append(message["type"])

        await asgi.application({"type": "lifespan"}, inbox.get, send)
        return sent

    assert asyncio.run(lifespan()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert warmed.wait(10)
    assert threads[0] is not threading.main_thread() and threads[0].name == "search-warm"


def test_commands_do_not_warm():
    """manage.py commands start Django (AppConfig.ready of every app) without loading jieba."""
    code = ("import django, sys; django.setup(); from django.core.management import call_command; "
            "call_command('check', verbosity=0); sys.exit(1 if 'jieba' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
                            env={"DJANGO_SETTINGS_MODULE": "helpdesk.settings", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
