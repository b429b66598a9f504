"""Generated over every admin page and every relation field on its forms (foreign keys, many-to-many,
one-to-one; inlines included): an owner of workspace A is never offered another workspace's rows,
cannot save one into a field, and is never shown one's label. A new admin, inline or relation
field is covered the day it is registered; the fixture must only hold a row of each related model."""

from datetime import timedelta

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts import roles
from accounts.admin_scope import WorkspaceScopedAdmin
from accounts.models import AuditLog, CustomRole, Invite, Membership, Role, Workspace
from chat.models import Conversation, Customer, Disposition, Inbox, SatisfactionRating, Tag, WrapUpSettings
from connectors.models import ChannelAccount
from conftest import send, verified_client
from knowledge.models import Article, ArticleVersion, Category, SynonymGroup, UnansweredQuestion
from lifecycle.models import FollowUp
from orders.models import Voucher
from replies.models import AutoReplyRule, QuickPhrase, ReplySettings, SensitiveWordList
from routing.models import AgentGroup, AgentPresence, ServiceAlertBreach, ServiceAlertRule

pytestmark = pytest.mark.django_db

OUR_APPS = {"accounts", "chat", "routing", "knowledge", "orders", "replies", "connectors", "lifecycle"}  # the product's apps


def fill(workspace, inbox, visitor, agent_user, name):
    """One row of every model the admin pages show or relate to, labelled with `name`."""
    Customer.objects.filter(pk=visitor.customer_id).update(name=f"{name} customer")
    message, _ = send(visitor, "hello")
    conversation = Conversation.objects.get(pk=message.conversation_id)
    SatisfactionRating.objects.create(conversation=conversation, customer_id=visitor.customer_id, agent=agent_user, rating=5)
    FollowUp.objects.create(workspace=workspace, conversation=conversation, kind=FollowUp.Kind.PUSH_MESSAGE, run_after=timezone.now())
    Tag.objects.create(workspace=workspace, name=f"{name} tag")
    CustomRole.objects.create(workspace=workspace, name=f"{name} role", capabilities=[])
    Invite.objects.create(workspace=workspace, email=f"{name.lower()}@example.com", token_hash=f"hash-{name}",
                          expires_at=timezone.now() + timedelta(days=1))
    AuditLog.objects.create(workspace=workspace, actor=agent_user, action=f"{name.lower()}.test")
    group = AgentGroup.objects.create(workspace=workspace, name=f"{name} group")
    group.members.add(agent_user)
    assign_perm("routing.supervise_group", agent_user, group)
    ServiceAlertRule.objects.create(group=group, max_wait_seconds=300)
    ServiceAlertBreach.objects.create(workspace=workspace, group=group, metric="longest_wait", value=400, threshold=300, opened_at=timezone.now())
    AgentPresence.objects.get_or_create(workspace=workspace, user=agent_user)
    category = Category.objects.create(workspace=workspace, slug=f"{name.lower()}-category", name_zh_hans=f"{name} category")
    article = Article.objects.create(workspace=workspace, category=category, slug=f"{name.lower()}-article")
    ArticleVersion.objects.create(article=article, locale="zh-hans", title=f"{name} article title")
    SynonymGroup.objects.create(workspace=workspace, phrases=f"{name} word\n{name} phrase")
    UnansweredQuestion.objects.create(workspace=workspace, normalised=f"{name.lower()} question", text=f"{name} question", reason="suggested",
                                      count=1, last_asked_at=timezone.now(), handled_article=article)
    Voucher.objects.create(workspace=workspace, code=f"{name}-1", title=f"{name} voucher", customer_id=visitor.customer_id)
    ReplySettings.objects.create(workspace=workspace, inbox=inbox, welcome_message=f"{name} welcome")
    Disposition.objects.create(wrap_up=WrapUpSettings.objects.create(workspace=workspace), name=f"{name} wrap-up category")
    AutoReplyRule.objects.create(workspace=workspace, inbox=inbox, name=f"{name} rule", keywords="hi", reply_text="hello", article=article)
    SensitiveWordList.objects.create(workspace=workspace, name=f"{name} words", words="bad")
    QuickPhrase.objects.create(workspace=workspace, scope=QuickPhrase.Scope.GROUP, group=group, title=f"{name} phrase",
                               shortcut=f"{name.lower()}-hi", body="Hello")
    wechat = Inbox.objects.create(workspace=workspace, name=f"{name} WeChat", kind=Inbox.Kind.WECHAT_OA)
    ChannelAccount.objects.create(inbox=wechat, app_id=f"{name}app", token="tok123")


