"""Quick phrases (快捷短语): scopes, campaign validity with a controllable clock (time-machine),
the admin for workspace and group phrases, agents' own phrases in the console, search keys
for the picker, constant query counts, and use counts."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog, Membership
from chat.tests.test_uploads import png_bytes
from conftest import make_agent, verified_client
from replies import actions
from replies.access import search_key, usable_phrases
from replies.models import QuickPhrase
from routing.models import AgentGroup

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 11, 0, 0, tzinfo=SHANGHAI)
END = datetime(2026, 11, 12, 0, 0, tzinfo=SHANGHAI)
TICK = timedelta(microseconds=1)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_URL = "/media/"
    return settings.MEDIA_ROOT


def make(p, shortcut, workspace=None, **kwargs):
    kwargs.setdefault("title", shortcut)
    kwargs.setdefault("body", f"{shortcut} body")
    return QuickPhrase.objects.create(workspace=workspace or p.workspace, shortcut=shortcut, **kwargs)


def picker(client):
    r = client.get("/console/phrases/")
    assert r.status_code == 200
    return {row["shortcut"]: row for row in r.json()["phrases"]}


def upload(client, name="promo.png"):
    r = client.post("/api/v1/uploads", {"file": SimpleUploadedFile(name, png_bytes(4, 3), content_type="image/png")})
    assert r.status_code == 201, r.content
    return r.json()


# --- campaign phrases: appearing and disappearing by date ----------------------------------


def test_campaign_phrase_appears_and_disappears_at_the_exact_boundaries(personas):
    p = personas
    campaign = make(p, "double11", valid_from=START, valid_until=END, body="双十一 {customer_name}")
    make(p, "always")
    client = verified_client(p.agent_a_user)
    seen = []
    for moment in (START - TICK, START, END - TICK, END):
        with time_machine.travel(moment, tick=False):
            seen.append("double11" in picker(client))
            used = client.post(f"/console/phrases/{campaign.pk}/use/")
            assert used.status_code == (200 if seen[-1] else 404)
            assert "always" in picker(client)
    assert seen == [False, True, True, False]  # [valid_from, valid_until)
    campaign.refresh_from_db()
    assert campaign.usage_count == 2  # counted only while visible

    # The management page shows it all the time, marked scheduled / (nothing) / expired.
    for moment, label in ((START - TICK, "Scheduled"), (START, None), (END, "Expired")):
        with time_machine.travel(moment, tick=False):
            html = client.get("/console/phrases/manage/").content.decode()
            item = html.split(f'data-phrase="{campaign.pk}"')[1].split("</li>")[0]
            assert "/double11" in item
            assert ("phrase-item--scheduled" in item) == (label == "Scheduled")
            assert ("phrase-item--expired" in item) == (label == "Expired")
            assert "2026-11-11 00:00" in item and "2026-11-12 00:00" in item  # the workspace's time zone


def test_only_start_or_only_end(personas):
    p = personas
    make(p, "from", valid_from=START)
    make(p, "until", valid_until=END)
    with time_machine.travel(START - TICK, tick=False):
        assert set(usable_phrases(p.agent_a).values_list("shortcut", flat=True)) == {"until"}
    with time_machine.travel(START, tick=False):
        assert set(usable_phrases(p.agent_a).values_list("shortcut", flat=True)) == {"from", "until"}
    with time_machine.travel(END, tick=False):
        assert set(usable_phrases(p.agent_a).values_list("shortcut", flat=True)) == {"from"}


# --- scopes per persona ----------------------------------------------------------------------


def test_scopes_per_persona(personas):
    p = personas
    presales = AgentGroup.objects.create(workspace=p.workspace, name="Pre-sales")
    presales.members.add(p.agent_a_user)
    everyone = AgentGroup.objects.create(workspace=p.workspace, name="Everyone", is_default=True)
    other_group = AgentGroup.objects.create(workspace=p.other_workspace, name="Z group")
    other_group.members.add(p.agent_a_user)  # even a stray membership in another workspace's group shows nothing
    make(p, "ws")
    make(p, "presales", scope="group", group=presales)
    make(p, "everyone", scope="group", group=everyone)
    make(p, "mine-a", scope="personal", owner=p.agent_a_user)
    make(p, "mine-b", scope="personal", owner=p.agent_b_user)
    make(p, "mine-owner", scope="personal", owner=p.owner_user)
    make(p, "z-ws", workspace=p.other_workspace)
    make(p, "z-group", workspace=p.other_workspace, scope="group", group=other_group)

    expected = {
        p.agent_a_user: {"ws", "presales", "everyone", "mine-a"},
        p.agent_b_user: {"ws", "everyone", "mine-b"},
        p.owner_user: {"ws", "everyone", "mine-owner"},  # founders do not see others' personal or other groups' phrases either
        p.other_agent_user: {"z-ws"},
    }
    for user, shortcuts in expected.items():
        client = verified_client(user)
        assert set(picker(client)) == shortcuts, user.username
        listed = client.get("/console/phrases/manage/").content.decode()
        for shortcut in {"ws", "presales", "everyone", "mine-a", "mine-b", "mine-owner", "z-ws", "z-group"}:
            assert (f"/{shortcut}</strong>" in listed) == (shortcut in shortcuts), (user.username, shortcut)


def test_use_is_counted_with_f_and_only_for_usable_phrases(personas):
    p = personas
    phrase = make(p, "thanks")
    stale = QuickPhrase.objects.get(pk=phrase.pk)
    client_a, client_b = verified_client(p.agent_a_user), verified_client(p.agent_b_user)
    with CaptureQueriesContext(connection) as queries:
        assert client_a.post(f"/console/phrases/{phrase.pk}/use/").status_code == 200
    update = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE"))
    assert '"usage_count" + 1' in update.replace("(", "").replace(")", "")  # F(): no read-modify-write
    assert client_b.post(f"/console/phrases/{phrase.pk}/use/").status_code == 200
    stale.save(update_fields=["title"])  # a stale copy saving other fields does not undo counts
    assert QuickPhrase.objects.get(pk=phrase.pk).usage_count == 2
    theirs = make(p, "theirs", scope="personal", owner=p.agent_b_user)
    other = make(p, "z", workspace=p.other_workspace)
    for pk in (theirs.pk, other.pk, 999999):
        assert client_a.post(f"/console/phrases/{pk}/use/").status_code == 404
    assert QuickPhrase.objects.filter(pk__in=[theirs.pk, other.pk], usage_count=0).count() == 2


# --- picker payload: search keys, attachments, query counts -----------------------------------


def test_search_key_folds_case_width_and_chinese_script(personas):
    key = search_key("Ship", "運費說明", "退货请联系客服 Ｈｉ")
    for query in ("ship", "运费", "運費", "退貨", "退货", "hi", "说明"):
        assert query in key, query
    p = personas
    make(p, "refund", title="退款流程", body="您好{customer_name}，七天无理由退货。")
    row = picker(verified_client(p.agent_a_user))["refund"]
    assert "退貨" in row["search"] and "退款流程" in row["search"] and row["attachment"] is None


def test_picker_query_count_is_the_same_for_2_and_30_phrases(personas):
    p = personas
    group = AgentGroup.objects.create(workspace=p.workspace, name="G")
    group.members.add(p.agent_a_user)
    client = verified_client(p.agent_a_user)
    client.get("/console/phrases/manage/")  # the session's first request does its one-time work
    counts = []
    for total in (2, 30):
        QuickPhrase.objects.all().delete()
        for i in range(total):
            scope = ("workspace", "group", "personal")[i % 3]
            make(p, f"p{i}", scope=scope, group=group if scope == "group" else None, owner=p.agent_a_user if scope == "personal" else None,
                 category=f"c{i % 4}", valid_until=END if i % 5 == 0 else None)
        for url in ("/console/phrases/", "/console/phrases/manage/"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts.append((url, total, len(queries)))
    by_url = {}
    for url, total, n in counts:
        by_url.setdefault(url, set()).add(n)
    assert all(len(ns) == 1 for ns in by_url.values()), counts


# --- the agent's own phrases in the console ----------------------------------------------------


def form_data(**overrides):
    data = {"title": "Greeting", "shortcut": "hi", "category": "开场", "body": "您好 {customer_name}，我是{agent_name}。",
            "attachment": "", "valid_from": "", "valid_until": ""}
    data.update(overrides)
    return data


def test_agent_creates_edits_and_deletes_their_own_phrase(personas, media):
    p = personas
    client = verified_client(p.agent_a_user)
    page = client.get("/console/phrases/manage/new/")
    assert page.status_code == 200 and "{customer_name}" in page.content.decode()
    attachment = upload(client)
    r = client.post("/console/phrases/manage/new/", form_data(attachment=json.dumps(attachment), valid_from="2026-11-11T00:00",
                                                              valid_until="2026-11-12T00:00"))
    assert r.status_code == 302 and r["Location"] == "/console/phrases/manage/?saved=1"
    phrase = QuickPhrase.objects.get(shortcut="hi")
    assert (phrase.scope, phrase.owner_id, phrase.group_id, phrase.workspace_id) == ("personal", p.agent_a_user.pk, None, p.workspace.pk)
    assert (phrase.valid_from, phrase.valid_until) == (START, END)  # entered in the workspace's time zone
    assert phrase.attachment["url"] == attachment["url"] and phrase.attachment["kind"] == "image"
    assert AuditLog.objects.filter(action="phrase.add", actor=p.agent_a_user, target_id=str(phrase.pk)).exists()

    edit = client.get(f"/console/phrases/manage/{phrase.pk}/").content.decode()
    assert 'value="2026-11-11T00:00"' in edit and "promo.png" in edit
    r = client.post(f"/console/phrases/manage/{phrase.pk}/", form_data(title="Hello", attachment="", valid_until="2026-11-12T00:00"))
    assert r.status_code == 302
    phrase.refresh_from_db()
    assert (phrase.title, phrase.attachment, phrase.valid_from, phrase.valid_until) == ("Hello", {}, None, END)
    change = AuditLog.objects.get(action="phrase.change", target_id=str(phrase.pk))
    assert change.before["title"] == "Greeting" and change.after["title"] == "Hello"

    with time_machine.travel(START, tick=False):
        assert picker(client)["hi"]["body"] == "您好 {customer_name}，我是{agent_name}。"
    r = client.post(f"/console/phrases/manage/{phrase.pk}/delete/")
    assert r.status_code == 302 and not QuickPhrase.objects.filter(pk=phrase.pk).exists()
    assert AuditLog.objects.filter(action="phrase.delete", target_id=str(phrase.pk)).exists()


def test_others_phrases_are_not_found_in_the_console(personas):
    p = personas
    theirs = make(p, "theirs", scope="personal", owner=p.agent_b_user)
    shared = make(p, "shared")
    other = make(p, "z", workspace=p.other_workspace, scope="personal", owner=p.other_agent_user)
    client = verified_client(p.agent_a_user)
    before = list(QuickPhrase.objects.order_by("pk").values())
    for phrase in (theirs, shared, other):
        assert client.get(f"/console/phrases/manage/{phrase.pk}/").status_code == 404
        assert client.post(f"/console/phrases/manage/{phrase.pk}/", form_data(shortcut="taken")).status_code == 404
        assert client.post(f"/console/phrases/manage/{phrase.pk}/delete/").status_code == 404
    assert list(QuickPhrase.objects.order_by("pk").values()) == before
    assert AuditLog.objects.filter(actor=p.agent_a_user, denied=True, action="phrase.change").count() == 6
    assert AuditLog.objects.filter(actor=p.agent_a_user, denied=True, action="phrase.delete").count() == 3
    # The owner (configure) may not edit agents' personal phrases here either; and the picker says nothing about them.
    assert verified_client(p.owner_user).get(f"/console/phrases/manage/{theirs.pk}/").status_code == 404
    # An agent cannot write workspace or group phrases through the action.
    with pytest.raises(actions.DomainError) as refused:
        actions.save_phrase(Membership.objects.get(user=p.agent_a_user), scope="workspace", title="x", shortcut="x", body="x")
    assert refused.value.status == 403
    with pytest.raises(actions.DomainError) as refused:
        actions.delete_phrase(Membership.objects.get(user=p.agent_a_user), shared.pk)
    assert refused.value.status == 403
    assert QuickPhrase.objects.filter(pk=shared.pk).exists()


@pytest.mark.parametrize("overrides, field", [
    ({"shortcut": "has space"}, "shortcut"),
    ({"shortcut": "a/b"}, "shortcut"),
    ({"shortcut": ""}, "shortcut"),
    ({"shortcut": "x" * 31}, "shortcut"),
    ({"title": ""}, "title"),
    ({"title": "t" * 81}, "title"),
    ({"body": "   "}, "body"),
    ({"body": "b" * 2001}, "body"),
    ({"category": "c" * 41}, "category"),
    ({"valid_from": "2026-11-12T00:00", "valid_until": "2026-11-11T00:00"}, "valid_until"),
    ({"valid_from": "2026-11-11T00:00", "valid_until": "2026-11-11T00:00"}, "valid_until"),
    ({"valid_from": "tomorrow"}, "valid_from"),
    ({"attachment": "{not json"}, "attachment"),
    ({"attachment": json.dumps({"url": "https://evil.example/x.png", "name": "x.png", "size": 1})}, "attachment"),
    ({"attachment": json.dumps({"url": "/media/uploads/999/2026/01/" + "a" * 32 + ".png", "name": "x", "size": 1})}, "attachment"),
    ({"attachment": "[1, 2]"}, "attachment"),
])
def test_bad_input_shows_errors_and_stores_nothing(personas, overrides, field):
    p = personas
    client = verified_client(p.agent_a_user)
    client.cookies["django_language"] = "en"  # the notice is asserted in English
    r = client.post("/console/phrases/manage/new/", form_data(**overrides))
    assert r.status_code == 400
    assert field in r.context["form"].errors, r.context["form"].errors
    html = r.content.decode()
    assert "nothing was saved" in html and f'id="id_{field}_error"' in html
    assert not QuickPhrase.objects.exists()
    assert not AuditLog.objects.filter(action="phrase.add").exists()


def test_duplicate_shortcut_in_the_same_list_and_period(personas):
    p = personas
    client = verified_client(p.agent_a_user)
    make(p, "hi", scope="personal", owner=p.agent_a_user, valid_until=START)
    make(p, "hi", scope="personal", owner=p.agent_b_user)  # another agent's list: no clash
    make(p, "hi")  # the workspace list: no clash either
    r = client.post("/console/phrases/manage/new/", form_data(shortcut="HI", valid_from="2026-11-10T00:00"))
    assert r.status_code == 400 and "shortcut" in r.context["form"].errors
    # After the first one ends: fine (a later campaign may reuse a shortcut).
    r = client.post("/console/phrases/manage/new/", form_data(valid_from="2026-11-11T00:00"))
    assert r.status_code == 302
    assert QuickPhrase.objects.filter(owner=p.agent_a_user, shortcut__iexact="hi").count() == 2


def test_settings_page_and_picker_link_to_the_management_page(personas):
    client = verified_client(personas.agent_a_user)
    assert 'href="/console/phrases/manage/"' in client.get("/console/settings/").content.decode()


# --- the admin: workspace and group phrases ------------------------------------------------------


def admin_data(p, **overrides):
    data = {"workspace": p.workspace.pk, "scope": "workspace", "group": "", "category": "售后", "title": "Refund policy",
            "shortcut": "refund", "body": "{customer_name}，七天无理由退货。", "valid_from_0": "", "valid_from_1": "",
            "valid_until_0": "", "valid_until_1": "", "_save": "Save"}
    data.update(overrides)
    return data


def test_owner_adds_changes_and_deletes_workspace_and_group_phrases_in_the_admin(personas, media):
    p = personas
    group = AgentGroup.objects.create(workspace=p.workspace, name="After-sales")
    admin = verified_client(p.owner_user)
    assert admin.get("/admin/replies/quickphrase/add/").status_code == 200

    r = admin.post("/admin/replies/quickphrase/add/", admin_data(p, attachment_file=SimpleUploadedFile("policy.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", content_type="application/pdf")))
    assert r.status_code == 302, r.context["adminform"].form.errors
    ws_phrase = QuickPhrase.objects.get(shortcut="refund")
    assert (ws_phrase.scope, ws_phrase.group_id, ws_phrase.owner_id) == ("workspace", None, None)
    assert ws_phrase.attachment["kind"] == "file" and ws_phrase.attachment["name"] == "policy.pdf"
    assert AuditLog.objects.filter(action="phrase.add", actor=p.owner_user, target_id=str(ws_phrase.pk)).exists()

    r = admin.post("/admin/replies/quickphrase/add/", admin_data(p, scope="group", group=group.pk, shortcut="sale", title="Sale",
                                                                 valid_from_0="2026-11-11", valid_from_1="00:00:00",
                                                                 valid_until_0="2026-11-12", valid_until_1="00:00:00"))
    assert r.status_code == 302, r.context["adminform"].form.errors
    group_phrase = QuickPhrase.objects.get(shortcut="sale")
    assert (group_phrase.scope, group_phrase.group_id, group_phrase.valid_from, group_phrase.valid_until) == ("group", group.pk, START, END)

    listing = admin.get("/admin/replies/quickphrase/?q=七天").content.decode()
    assert "/refund" in listing and "/sale" in listing
    assert "/refund" not in admin.get("/admin/replies/quickphrase/?q=sale").content.decode()
    with time_machine.travel(START - TICK, tick=False):
        scheduled = admin.get("/admin/replies/quickphrase/?validity=scheduled").content.decode()
        assert "/sale" in scheduled and "/refund" not in scheduled
    with time_machine.travel(END, tick=False):
        assert "/sale" in admin.get("/admin/replies/quickphrase/?validity=expired").content.decode()
        assert "/sale" not in admin.get("/admin/replies/quickphrase/?validity=now").content.decode()
    assert "/sale" in admin.get(f"/admin/replies/quickphrase/?group__id__exact={group.pk}").content.decode()

    change = admin_data(p, title="Refunds", remove_attachment="on")
    del change["workspace"]
    r = admin.post(f"/admin/replies/quickphrase/{ws_phrase.pk}/change/", change)
    assert r.status_code == 302, r.context["adminform"].form.errors
    ws_phrase.refresh_from_db()
    assert (ws_phrase.title, ws_phrase.attachment) == ("Refunds", {})
    assert AuditLog.objects.filter(action="phrase.change", target_id=str(ws_phrase.pk)).exists()

    r = admin.post(f"/admin/replies/quickphrase/{group_phrase.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not QuickPhrase.objects.filter(pk=group_phrase.pk).exists()
    assert AuditLog.objects.filter(action="phrase.delete", target_id=str(group_phrase.pk)).exists()


def test_admin_refuses_bad_input_other_workspaces_and_personal_phrases(personas):
    p = personas
    admin = verified_client(p.owner_user)
    foreign_group = AgentGroup.objects.create(workspace=p.other_workspace, name="Z")
    for overrides, field in (
        ({"scope": "group", "group": foreign_group.pk}, "group"),
        ({"scope": "group"}, "group"),
        ({"scope": "personal"}, "scope"),
        ({"shortcut": "two words"}, "shortcut"),
        ({"valid_from_0": "2026-11-12", "valid_from_1": "00:00", "valid_until_0": "2026-11-11", "valid_until_1": "00:00"}, "valid_until"),
        ({"workspace": p.other_workspace.pk}, "workspace"),
    ):
        r = admin.post("/admin/replies/quickphrase/add/", admin_data(p, **overrides))
        assert r.status_code == 200 and field in r.context["adminform"].form.errors, (overrides, r.context["adminform"].form.errors)
    assert not QuickPhrase.objects.exists()

    personal = make(p, "mine", scope="personal", owner=p.agent_a_user)
    foreign = make(p, "z", workspace=p.other_workspace)
    listing = admin.get("/admin/replies/quickphrase/").content.decode()
    assert "/mine" not in listing and "/z<" not in listing
    for phrase in (personal, foreign):
        assert admin.get(f"/admin/replies/quickphrase/{phrase.pk}/change/").status_code == 404
        assert admin.post(f"/admin/replies/quickphrase/{phrase.pk}/delete/", {"post": "yes"}).status_code == 404
    assert QuickPhrase.objects.count() == 2


def test_agents_cannot_use_the_phrase_admin(personas):
    p = personas
    shared = make(p, "shared")
    agent = verified_client(p.agent_a_user)
    for url in ("/admin/replies/quickphrase/", "/admin/replies/quickphrase/add/", f"/admin/replies/quickphrase/{shared.pk}/change/"):
        r = agent.get(url)
        assert r.status_code == 302 and "/admin/login/" in r["Location"]
    r = agent.post(f"/admin/replies/quickphrase/{shared.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    assert QuickPhrase.objects.filter(pk=shared.pk).exists()
    # An admin of another workspace sees none of this workspace's phrases.
    z_admin_user, _ = make_agent(p.other_workspace, role="admin", username="z_admin")
    z_admin = verified_client(z_admin_user)
    assert z_admin.get(f"/admin/replies/quickphrase/{shared.pk}/change/").status_code == 404
    assert "/shared" not in z_admin.get("/admin/replies/quickphrase/").content.decode()
