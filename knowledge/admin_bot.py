"""The merchant's tools for the bot in the admin: 未解决问题 (the questions it could not answer,
with "add as 相似问 of an article") and 同义词 (synonym groups). Workspace-scoped like the
other knowledge pages; every write goes through knowledge.actions."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import ActionSavedAdmin, ActionValidatedForm, Refused, UnknownObject, acting
from helpdesk.errors import DomainError

from . import actions, synonyms
from .actions import delete_unanswered_question
from .models import Article, SynonymGroup, UnansweredQuestion

# --- 未解决问题 ---------------------------------------------------------------------------------


class AddSimilarForm(forms.Form):
    article = forms.ModelChoiceField(queryset=Article.objects.none(), label=_("article"),
                                     help_text=_("The question is added to the similar questions of its version in the question's language."))

    def __init__(self, *args, workspace_id, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["article"].queryset = Article.objects.filter(workspace_id=workspace_id).prefetch_related("versions").order_by("slug")
        self.fields["article"].label_from_instance = article_label


def article_label(article):
    titles = {v.locale: v.title for v in article.versions.all()}
    return next((titles[code] for code in ("zh-hans", "zh-hant", "en") if code in titles), article.slug)


@admin.register(UnansweredQuestion)
class UnansweredQuestionAdmin(ActionSavedAdmin):
    """Read only, sorted by the open questions asked most recently; the action (or each row's
    link) adds the chosen questions to an article as similar questions."""

    list_display = ["text", "count", "last_asked_at", "reason", "locale", "handled", "add_link", "workspace"]
    list_filter = ["reason", "locale", ("handled_at", admin.EmptyFieldListFilter), "workspace"]
    search_fields = ["text", "normalised"]
    list_select_related = ["handled_article", "workspace"]
    ordering = ["handled_at", "-last_asked_at", "-pk"]
    readonly_fields = ["text", "normalised", "locale", "reason", "count", "first_asked_at", "last_asked_at", "handled_at", "handled_article"]
    fields = readonly_fields + ["workspace"]
    actions = ["add_as_similar"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # questions come from the bot; the action is the one change

    @admin.display(description=_("handled"), boolean=False)
    def handled(self, obj):
        return obj.handled_article.slug if obj.handled_at and obj.handled_article_id else ("✓" if obj.handled_at else "")

    @admin.display(description=_("add to an article"))
    def add_link(self, obj):
        url = reverse("admin:knowledge_unansweredquestion_add_similar", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Add as similar question…"))

    def get_urls(self):
        extra = [path("<path:object_id>/add-similar/", self.admin_site.admin_view(self.add_similar_view),
                      name="knowledge_unansweredquestion_add_similar")]
        return extra + super().get_urls()

    def add_similar_view(self, request, object_id):
        with self.auditing_unknown_objects(request):
            question = self.get_object(request, unquote(object_id))
            if question is None:
                raise UnknownObject({"model": self.model._meta.label_lower, "id": str(object_id)[:60]})
        response = self._add_similar(request, self.get_queryset(request).filter(pk=question.pk), form_post=request.method == "POST")
        return response or HttpResponseRedirect(reverse("admin:knowledge_unansweredquestion_changelist"))

    @admin.action(description=_("Add as similar question of an article…"))
    def add_as_similar(self, request, queryset):
        return self._add_similar(request, queryset, form_post="apply" in request.POST)

    def _add_similar(self, request, queryset, form_post):
        """The article form (a page), or None once applied (the caller goes back to the list)."""
        workspace_ids = set(queryset.values_list("workspace_id", flat=True))
        if len(workspace_ids) != 1:
            messages.error(request, _("Choose questions of one workspace."))
            return None
        workspace_id = workspace_ids.pop()
        form = AddSimilarForm(request.POST if form_post else None, workspace_id=workspace_id)
        if form_post and form.is_valid():
            done = 0
            for question in queryset:
                try:
                    actions.add_similar_question(acting(request, workspace_id), question.pk, form.cleaned_data["article"].pk)
                    done += 1
                except DomainError as exc:
                    messages.error(request, f"{question}: {exc.message}")
            if done:
                messages.success(request, _("Questions added as similar questions: %(n)s.") % {"n": done})
            return None
        context = {**self.admin_site.each_context(request), "form": form, "questions": list(queryset), "opts": self.model._meta,
                   "title": _("Add as similar question of an article"), "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/knowledge/unansweredquestion/add_similar.html", context)

    # Dismissing noise (「你好」) is a delete, through the action like every write.
    def has_delete_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    delete_action, delete_audit_name = staticmethod(delete_unanswered_question), "kb_unanswered.delete"


# --- 同义词 --------------------------------------------------------------------------------------


class SynonymPhrasesField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4})

    def to_python(self, value):
        try:
            return "\n".join(synonyms.clean_phrases(super().to_python(value) or ""))
        except DomainError as exc:
            raise ValidationError(exc.message, code=exc.code) from None


class SynonymGroupForm(ActionValidatedForm):
    phrases = SynonymPhrasesField(
        label=_("equivalent words"),
        help_text=_("Words or phrases customers use for the same thing, one per line or separated by commas "
                    "(at least 2, each up to 30 characters), e.g. 退货, 退掉, 退回."),
    )

    class Meta:
        model = SynonymGroup
        fields = ["workspace", "phrases"]

    def clean(self):
        cleaned = super().clean()
        workspace_id = self.workspace_id()
        if workspace_id is not None and not self.instance.pk:
            try:
                synonyms.check_room(workspace_id)
            except DomainError as exc:
                self.add_error(None, exc.message)
        return cleaned


@admin.register(SynonymGroup)
class SynonymGroupAdmin(ActionSavedAdmin):
    form = SynonymGroupForm
    list_display = ["__str__", "updated_at", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["phrases"]
    list_select_related = ["workspace"]

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        try:
            saved = actions.save_synonym_group(acting(request, obj.workspace_id), obj.pk if change else None, phrases=obj.phrases)
        except DomainError as exc:
            raise Refused(exc, "kb_synonyms.change" if change else "kb_synonyms.add") from None
        obj.pk = saved.pk
        obj._state.adding = False

    delete_action, delete_audit_name = staticmethod(actions.delete_synonym_group), "kb_synonyms.delete"