@pytest.fixture
def both_filled(personas):
    p = personas
    fill(p.workspace, p.inbox_a, p.visitor, p.agent_a_user, "Alpha")
    fill(p.other_workspace, p.other_inbox, p.other_visitor, p.other_agent_user, "Zeta")
    return p


def registered():
    return [(model, model_admin) for model, model_admin in admin.site._registry.items() if model._meta.app_label in OUR_APPS]


def rows_of_workspace(model, workspace):
    """The test's own notion of whose row is whose (not the code under test): None for models
    that are not workspace data (auth permissions, content types)."""
    if model is Workspace:
        return model.objects.filter(pk=workspace.pk)
    if model is get_user_model():
        return model.objects.filter(memberships__workspace=workspace)
    if any(f.name == "workspace" and f.related_model is Workspace for f in model._meta.concrete_fields):
        return model._default_manager.filter(workspace=workspace)
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, WorkspaceScopedAdmin):
        return model._default_manager.filter(**{model_admin.workspace_path: workspace})
    return None


def foreign_rows(model, p):
    """Rows of workspace B that are not also workspace A's (a user in both would be A's too)."""
    theirs = rows_of_workspace(model, p.other_workspace)
    if theirs is None:
        return None
    rows = list(theirs.exclude(pk__in=rows_of_workspace(model, p.workspace).values("pk")))
    assert rows, f"no row of {model._meta.label} in workspace B: add one to fill() in this test"
    return rows


def relation_fields(form):
    return {name: field for name, field in form.fields.items() if isinstance(field, forms.ModelChoiceField)}


def form_values(form):
    """What a browser would post back for the form as rendered (its current values)."""
    data = {}
    for name, field in form.fields.items():
        key, value = form.add_prefix(name), form[name].value()
        widget = getattr(field.widget, "widget", field.widget)  # inside RelatedFieldWidgetWrapper
        if isinstance(widget, forms.MultiWidget):
            parts = widget.decompress(value) if value else []
            data.update({f"{key}_{i}": str(part) for i, part in enumerate(parts) if part is not None})
        elif isinstance(widget, forms.CheckboxInput):
            if value:
                data[key] = "on"
        elif isinstance(value, (list, tuple)):
            data[key] = [str(item) for item in value]
        elif value is not None:
            data[key] = str(value)
    return data


def page_values(context, workspace):
    adminform = context["adminform"]
    data = form_values(adminform.form)
    if "workspace" in adminform.form.fields:
        data["workspace"] = str(workspace.pk)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(form_values(formset.management_form))
        for form in formset.forms:
            data.update(form_values(form))
    return data


def snapshot(model, obj):
    """The model's row count and, for a change page, the stored object's values (many-to-many as ids)."""
    state = {"count": model._default_manager.count()}
    if obj is not None:
        values = model_to_dict(model._default_manager.get(pk=obj.pk))
        state["row"] = {name: [getattr(item, "pk", item) for item in value] if isinstance(value, list) else value
                        for name, value in values.items()}
    return state


def pages(p):
    """(admin, url, object or None) for every add page and one change page of a workspace-A row per admin."""
    request = RequestFactory().get("/admin/")
    request.user = p.owner_user
    found = []
    for model, model_admin in registered():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        if model_admin.has_add_permission(request):
            found.append((model, model_admin, f"{base}add/", None))
        mine = model_admin.get_queryset(request).first()
        assert mine is not None, f"no {model._meta.label} row in workspace A: add one to fill() in this test"
        found.append((model, model_admin, f"{base}{mine.pk}/change/", mine))
    return found, request


