"""Authoring the knowledge base in the role-aware admin: categories, and articles with one
inline form per language. Every write goes through knowledge.actions (validation, the
`configure` capability, revisions, sanitised rendering, audit, search index after commit);
the forms call the same validators first so errors show next to the inputs."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import ActionSavedAdmin, ActionValidatedForm, ParentRightsInline, Refused, acting
from helpdesk.errors import DomainError

from . import actions, admin_bot  # noqa: F401 - admin_bot registers the bot's pages (未解决问题, 同义词)
from .actions import delete_article, delete_category
from .models import LOCALES, Article, ArticleVersion, Category
from .rendering import render_markdown

REVISIONS_SHOWN = 10


def add_action_error(form, error):
    field = getattr(error, "field", None)
    form.add_error(field if field in form.fields else None, error.message)


# --- categories ----------------------------------------------------------------------


class CategoryForm(ActionValidatedForm):
    class Meta:
        model = Category
        fields = ["workspace", "parent", "slug", "position", "name_zh_hans", "name_zh_hant", "name_en"]

    def clean(self):
        cleaned = super().clean()
        workspace_id = self.workspace_id()
        if workspace_id is None:
            return cleaned
        parent = cleaned.get("parent")
        try:
            if "slug" in cleaned:
                cleaned["slug"] = actions.clean_slug(cleaned["slug"], actions.MAX_CATEGORY_SLUG_CHARS)
                if Category.objects.filter(workspace_id=workspace_id, slug=cleaned["slug"]).exclude(pk=self.instance.pk).exists():
                    self.add_error("slug", _("Another category of this workspace already has this slug."))
            actions.check_category_parent(workspace_id, parent.pk if parent else None, self.instance.pk)
        except DomainError as exc:
            add_action_error(self, exc)
        if not any(cleaned.get(name) for name in actions.CATEGORY_NAME_FIELDS):
            self.add_error("name_zh_hans", _("Enter a name in at least one language."))
        return cleaned


@admin.register(Category)
class CategoryAdmin(ActionSavedAdmin):
    form = CategoryForm
    list_display = ["__str__", "slug", "parent", "position", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["slug", "name_zh_hans", "name_zh_hant", "name_en"]
    list_select_related = ["parent", "workspace"]
    ordering = ["workspace", "parent__position", "position", "pk"]

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "parent":
            field.queryset = field.queryset.filter(parent__isnull=True)  # one level of nesting
        return field

    def save_model(self, request, obj, form, change):
        try:
            saved = actions.save_category(
                acting(request, obj.workspace_id), obj.pk if change else None, slug=obj.slug, parent_id=obj.parent_id,
                position=obj.position, **{name: getattr(obj, name) for name in actions.CATEGORY_NAME_FIELDS},
            )
        except DomainError as exc:
            raise Refused(exc, "kb_category.change" if change else "kb_category.add") from None
        obj.pk = saved.pk
        obj._state.adding = False

    # (module-level names: inside the class body, `actions` is the admin's list of actions)
    delete_action, delete_audit_name = staticmethod(delete_category), "kb_category.delete"


# --- articles ------------------------------------------------------------------------


class QuestionLinesField(forms.CharField):
    """A JSON list of questions edited as text, one question per line."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value):
        if isinstance(value, (list, tuple)):
            return list(value)
        try:
            return actions.clean_similar_questions(super().to_python(value) or "")
        except DomainError as exc:
            raise ValidationError(exc.message, code=exc.code) from None


class ArticleVersionForm(ActionValidatedForm):
    similar_questions = QuestionLinesField(
        label=_("similar questions"), required=False,
        help_text=_("Other ways customers ask this, one per line (at most 30, each up to 120 characters)."),
    )

    class Meta:
        model = ArticleVersion
        fields = ["locale", "title", "body", "similar_questions", "meta_description"]
        widgets = {"body": forms.Textarea(attrs={"rows": 14, "class": "vLargeTextField"})}
        help_texts = {
            "body": _("Markdown: paragraphs, ## headings, **bold**, *italic*, lists, > quotes, `code`, links, images and tables. "
                      "HTML is shown as text."),
            "meta_description": _("For search engines and result snippets; empty: the start of the text."),
        }


