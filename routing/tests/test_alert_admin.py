"""预警 thresholds are a form on the group's admin page (field errors in the owner's language, no
JSON), and the breach log is a read-only admin list of the workspace's own breaches."""

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from accounts.tests.test_admin_relations import page_values
from conftest import verified_client
from routing.models import AgentGroup, AlertMetric, ServiceAlertBreach, ServiceAlertRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(personas):
    return AgentGroup.objects.create(workspace=personas.workspace, name="售前组")


def _form(client, group, **thresholds):
    url = f"/admin/routing/agentgroup/{group.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    data = page_values(page.context, group.workspace)
    data.update({f"alert_rule-0-{name}": str(value) for name, value in thresholds.items()})
    data["alert_rule-0-enabled"] = "on"
    return url, data


def test_the_owner_sets_a_groups_thresholds_in_a_form(personas, group):
    client = verified_client(personas.owner_user)
    url, data = _form(client, group, max_queue_length=5, max_wait_seconds=120, max_first_response_seconds=60, max_unanswered=3,
                      min_csat="4.0", min_ratings=3)
    response = client.post(url, data)
    assert response.status_code == 302, response.context and [f.errors for f in response.context["inline_admin_formsets"][-1].formset]
    rule = ServiceAlertRule.objects.get(group=group)
    assert (rule.max_queue_length, rule.max_wait_seconds, rule.max_first_response_seconds, rule.max_unanswered, float(rule.min_csat),
            rule.enabled) == (5, 120, 60, 3, 4.0, True)
    audit = AuditLog.objects.get(action="group.alerts")
    assert audit.target_id == str(group.pk) and audit.after["max_wait_seconds"] == "120"


def test_bad_thresholds_are_field_errors_in_the_owners_language(personas, group):
    client = verified_client(personas.owner_user)
    client.cookies["django_language"] = "zh-hans"
    url, data = _form(client, group, max_queue_length=-1, min_csat="7", min_ratings=3)
    response = client.post(url, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][-1].formset.forms[0].errors
    assert set(errors) == {"max_queue_length", "min_csat"}
    assert "5" in str(errors["min_csat"]) and "确保" in str(errors["min_csat"])
    assert not ServiceAlertRule.objects.exists()


def test_the_breach_log_is_read_only_and_the_workspaces_own(personas, group):
    other_group = AgentGroup.objects.create(workspace=personas.other_workspace, name="Zebra group")
    for g in (group, other_group):
        ServiceAlertBreach.objects.create(workspace=g.workspace, group=g, metric=AlertMetric.LONGEST_WAIT, value=900, threshold=600,
                                          opened_at=timezone.now())
    client = verified_client(personas.owner_user)
    listing = client.get("/admin/routing/servicealertbreach/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "售前组" in html and "Zebra" not in html
    assert client.get("/admin/routing/servicealertbreach/add/").status_code == 403
    mine = ServiceAlertBreach.objects.get(group=group)
    page = client.post(f"/admin/routing/servicealertbreach/{mine.pk}/change/", {"value": "1"})
    assert page.status_code in (200, 403)
    mine.refresh_from_db()
    assert mine.value == 900
    assert verified_client(personas.agent_a_user).get("/admin/routing/servicealertbreach/").status_code in (302, 403)