def editable(model_admin, request, obj):
    return model_admin.has_change_permission(request, obj) if obj is not None else model_admin.has_add_permission(request)


def test_every_relation_field_offers_accepts_and_shows_only_this_workspace(both_filled):
    p = both_filled
    client = verified_client(p.owner_user)
    found, request = pages(p)
    checked, problems = set(), []
    for model, model_admin, url, obj in found:
        page = client.get(url)
        assert page.status_code == 200, url
        context = page.context
        # (3) the page as shown: no label of another workspace's row anywhere
        forms_on_page = [("", context["adminform"].form, None)]
        forms_on_page += [(inline.formset.prefix, inline.formset.empty_form, inline.formset) for inline in context["inline_admin_formsets"]]
        content = page.content.decode()
        for prefix, form, formset in forms_on_page:
            for name, field in relation_fields(form).items():
                foreign = foreign_rows(field.queryset.model, p)
                if foreign is None:
                    continue
                where = f"{url} {prefix + '-' if prefix else ''}{name}"
                checked.add(where)
                shown = [str(row) for row in foreign if str(row) in content]
                if shown:
                    problems.append(f"{where}: page shows {shown}")
                # (1) offered: nothing of workspace B
                offered = list(field.queryset.filter(pk__in=[row.pk for row in foreign]))
                if offered:
                    problems.append(f"{where}: offers {[str(row) for row in offered]}")
                if not editable(model_admin, request, obj):
                    continue
                # (2) posted: a form error on that very field, nothing changes, no label shown
                problems += post_foreign_row(client, url, model, obj, context, p, prefix, name, field, formset, foreign[0])
                # (3) a typed foreign id in the URL (add pages take initial values from it) shows no label
                if obj is None and not prefix:
                    typed = client.get(f"{url}?{name}={foreign[0].pk}").content.decode()
                    if str(foreign[0]) in typed:
                        problems.append(f"{where}: ?{name}={foreign[0].pk} shows {str(foreign[0])!r}")
                # (3) a row saved before the fix, naming another workspace's row, does not show it
                if obj is not None and not prefix:
                    problems += legacy_foreign_row_hidden(client, url, model, obj, name, foreign[0])
    assert problems == [], "\n".join(problems)
    # the walk reached the named cases and the inlines (a regression of the walk itself would pass silently)
    assert {"/admin/orders/voucher/add/ customer", "/admin/replies/autoreplyrule/add/ article"} <= checked
    assert any(where.endswith("members") for where in checked) and any("user_permissions" in where for where in checked)


def post_foreign_row(client, url, model, obj, context, p, prefix, name, field, formset, foreign):
    data = page_values(context, p.workspace)
    value = [str(foreign.pk)] if isinstance(field, forms.ModelMultipleChoiceField) else str(foreign.pk)
    watched = model
    if formset is None:
        data[name] = value
    else:  # one more inline row naming the foreign object
        index = int(data[f"{prefix}-TOTAL_FORMS"])
        data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
        extra = form_values(formset.empty_form)
        data.update({key.replace("__prefix__", str(index)): item for key, item in extra.items()})
        data[f"{prefix}-{index}-{name}"] = value
        watched = formset.model
    where = f"{url} {prefix + '-' if prefix else ''}{name}"
    before = snapshot(model, obj), snapshot(watched, None)
    response = client.post(url, data)
    after = snapshot(model, obj), snapshot(watched, None)
    problems = []
    if response.status_code != 200:
        return [f"{where}: POST answered {response.status_code}, not a form error"]
    if formset is None:
        errors = response.context["adminform"].form.errors
    else:
        posted = next(inline.formset for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == prefix)
        errors = posted.forms[-1].errors
    if name not in errors:
        problems.append(f"{where}: no error on the field ({dict(errors)})")
    if before != after:
        problems.append(f"{where}: changed {before} -> {after}")
    if str(foreign) in response.content.decode():
        problems.append(f"{where}: the error page shows {str(foreign)!r}")
    return problems