class ArticleVersionFormSet(BaseInlineFormSet):
    def kept_forms(self):
        """Forms that hold a version after saving (not an untouched extra form, not deleted)."""
        for form in self.forms:
            if not form.instance.pk and not form.has_changed():
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            yield form

    def clean(self):
        # No generic unique check: one version per language is checked here (and by the constraint).
        if any(self.errors):
            return
        seen = set()
        kept = 0
        for form in self.kept_forms():
            kept += 1
            locale = form.cleaned_data.get("locale")
            if locale in seen:
                form.add_error("locale", _("This language already has a version in this article."))
                continue
            seen.add(locale)
            try:
                actions.clean_version(locale, form.cleaned_data)
            except DomainError as exc:
                add_action_error(form, exc)
        if not kept:
            raise ValidationError(_("Write the article in at least one language."))

    def versions_for_action(self):
        """{locale: data or None} for knowledge.actions.save_article."""
        versions = {}
        for form in self.forms:
            original = form.initial.get("locale") if form.instance.pk else None
            if self.can_delete and self._should_delete_form(form):
                if original:
                    versions.setdefault(original, None)
                continue
            if not form.instance.pk and not form.has_changed():
                continue
            data = {name: form.cleaned_data.get(name) for name in ("title", "body", "similar_questions", "meta_description")}
            locale = form.cleaned_data["locale"]
            if original and original != locale:
                versions.setdefault(original, None)  # moved to another language
            versions[locale] = data
        return versions


class ArticleVersionInline(ParentRightsInline, admin.StackedInline):
    model = ArticleVersion
    form = ArticleVersionForm
    formset = ArticleVersionFormSet
    fields = ["locale", "title", "body", "similar_questions", "meta_description", "preview", "recent_revisions"]
    readonly_fields = ["preview", "recent_revisions"]
    extra = 0
    min_num = 1
    max_num = len(LOCALES)
    verbose_name = _("language version")
    verbose_name_plural = _("language versions")

    @admin.display(description=_("preview"))
    def preview(self, obj):
        if obj is None or not (obj.title or obj.body):
            return "-"
        questions = [q for q in (obj.similar_questions or []) if isinstance(q, str)]
        similar = format_html('<p><strong>{}</strong></p><ul>{}</ul>', _("Similar questions"),
                              format_html_join("", "<li>{}</li>", ((q,) for q in questions))) if questions else ""
        # Safe to mark: render_markdown's output is the nh3 (allow-list) sanitiser's.
        body = mark_safe(render_markdown(obj.body))
        return format_html('<div class="kb-preview"><h1>{}</h1>{}{}</div>', obj.title, body, similar)

    @admin.display(description=_("revisions"))
    def recent_revisions(self, obj):
        if obj is None or not obj.pk:
            return "-"
        rows = [
            (formats.date_format(timezone.localtime(rev.created_at), "DATETIME_FORMAT"),
             rev.author.get_username() if rev.author_id else _("someone no longer here"), rev.title)
            for rev in obj.revisions.select_related("author")[:REVISIONS_SHOWN]
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} · {} · {}</li>", rows)) if rows else "-"


