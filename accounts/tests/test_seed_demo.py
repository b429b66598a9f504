"""The demo data that `make run` loads is complete and can be loaded again safely; its logins
are not a published password (a server reachable from the network must not open to anyone)."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Membership, Role
from chat.models import Inbox
from orders.models import Voucher

pytestmark = [pytest.mark.django_db]


def printed_password(out):
    found = set(re.findall(r"password (\S+)", out))
    assert len(found) == 1, out
    return found.pop()


def test_seed_demo_is_idempotent_and_complete(capsys, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("seed_demo")
    first = printed_password(capsys.readouterr().out)
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert Inbox.objects.count() == 3
    wechat = Inbox.objects.get(kind=Inbox.Kind.WECHAT_OA)  # the demo's WeChat channel, answered through the simulator
    assert wechat.channel_account.token == "demotoken" and len(wechat.channel_account.aes_key) == 43
    assert f"--inbox={wechat.public_key} --token demotoken" in out
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"founder": Role.FOUNDER, "agent1": Role.AGENT, "agent2": Role.AGENT, "verifier": Role.VERIFIER}
    assert Voucher.objects.count() == 3
    assert "login agent1" in out
    agent = Membership.objects.get(user__username="agent1").user
    assert all(agent.has_perm("chat.reply_in_inbox", inbox) for inbox in Inbox.objects.all())
    # A fresh random password each run, printed once: the published one no longer opens anything.
    password = printed_password(out)
    assert password != first and len(password) >= 12
    assert agent.check_password(password) and not agent.check_password(first)
    assert not agent.check_password("demo-pass-123")
    assert Membership.objects.get(user__username="founder").user.check_password(password)


def test_seed_demo_takes_the_password_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "my-own-demo-secret-42")
    call_command("seed_demo")
    assert printed_password(capsys.readouterr().out) == "my-own-demo-secret-42"
    assert Membership.objects.get(user__username="founder").user.check_password("my-own-demo-secret-42")


@pytest.mark.parametrize("url", ["/demo/", "/demo/agent/", "/widget/demo/"])
def test_demo_pages_exist_only_when_demo_pages_are_on(settings, url):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    settings.DEMO_PAGES = False
    assert Client().get(url).status_code == 404
    settings.DEMO_PAGES = True
    assert Client().get(url).status_code in (200, 302)  # the agent page asks for a login first


def test_demo_pages_are_off_unless_switched_on(monkeypatch):
    import runpy

    from django.conf import settings as django_settings

    monkeypatch.delenv("DEMO_PAGES", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    assert runpy.run_path(str(django_settings.BASE_DIR / "helpdesk" / "settings.py"))["DEMO_PAGES"] is False
    monkeypatch.setenv("DEMO_PAGES", "1")
    assert runpy.run_path(str(django_settings.BASE_DIR / "helpdesk" / "settings.py"))["DEMO_PAGES"] is True
