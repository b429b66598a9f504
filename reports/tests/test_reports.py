"""Reports (issue 18 item 2): a known history built under a controlled clock (time-machine) across
days and time zones, every figure checked exactly; rollups rebuilt idempotently from the event feed;
scope per persona; CSV/XLSX exports parsed back; bad input → 400; constant query counts."""

import csv
import io
import threading
import zipfile
import zoneinfo
from datetime import date, datetime, timedelta
from xml.etree import ElementTree

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation
from django.utils.translation import gettext as _
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog, Membership, Role
from chat import access
from chat.models import Conversation, ConversationEvent, Customer, Inbox, SatisfactionRating, Tag
from chat.ratings import rate_conversation
from chat.states import change_state
from conftest import make_agent, send, verified_client
from reports import metrics, rollups
from reports.models import AgentStatusChange, ReportRollup, RollupBucket
from routing import actions as routing
from routing import staff
from routing.models import AgentGroup

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]
URL = "/console/reports/"
SHANGHAI, NEW_YORK = zoneinfo.ZoneInfo("Asia/Shanghai"), zoneinfo.ZoneInfo("America/New_York")
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)  # a Monday and a Tuesday
RANGE = {"from": "2026-03-02", "to": "2026-03-03"}
K = ConversationEvent.Kind


def local(day, hour, minute=0, tz=SHANGHAI):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


class History:
    """Conversations written as the engine writes them (rows and events), each at its own time."""

    def __init__(self, workspace):
        self.workspace = workspace

    def conversation(self, inbox, at, *, agent=None, group=None, bot=False, tags=()):
        with time_machine.travel(at, tick=False):
            customer = Customer.objects.create(workspace=self.workspace, first_inbox=inbox)
            customer.tags.set(tags)
            state = Conversation.State.BOT if bot else (Conversation.State.ASSIGNED if agent else Conversation.State.QUEUED)
            c = Conversation.objects.create(workspace=self.workspace, inbox=inbox, customer=customer, state=state,
                                            assignee=agent, group=group)
            ConversationEvent.record(c, K.CREATED, to_state=state)
        c.started = at
        return c

    def at(self, c, seconds):
        return time_machine.travel(c.started + timedelta(seconds=seconds), tick=False)

    def first_response(self, c, seconds):
        with self.at(c, seconds):
            Conversation.objects.filter(pk=c.pk).update(first_response_at=c.started + timedelta(seconds=seconds))
            ConversationEvent.record(c, K.FIRST_RESPONSE)

    def state(self, c, seconds, to_state):
        with self.at(c, seconds):
            before = Conversation.objects.get(pk=c.pk).state
            resolved_at = c.started + timedelta(seconds=seconds) if to_state == Conversation.State.RESOLVED else None
            Conversation.objects.filter(pk=c.pk).update(state=to_state, resolved_at=resolved_at)
            ConversationEvent.record(c, K.STATE_CHANGED, from_state=before, to_state=to_state)

    def event(self, c, seconds, kind, **fields):
        with self.at(c, seconds):
            ConversationEvent.record(c, kind, **fields)
            if kind == K.HANDED_OFF:
                Conversation.objects.filter(pk=c.pk).update(state=Conversation.State.QUEUED)

    def rate(self, c, seconds, score):
        with self.at(c, seconds):
            c.refresh_from_db()
            SatisfactionRating.objects.create(conversation=c, customer=c.customer, agent_id=c.assignee_id, rating=score)
            ConversationEvent.record(c, K.RATED, data={"rating": score})


