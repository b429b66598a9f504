"""Generated over every admin page there is: each one is workspace-scoped, and what it lists for
an owner of one workspace holds no row of another (rows of every kind exist in both). A new
model admin is covered the day it is registered."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from accounts.admin_scope import WorkspaceScopedAdmin
from chat.models import Conversation
from conftest import send, verified_client
from lifecycle.models import FollowUp

from .test_admin_relations import OUR_APPS

pytestmark = pytest.mark.django_db



@pytest.fixture
def both_workspaces_busy(personas):
    """Rows in both workspaces for the models the personas do not create by themselves."""
    for visitor in (personas.visitor, personas.other_visitor):
        message, _ = send(visitor, "hello")
        conversation = Conversation.objects.get(pk=message.conversation_id)
        FollowUp.objects.create(workspace_id=conversation.workspace_id, conversation=conversation, kind=FollowUp.Kind.PUSH_MESSAGE,
                                run_after=timezone.now(), state=FollowUp.State.FAILED, last_error="boom")
    return personas


def registered(ours=True):
    """Our apps' admins (workspace data), or the others (installation level: auth, axes, otp)."""
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if (model._meta.app_label in OUR_APPS) == ours]


def test_every_admin_page_is_workspace_scoped():
    unscoped = [model._meta.label_lower for model, model_admin in registered() if not isinstance(model_admin, WorkspaceScopedAdmin)]
    assert registered() and unscoped == []


def test_installation_pages_refuse_every_workspace_role(personas):
    client = verified_client(personas.owner_user)  # a founder: the strongest workspace role
    pages = [f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model, _admin in registered(ours=False)]
    assert pages and {path: client.get(path).status_code for path in pages} == dict.fromkeys(pages, 403)


def test_no_admin_page_lists_another_workspaces_rows(both_workspaces_busy):
    p = both_workspaces_busy
    request = RequestFactory().get("/admin/")
    request.user = p.owner_user
    checked = 0
    for model, model_admin in registered():
        rows = list(model_admin.get_queryset(request))
        foreign = [row.pk for row in rows if model_admin.workspace_of(row) != p.workspace.pk]
        assert foreign == [], f"{model._meta.label_lower} lists rows of another workspace: {foreign}"
        everywhere = model._default_manager.count()
        if everywhere > len(rows):
            checked += 1  # rows exist that this owner must not see, and does not
    assert checked >= 5  # inboxes, customers, conversations, members, follow-up jobs at least


def test_failed_follow_ups_are_listed_and_can_be_run_again(both_workspaces_busy):
    p = both_workspaces_busy
    client = verified_client(p.owner_user)
    page = client.get("/admin/lifecycle/followup/?state__exact=failed")
    assert page.status_code == 200 and "boom" in page.content.decode()
    mine = FollowUp.objects.get(workspace=p.workspace)
    theirs = FollowUp.objects.get(workspace=p.other_workspace)
    response = client.post("/admin/lifecycle/followup/", {"action": "retry", "_selected_action": [mine.pk, theirs.pk]})
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.state, mine.attempts) == ("pending", 0)
    assert theirs.state == "failed"  # another workspace's job is not even selectable
    assert client.get(f"/admin/lifecycle/followup/{theirs.pk}/change/").status_code == 404
