"""The demo data that `make run` loads is complete and can be loaded again safely."""

import pytest
from django.core.management import call_command

from accounts.models import Membership, Role
from chat.models import Inbox
from orders.models import Voucher

pytestmark = [pytest.mark.django_db]


def test_seed_demo_is_idempotent_and_complete(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert Inbox.objects.count() == 2
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"founder": Role.FOUNDER, "agent1": Role.AGENT, "agent2": Role.AGENT, "verifier": Role.VERIFIER}
    assert Voucher.objects.count() == 3
    assert "login agent1" in out and "demo-pass-123" in out
    agent = Membership.objects.get(user__username="agent1").user
    assert all(agent.has_perm("chat.reply_in_inbox", inbox) for inbox in Inbox.objects.all())
    assert agent.check_password("demo-pass-123")