@pytest.fixture
def world(personas):
    p = personas
    p.inbox_b.kind = "app"
    p.inbox_b.save(update_fields=["kind"])
    p.sup_user, p.sup = make_agent(p.workspace, [p.inbox_b], username="supervisor")
    p.verifier_user, _m = make_agent(p.workspace, [], role=Role.VERIFIER, username="verifier")
    p.group = AgentGroup.objects.create(workspace=p.workspace, name="售后组")
    p.group.members.add(p.agent_b_user)
    owner_membership = Membership.objects.get(workspace=p.workspace, user=p.owner_user)
    staff.set_group_supervision(owner_membership, p.group.pk, Membership.objects.get(user=p.sup_user).pk, True)
    p.vip = Tag.objects.create(workspace=p.workspace, name="VIP")
    h = History(p.workspace)
    a, b = p.agent_a_user, p.agent_b_user
    # D1 (Monday, Shanghai)
    p.c1 = c1 = h.conversation(p.inbox_a, local(D1, 9), agent=a, tags=[p.vip])
    h.first_response(c1, 30)
    h.state(c1, 600, "resolved")
    h.rate(c1, 700, 5)
    p.c2 = c2 = h.conversation(p.inbox_a, local(D1, 9, 30), agent=a)
    h.first_response(c2, 60)
    h.state(c2, 300, "resolved")
    h.state(c2, 400, "queued")  # the customer wrote again: reopened
    h.state(c2, 1200, "resolved")
    h.rate(c2, 1300, 3)
    p.c3 = c3 = h.conversation(p.inbox_b, local(D1, 23, 30), agent=b, group=p.group)
    h.first_response(c3, 120)
    # D2 (Tuesday): 00:30 in Shanghai is still Monday in UTC
    p.c4 = c4 = h.conversation(p.inbox_b, local(D2, 0, 30), agent=b, group=p.group)
    h.first_response(c4, 300)
    h.state(c4, 3600, "resolved")
    h.rate(c4, 3700, 1)
    p.c5 = c5 = h.conversation(p.inbox_a, local(D2, 10), bot=True)  # the bot answered twice, nobody else needed
    h.event(c5, 10, K.BOT_ANSWERED)
    h.event(c5, 50, K.BOT_ANSWERED)
    p.c6 = c6 = h.conversation(p.inbox_a, local(D2, 11), bot=True)  # one answer, then 转人工
    h.event(c6, 20, K.BOT_ANSWERED)
    h.event(c6, 100, K.HANDED_OFF, from_state="bot", to_state="queued")
    Conversation.objects.filter(pk=c6.pk).update(assignee=a, state="assigned")
    h.event(c6, 110, K.ASSIGNED)
    h.first_response(c6, 145)  # 45 s after the hand-off
    h.state(c6, 1200, "resolved")
    # Another workspace (New York): 23:00 on D1 there is D2 in UTC and in Shanghai.
    p.other_workspace.timezone = "America/New_York"
    p.other_workspace.save(update_fields=["timezone"])
    p.theirs = History(p.other_workspace).conversation(p.other_inbox, local(D1, 23, tz=NEW_YORK), agent=p.other_agent_user)
    # Online time: agent_a 08:00-12:00 and 13:00-18:00 on D1; agent_b online since the evening before.
    for user, status, at in ((a, "online", local(D1, 8)), (a, "away", local(D1, 12)), (a, "online", local(D1, 13)),
                             (a, "offline", local(D1, 18)), (b, "online", local(D1 - timedelta(days=1), 20)),
                             (b, "offline", local(D1, 2))):
        rollups.record_status(p.workspace.pk, user.pk, status, at=at)
    rollups.rebuild_range(p.workspace.pk, D1, D2)
    rollups.rebuild_range(p.other_workspace.pk, D1, D2)
    return p


def report(client, **params):
    response = client.get(URL, {**RANGE, **params})
    assert response.status_code == 200, response.content[:800]
    return response.context["report"]


def total_row(rep):
    return rep.total.row()


def test_every_figure_of_the_known_history(world):
    rep = report(verified_client(world.owner_user))
    # conversations, first responses (count, avg, median, p90), resolved (count, avg, median, p90), reopen rate,
    # ratings, CSAT average, bot conversations, bot answers, hand-offs, deflection rate
    assert total_row(rep) == [6, 5, 111.0, 60, 300, 4, 1650.0, 1200, 3600, 0.25, 3, 3.0, 2, 3, 1, 0.5]
    timeline = rep.tables["timeline"].rows
    assert timeline == [["2026-03-02", 3, 3, 70.0, 60, 120, 2, 900.0, 600, 1200, 0.5, 2, 4.0, 0, 0, 0, None],
                        ["2026-03-03", 3, 2, 172.5, 45, 300, 2, 2400.0, 1200, 3600, 0.0, 1, 1.0, 2, 3, 1, 0.5]]
    assert rep.tables["csat"].rows == [[5, 1, 0.3333], [4, 0, 0.0], [3, 1, 0.3333], [2, 0, 0.0], [1, 1, 0.3333]]
    monday, tuesday = (row[1:] for row in rep.tables["hours"].rows[:2])
    assert (monday[9], monday[23], sum(monday)) == (2, 1, 3)  # 23:30 Shanghai stays on Monday
    assert (tuesday[0], tuesday[10], tuesday[11], sum(tuesday)) == (1, 1, 1, 3)  # 00:30 local is Tuesday
    assert sum(sum(row[1:]) for row in rep.tables["hours"].rows) == 6
    assert rep.tables["online"].rows == [["agent_a", 9 * 3600], ["agent_b", 2 * 3600]]


