"""Two verifiers mark the same code at the same moment: exactly one succeeds.

Marked engine_db so the PostgreSQL pass of scripts/test.sh runs it too (row lock there,
the IMMEDIATE write lock on SQLite)."""

import threading

import pytest

from accounts.models import AuditLog, Membership, Role
from conftest import make_agent, make_workspace, run_threads
from helpdesk.errors import DomainError
from orders import actions
from orders.models import Voucher

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("racers", [2, 6])
def test_racing_verifiers_exactly_one_succeeds(racers):
    ws = make_workspace()
    members = []
    for _ in range(racers):
        user, _ = make_agent(ws, role=Role.VERIFIER)
        members.append(Membership.objects.get(user=user))
    voucher = Voucher.objects.create(workspace=ws, code="RACE-1", title="One coffee")
    start = threading.Barrier(racers)
    outcomes = []

    def verify(i):
        start.wait()
        try:
            actions.verify_voucher(members[i], "RACE-1")
            outcomes.append(("ok", members[i].user_id))
        except DomainError as exc:
            outcomes.append((exc.code, members[i].user_id))

    run_threads(racers, verify)
    winners = [user_id for outcome, user_id in outcomes if outcome == "ok"]
    assert len(winners) == 1
    assert sorted(outcome for outcome, _ in outcomes) == ["already_verified"] * (racers - 1) + ["ok"]
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.VERIFIED and voucher.verified_by_id == winners[0]
    assert AuditLog.objects.filter(action="voucher.verify", denied=False).count() == 1
    assert AuditLog.objects.filter(action="voucher.verify", denied=True).count() == racers - 1