def legacy_foreign_row_hidden(client, url, model, obj, name, foreign):
    """Point the stored row's field at the foreign row (as the bug could save it) and render the page.
    Not the workspace field (that makes it the other workspace's row: a 404), nor a field the object's
    own name is made of (ReplySettings is named after its inbox)."""
    field = model._meta.get_field(name)
    if field.related_model is Workspace:
        return []
    if field.many_to_many:
        getattr(obj, name).add(foreign)
    else:
        model._default_manager.filter(pk=obj.pk).update(**{field.attname: foreign.pk})
    try:
        page = client.get(url)
    finally:
        if field.many_to_many:
            getattr(obj, name).remove(foreign)
        else:
            model._default_manager.filter(pk=obj.pk).update(**{field.attname: getattr(obj, field.attname)})
    if page.status_code != 200:
        return [f"{url} {name}: a stored foreign row answers {page.status_code}"]
    if str(foreign) in str(page.context["original"]):
        return []
    return [f"{url} {name}: a stored foreign row shows {str(foreign)!r}"] if str(foreign) in page.content.decode() else []


def test_sidebar_filters_on_relations_list_only_this_workspaces_rows(both_filled):
    """A new list_filter on any relation (here users and groups) is scoped without being declared so."""
    p = both_filled
    Conversation.objects.filter(workspace=p.other_workspace).update(assignee=p.other_agent_user)

    class ConversationFilters(WorkspaceScopedAdmin):
        capability = roles.VIEW_ALL_HISTORY
        list_filter = ["assignee", "group", "customer", "inbox"]

    request = RequestFactory().get("/admin/chat/conversation/")
    request.user = p.owner_user
    changelist = ConversationFilters(Conversation, admin.site).get_changelist_instance(request)
    labels = {str(choice_label) for spec in changelist.filter_specs for _value, choice_label in spec.lookup_choices}
    assert {"agent_a", "Alpha group", "Site A"} <= labels  # (a filter with one choice is not shown)
    assert labels.isdisjoint({"agent_z", "Zeta group", "Zeta customer", "Site Z"})


# --- the two cases of the finding, and the rule for owners of several workspaces ----------------


def test_group_members_are_this_workspaces_members(both_filled):
    p = both_filled
    group = AgentGroup.objects.get(workspace=p.workspace, name="Alpha group")
    client = verified_client(p.owner_user)
    url = f"/admin/routing/agentgroup/{group.pk}/change/"
    page = client.get(url)
    assert p.other_agent_user not in page.context["adminform"].form.fields["members"].queryset
    assert "agent_z" not in page.content.decode()
    data = page_values(page.context, p.workspace)
    data["members"] = [str(p.agent_a_user.pk), str(p.other_agent_user.pk)]
    response = client.post(url, data)
    assert response.status_code == 200 and "members" in response.context["adminform"].form.errors
    assert list(group.members.all()) == [p.agent_a_user]
    data["members"] = [str(p.agent_a_user.pk), str(p.agent_b_user.pk)]
    assert client.post(url, data).status_code == 302  # the page still saves this workspace's members
    assert set(group.members.all()) == {p.agent_a_user, p.agent_b_user}