def test_breakdowns_by_agent_group_inbox_channel_and_tag(world):
    owner = verified_client(world.owner_user)

    def split(by):
        return {row[0]: row[1] for row in report(owner, by=by).tables["breakdown"].rows}

    with translation.override(settings.LANGUAGE_CODE):  # the page's language
        no_agent, no_group, web, app = map(str, (_("(no agent)"), _("(no group)"), Inbox.Kind.WEB.label, Inbox.Kind.APP.label))
    assert split("agent") == {"agent_a": 3, "agent_b": 2, no_agent: 1}
    assert split("group") == {"售后组": 2, no_group: 4}
    assert split("inbox") == {"Site A": 4, "App B": 2}
    assert split("channel") == {web: 4, app: 2}
    assert split("tag") == {"VIP": 1}
    vip = report(owner, tag=world.vip.pk)
    assert total_row(vip)[:2] == [1, 1] and total_row(vip)[10:12] == [1, 5.0]
    assert report(owner, period="week").tables["timeline"].rows[0][:2] == ["2026-03-02", 6]
    assert report(owner, period="month").tables["timeline"].rows[0][:2] == ["2026-03", 6]
    assert total_row(report(owner, channel="app"))[0] == 2
    assert total_row(report(owner, agent=world.agent_a_user.pk))[:5] == [3, 3, 45.0, 45, 60]  # 30, 60, 45 s


def test_days_follow_each_workspace_time_zone(world):
    theirs = ReportRollup.objects.get(workspace=world.other_workspace, tag_id=0)
    assert theirs.day == D1 and theirs.hour_23 == 1  # 04:00 UTC on D2 is 23:00 on D1 in New York
    per_day = {}
    for day, n in ReportRollup.objects.filter(workspace=world.workspace, tag_id=0).values_list("day", "conversations"):
        per_day[day] = per_day.get(day, 0) + n
    assert per_day == {D1: 3, D2: 3}


def test_scope_per_persona(world):
    assert total_row(report(verified_client(world.agent_a_user)))[0] == 3  # own: c1, c2, c6
    agent_a = report(verified_client(world.agent_a_user), by="agent")
    assert [row[0] for row in agent_a.tables["breakdown"].rows] == ["agent_a"]
    assert agent_a.tables["online"].rows == [["agent_a", 9 * 3600]]
    sup = report(verified_client(world.sup_user))
    assert total_row(sup)[0] == 2  # the supervised group's c3 and c4
    assert sup.tables["online"].rows == [["agent_b", 2 * 3600]]  # the group's members
    assert total_row(report(verified_client(world.owner_user)))[0] == 6
    assert total_row(report(verified_client(world.other_agent_user)))[0] == 1  # their own workspace only
    verifier = verified_client(world.verifier_user)
    page = verifier.get(URL, RANGE)
    assert page.status_code in (302, 403) and "report" not in (page.context or {})
    api = verifier.get(URL, RANGE, HTTP_ACCEPT="application/json")
    assert api.status_code == 403
    assert verifier.get("/console/reports/timeline.csv", RANGE, HTTP_ACCEPT="application/json").status_code == 403


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"from": "2026-03-05", "to": "2026-03-01"}, "to"),
    ({"from": "2016-01-01", "to": "2026-01-01"}, "from"), ({"period": "year"}, "period"), ({"by": "customer"}, "by"),
    ({"agent": "999999"}, "agent"), ({"agent": "x"}, "agent"), ({"group": "-1"}, "group"), ({"inbox": "1e9"}, "inbox"),
    ({"channel": "fax"}, "channel"), ({"tag": "0"}, "tag"), ({"from": "2026-03-02\x00"}, "from"),
])
def test_bad_input_is_a_400_naming_the_field(world, params, field):
    owner = verified_client(world.owner_user)
    response = owner.get(URL, {**RANGE, **params})
    assert response.status_code == 400
    if any("\x00" in value for value in params.values()):
        return  # refused before the view (helpdesk.middleware: NUL in a query)
    assert field in response.context["errors"]
    exported = owner.get("/console/reports/timeline.csv", {**RANGE, **params}, HTTP_ACCEPT="application/json")
    assert exported.status_code == 400 and field in exported.json()["error"]["fields"]