class ArticleForm(ActionValidatedForm):
    # Publishing from the edit page: the save goes through actions.save_article, then publish/unpublish.
    published = forms.BooleanField(label=_("Published"), required=False, help_text=_(
        "Shown on the help center, in the widget's search and to the bot once saved. Untick to take it back to a draft."))

    class Meta:
        model = Article
        fields = ["workspace", "category", "slug", "tags", "internal_only"]
        help_texts = {"slug": _("The article's address. Empty: made from the title's pinyin (如何退款 → <code>ru-he-tui-kuan</code>).")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "slug" in self.fields:
            self.fields["slug"].required = False
        if "published" in self.fields:
            self.fields["published"].initial = self.instance.status == Article.Status.PUBLISHED

    def clean(self):
        cleaned = super().clean()
        workspace_id = self.workspace_id()
        if workspace_id is None:
            return cleaned
        if not cleaned.get("slug") and "slug" not in self.errors:
            cleaned.pop("slug", None)  # empty: the action makes one from the title
        category = cleaned.get("category")
        for name, check in (
            ("slug", lambda: actions.clean_slug(cleaned["slug"])),
            ("tags", lambda: actions.clean_tags(cleaned["tags"])),
            ("category", lambda: actions.category_in_workspace(workspace_id, category.pk if category else None)),
        ):
            if name not in cleaned:
                continue
            try:
                value = check()
            except DomainError as exc:
                add_action_error(self, exc)
                continue
            if name != "category":
                cleaned[name] = value
        if "slug" in cleaned and "slug" not in self.errors:
            try:
                actions.check_article_slug_free(workspace_id, cleaned["slug"], self.instance.pk)
            except DomainError as exc:
                add_action_error(self, exc)
        return cleaned


@admin.register(Article)
class ArticleAdmin(ActionSavedAdmin):
    form = ArticleForm
    inlines = [ArticleVersionInline]
    list_display = ["slug", "title", "category", "status", "internal_only", "view_count", "helpful_count", "not_helpful_count", "updated_at",
                    "workspace"]
    list_filter = ["status", "internal_only", "category", "workspace"]
    search_fields = ["slug", "tags", "versions__title"]
    list_select_related = ["category", "workspace"]
    ordering = ["-updated_at", "-pk"]
    actions = ["publish_selected", "unpublish_selected"]
    counters = ["published_at", "view_count", "helpful_count", "not_helpful_count"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("versions")

    def get_fields(self, request, obj=None):
        fields = ["workspace", "category", "slug", "tags", "internal_only", "published"]
        return fields + self.counters if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return ["workspace", *self.counters] if obj is not None else []

    @admin.display(description=_("title"))
    def title(self, obj):
        by_locale = {v.locale: v.title for v in obj.versions.all()}
        return next((by_locale[code] for code, _label in LOCALES if code in by_locale), "-")

    def save_model(self, request, obj, form, change):
        pass  # saved with its versions in save_related, through the action

    def save_related(self, request, form, formsets, change):
        article = form.instance
        workspace_id = article.workspace_id if change else form.cleaned_data["workspace"].pk
        versions = {}
        for formset in formsets:
            if isinstance(formset, ArticleVersionFormSet):
                versions.update(formset.versions_for_action())
        category = form.cleaned_data.get("category")
        try:
            saved = actions.save_article(
                acting(request, workspace_id), article.pk if change else None, workspace_id=workspace_id,
                category_id=category.pk if category else None, slug=form.cleaned_data.get("slug", ""),
                tags=form.cleaned_data.get("tags", ""), versions=versions, internal_only=form.cleaned_data.get("internal_only", False),
            )
        except DomainError as exc:
            raise Refused(exc, "article.change" if change else "article.add") from None
        publishing = bool(form.cleaned_data.get("published"))
        try:  # an unchanged status writes nothing
            (actions.publish if publishing else actions.unpublish)(acting(request, workspace_id), saved.pk)
        except DomainError as exc:
            raise Refused(exc, "article.publish" if publishing else "article.unpublish") from None
        article.pk, article.slug = saved.pk, saved.slug
        article._state.adding = False
        for formset in formsets:
            formset.save(commit=False)  # nothing written: only for the admin's change message

    delete_action, delete_audit_name = staticmethod(delete_article), "article.delete"

    def _each(self, request, queryset, action, done_message):
        done = 0
        for article in queryset:
            try:
                action(acting(request, article.workspace_id), article.pk)
                done += 1
            except DomainError as exc:
                messages.error(request, f"{article}: {exc.message}")
        if done:
            messages.success(request, done_message % {"n": done})

    @admin.action(description=_("Publish"))
    def publish_selected(self, request, queryset):
        self._each(request, queryset, actions.publish, _("Articles published: %(n)s."))

    @admin.action(description=_("Unpublish"))
    def unpublish_selected(self, request, queryset):
        self._each(request, queryset, actions.unpublish, _("Articles unpublished: %(n)s."))