def test_voucher_does_not_name_a_typed_customer_of_another_workspace(both_filled):
    p = both_filled
    theirs = Customer.objects.get(pk=p.other_visitor.customer_id)
    client = verified_client(p.owner_user)
    page = client.get(f"/admin/orders/voucher/add/?customer={theirs.pk}")
    assert page.status_code == 200 and "Zeta customer" not in page.content.decode()
    data = {"workspace": p.workspace.pk, "code": "NEW-1", "title": "New", "kind": "voucher", "status": "valid", "customer": theirs.pk}
    response = client.post("/admin/orders/voucher/add/", data)
    assert response.status_code == 200 and "customer" in response.context["adminform"].form.errors
    assert "Zeta customer" not in response.content.decode()
    assert not Voucher.objects.filter(code="NEW-1").exists()
    # this workspace's customer is named, and saved
    mine = Customer.objects.get(pk=p.visitor.customer_id)
    assert "Alpha customer" in client.get(f"/admin/orders/voucher/add/?customer={mine.pk}").content.decode()
    assert client.post("/admin/orders/voucher/add/", {**data, "customer": mine.pk}).status_code == 302
    assert Voucher.objects.get(code="NEW-1").customer == mine


def codes(form, field):
    return [error.code for error in form.errors.as_data()[field]]


@pytest.fixture
def owner_of_both(both_filled):
    """The owner founds workspace B too: both are offered, but one object never mixes them."""
    Membership.objects.create(workspace=both_filled.other_workspace, user=both_filled.owner_user, role=Role.FOUNDER)
    return both_filled


def test_an_owner_of_two_workspaces_cannot_mix_them_on_save(owner_of_both):
    p = owner_of_both
    client = verified_client(p.owner_user)
    group = AgentGroup.objects.get(workspace=p.workspace, name="Alpha group")
    url = f"/admin/routing/agentgroup/{group.pk}/change/"
    page = client.get(url)
    assert p.other_agent_user in page.context["adminform"].form.fields["members"].queryset  # a member of a workspace of theirs
    data = page_values(page.context, p.workspace)
    data["members"] = [str(p.other_agent_user.pk)]
    response = client.post(url, data)
    assert response.status_code == 200
    assert codes(response.context["adminform"].form, "members") == ["other_workspace"]
    assert list(group.members.all()) == [p.agent_a_user]

    data = page_values(page.context, p.workspace)  # a supervisor row naming B's agent
    index = int(data["user_permissions-TOTAL_FORMS"])
    data.update({"user_permissions-TOTAL_FORMS": str(index + 1), f"user_permissions-{index}-user": str(p.other_agent_user.pk),
                 f"user_permissions-{index}-content_object": str(group.pk)})
    response = client.post(url, data)
    assert response.status_code == 200
    supervisors = next(inline.formset for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "user_permissions")
    assert codes(supervisors.forms[-1], "user") == ["other_workspace"]
    assert not group.user_permissions.filter(user=p.other_agent_user).exists()

    theirs = Customer.objects.get(pk=p.other_visitor.customer_id)
    response = client.post("/admin/orders/voucher/add/", {"workspace": p.workspace.pk, "code": "MIX-1", "title": "Mixed", "kind": "voucher",
                                                          "status": "valid", "customer": theirs.pk})
    assert response.status_code == 200
    assert codes(response.context["adminform"].form, "customer") == ["other_workspace"]
    assert not Voucher.objects.filter(code="MIX-1").exists()

    rule = AutoReplyRule.objects.get(workspace=p.workspace)
    rule_url = f"/admin/replies/autoreplyrule/{rule.pk}/change/"
    data = page_values(client.get(rule_url).context, p.workspace)
    data["article"] = str(Article.objects.get(workspace=p.other_workspace).pk)
    response = client.post(rule_url, data)
    assert response.status_code == 200 and codes(response.context["adminform"].form, "article") == ["other_workspace"]
    rule.refresh_from_db()
    assert rule.article.workspace_id == p.workspace.pk


def test_a_new_member_may_come_from_another_workspace_of_the_owner(owner_of_both):
    """The membership being created is the one field whose user is not a member yet."""
    p = owner_of_both
    response = verified_client(p.owner_user).post("/admin/accounts/membership/add/", {
        "workspace": p.workspace.pk, "user": p.other_agent_user.pk, "role": "agent", "display_name": "Zed"})
    assert response.status_code == 302
    assert Membership.objects.filter(workspace=p.workspace, user=p.other_agent_user).exists()