def test_another_workspaces_ids_are_unknown(world):
    owner = verified_client(world.owner_user)
    theirs_agent, theirs_inbox = world.other_agent_user.pk, world.other_inbox.pk
    for params in ({"agent": theirs_agent}, {"inbox": theirs_inbox}):
        response = owner.get(URL, {**RANGE, **params})
        assert response.status_code == 400
    assert owner.get("/console/reports/nothing.csv", RANGE, HTTP_ACCEPT="application/json").status_code == 400
    assert owner.get("/console/reports/timeline.pdf", RANGE, HTTP_ACCEPT="application/json").status_code == 400


def _xlsx_rows(body):
    ns = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "xl/workbook.xml" in archive.namelist()
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{ns['s']}}}row"):
        values = []
        for c in row:
            if c.get("t") == "inlineStr":
                values.append(c.find("s:is/s:t", ns).text or "")
            else:
                text = c.find("s:v", ns).text
                values.append(float(text) if "." in text else int(text))
        rows.append(values)
    return rows


def test_exports_open_and_match_the_tables(world):
    owner = verified_client(world.owner_user)
    rep = report(owner)
    for key, table in rep.tables.items():
        header = [str(label) for label, _kind in table.columns]
        expected = [["" if v is None else v for v in row] for row in table.rows]
        response = owner.get(f"/console/reports/{key}.csv", RANGE)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        parsed = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert parsed[0] == header
        assert parsed[1:] == [[str(v) for v in row] for row in expected]
        response = owner.get(f"/console/reports/{key}.xlsx", RANGE)
        assert response.status_code == 200
        assert _xlsx_rows(response.content) == [header, *expected]
    assert AuditLog.objects.filter(workspace=world.workspace, action="reports.export").count() == 2 * len(rep.tables)


def test_a_page_is_a_constant_number_of_queries(world):
    owner = verified_client(world.owner_user)
    report(owner)  # session and caches warm
    with CaptureQueriesContext(connection) as small:
        report(owner, **{"from": "2026-03-02", "to": "2026-03-02"})
    with CaptureQueriesContext(connection) as wide:
        report(owner, **{"from": "2025-03-04", "to": "2026-03-03"}, by="tag")
    assert len(small.captured_queries) == len(wide.captured_queries) <= 24, [q["sql"][:120] for q in wide.captured_queries]
    rollup_reads = [q for q in wide.captured_queries if "reports_reportrollup" in q["sql"]]
    assert len(rollup_reads) == 2  # one GROUP BY day, one GROUP BY the split


def test_the_page_renders_charts_data_and_tables(world):
    body = verified_client(world.owner_user).get(URL, RANGE).content.decode()
    for needle in ('id="chart-volume"', 'id="chart-frt"', 'id="chart-csat"', 'id="chart-hours"', 'id="reports-data"',
                   "vendor/echarts/echarts.min.js", "/console/reports/timeline.xlsx?", "1:10", "2:52"):  # the days' averages
        assert needle in body


# --- the rollups: from the event feed, idempotent, under concurrency ------------------------------


def _figures(workspace):
    return sorted(ReportRollup.objects.filter(workspace=workspace).values_list(
        "day", "inbox_id", "group_id", "agent_id", "tag_id", "conversations", "first_response_seconds", "resolved", "ratings"))


def test_run_due_follows_real_actions_and_rebuilds_idempotently(personas):
    p = personas
    agent = access.agent_actor_for(p.agent_a_user, p.workspace.pk)
    start = local(D1, 10)
    with time_machine.travel(start, tick=False):
        message, _ = send(p.visitor, "你好，我想退货")
        routing.set_status(agent, "online")
    conversation = Conversation.objects.get(pk=message.conversation_id)
    if conversation.assignee_id is None:
        with time_machine.travel(start + timedelta(seconds=5), tick=False):
            routing.claim(agent, conversation.pk)
    with time_machine.travel(start + timedelta(seconds=45), tick=False):
        send(agent, "您好，请提供订单号", conversation_id=conversation.pk)
    with time_machine.travel(start + timedelta(seconds=900), tick=False):
        change_state(agent, conversation.pk, "resolved")
    with time_machine.travel(start + timedelta(seconds=960), tick=False):
        rate_conversation(p.visitor, conversation.pk, 4)
        routing.set_status(agent, "offline")
    assert list(AgentStatusChange.objects.filter(user=p.agent_a_user).values_list("status", flat=True)) == ["online", "offline"]
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert rollups.run_due() >= 1
    first = _figures(p.workspace)
    group_id = Conversation.objects.get(pk=conversation.pk).group_id or 0  # routing's default group
    assert first == [(D1, p.inbox_a.pk, group_id, p.agent_a_user.pk, 0, 1, 45, 1, 1)]
    rollups.rebuild_range(p.workspace.pk, D1, D1)  # again: the same rows
    assert _figures(p.workspace) == first
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        assert rollups.run_due() == 0  # nothing new since the cursor
    owner = verified_client(p.owner_user)
    rep = report(owner, **{"from": "2026-03-02", "to": "2026-03-02"})
    assert total_row(rep)[:4] == [1, 1, 45.0, 45] and total_row(rep)[10:12] == [1, 4.0]
    assert rep.tables["online"].rows == [["agent_a", 960]]


def test_an_event_committed_late_is_still_read(personas):
    """The cursor passes only times older than SETTLE: an event written with an earlier time but
    committed after a turn read past it is rebuilt by a later turn."""
    p = personas
    h = History(p.workspace)
    with time_machine.travel(local(D1, 9, 0), tick=False):
        rollups.run_due()  # the cursor starts here
    c = h.conversation(p.inbox_a, local(D1, 9, 1), agent=p.agent_a_user)
    with time_machine.travel(local(D1, 9, 1) + timedelta(seconds=30), tick=False):
        rollups.run_due()
    assert sum(ReportRollup.objects.filter(workspace=p.workspace, tag_id=0).values_list("conversations", flat=True)) == 1
    h.first_response(c, 20)  # stamped 09:01:20, "committed" after the turn at 09:01:30
    with time_machine.travel(local(D1, 9, 5), tick=False):
        rollups.run_due()
    assert ReportRollup.objects.get(workspace=p.workspace, tag_id=0).first_responses == 1


def test_concurrent_rebuilds_of_one_bucket_write_it_once(personas):
    p = personas
    h = History(p.workspace)
    for minute in range(5):
        h.conversation(p.inbox_a, local(D1, 9, minute), agent=p.agent_a_user)
    errors = []

    def rebuild():
        try:
            rollups.rebuild_bucket(p.workspace.pk, D1)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rebuild) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ReportRollup.objects.filter(workspace=p.workspace).count() == 1
    assert ReportRollup.objects.get(workspace=p.workspace).conversations == 5
    assert RollupBucket.objects.filter(workspace=p.workspace, day=D1).count() == 1


def test_percentiles_and_online_time_helpers():
    hist = [0] * 21
    hist[4], hist[8], hist[20] = 1, 1, 1  # 60 s, 300 s, over a week
    assert rollups.percentile(hist, 0.5) == 300 and rollups.percentile(hist, 0.9) == float("inf")
    assert rollups.percentile([0] * 21, 0.5) is None
    start = local(D1, 0)
    changes = [("busy", start + timedelta(hours=1)), ("away", start + timedelta(hours=2)), ("online", start + timedelta(hours=23))]
    assert rollups.online_seconds(changes, start, start + timedelta(days=1), before="offline") == 2 * 3600
    assert rollups.online_seconds([], start, start + timedelta(days=1), before="online") == 86400
    assert metrics.period_start(date(2026, 3, 8), "week") == date(2026, 3, 2)


def test_deleting_a_workspace_deletes_its_rows(world):
    workspace_id = world.other_workspace.pk
    world.other_workspace.delete()
    assert not ReportRollup.objects.filter(workspace_id=workspace_id).exists()


def test_a_status_change_is_recorded_once_per_change(personas):
    agent = access.agent_actor_for(personas.agent_a_user, personas.workspace.pk)
    routing.set_status(agent, "online")
    routing.set_status(agent, "online")  # no change, no row
    routing.set_status(agent, "busy")
    assert list(AgentStatusChange.objects.filter(user=personas.agent_a_user).values_list("status", flat=True)) == ["online", "busy"]


def test_the_rebuild_command_backfills_a_range(world):
    ReportRollup.objects.all().delete()
    out = io.StringIO()
    call_command("rebuild_reports", "--workspace", str(world.workspace.pk), "--from", "2026-03-01", "--to", "2026-03-04", stdout=out)
    assert "2026-03-01 … 2026-03-04" in out.getvalue()
    assert total_row(report(verified_client(world.owner_user)))[0] == 6
    with pytest.raises(CommandError):
        call_command("rebuild_reports", "--from", "2026-03-05", "--to", "2026-03-01")
