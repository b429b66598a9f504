"""Knowledge-base writes: categories, articles and their per-locale versions, publishing,
views and votes.

Each authoring write: validate, authorise (the acting membership must hold the
`configure` capability; refusals are audited), change inside a short transaction with an
audit row, then update the search index after commit (knowledge.search's index hooks, looked
up when they run, so the search engine can be swapped without touching this module). Targets
are looked up inside the acting member's workspace, so another workspace's ids are "not found".

Validation errors are ChatErrors (status 400/409) carrying `field` (the form field they
belong to, or None) so the admin forms can show them next to the right input.

Counters (views, votes) are F() updates: concurrent readers and voters never lose one.
One vote per voter and article is enforced by the unique constraint, not by a check."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from pypinyin import lazy_pinyin

from accounts import roles
from accounts.actions import _audit_refusal, _refuse, audit, audit_changes, in_workspace, require
from helpdesk.errors import DomainError
from helpdesk.validation import int_or_none

from . import search, synonyms
from .models import LOCALES, Article, ArticleRevision, ArticleVersion, ArticleVote, Category, SynonymGroup, SynonymVersion, UnansweredQuestion
from .rendering import render_markdown

LOCALE_CODES = tuple(code for code, _label in LOCALES)
MAX_SIMILAR_QUESTIONS = 30
MAX_SIMILAR_QUESTION_CHARS = 120
MAX_TITLE_CHARS = ArticleVersion._meta.get_field("title").max_length
MAX_META_CHARS = ArticleVersion._meta.get_field("meta_description").max_length
MAX_TAGS_CHARS = Article._meta.get_field("tags").max_length
MAX_ARTICLE_SLUG_CHARS = Article._meta.get_field("slug").max_length
MAX_CATEGORY_SLUG_CHARS = Category._meta.get_field("slug").max_length
MAX_CATEGORY_NAME_CHARS = Category._meta.get_field("name_en").max_length
MAX_VOTER_KEY_CHARS = ArticleVote._meta.get_field("voter_key").max_length
CATEGORY_NAME_FIELDS = ("name_zh_hans", "name_zh_hant", "name_en")


# --- errors and helpers ------------------------------------------------------------


def invalid(code, message, field=None, status=400):
    """A validation error; `field` names the form field it belongs to (None: the whole form)."""
    error = DomainError(code, message, status=status)
    error.field = field
    return error


def article_not_found():
    return DomainError("not_found", _("Article not found."), status=404)


def _after_commit(hook_name, article_id):
    """Run knowledge.search.<hook_name>(article_id) once the transaction commits; an index
    failure is logged, never undoes or fails the saved change."""
    transaction.on_commit(lambda: getattr(search, hook_name)(article_id), robust=True)


def _require_configure(actor, action):
    require(actor, roles.CONFIGURE, action)


# --- validation (also used by the admin forms, for errors next to the inputs) --------


def clean_slug(slug, max_chars=MAX_ARTICLE_SLUG_CHARS):
    slug = slug.strip() if isinstance(slug, str) else ""
    if not slug:
        raise invalid("slug_required", _("Enter a slug."), "slug")
    if len(slug) > max_chars:
        raise invalid("slug_too_long", _("A slug can be at most %(n)s characters.") % {"n": max_chars}, "slug")
    try:
        validate_slug(slug)
    except ValidationError:
        raise invalid("invalid_slug", _("A slug may contain only letters, digits, hyphens and underscores."), "slug") from None
    return slug


# Room left in a derived slug for the "-2", "-3" … that tells articles with the same title apart.
DERIVED_SLUG_CHARS = MAX_ARTICLE_SLUG_CHARS - 10


def slug_from_title(workspace_id, title, article_id=None):
    """A slug for an article whose owner left it empty: the pinyin of its title (如何退款 → ru-he-tui-kuan,
    Latin words kept, accents dropped), made unique in the workspace with -2, -3 … The unique constraint
    still decides when two saves race for the same one."""
    base = slugify("-".join(lazy_pinyin(str(title or ""))))
    if len(base) > DERIVED_SLUG_CHARS:  # cut between syllables, not inside one
        base = base[:DERIVED_SLUG_CHARS + 1].rsplit("-", 1)[0] if "-" in base[:DERIVED_SLUG_CHARS + 1] else base[:DERIVED_SLUG_CHARS]
    base = base.strip("-_") or "article"
    taken = set(Article.objects.filter(workspace_id=workspace_id, slug__startswith=base).exclude(pk=article_id)
                .values_list("slug", flat=True))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def first_title(versions):
    """The title a derived slug is made from: the first language's (简体, 繁體, English) given."""
    return next((versions[code]["title"] for code in LOCALE_CODES if versions.get(code)), "")


def clean_tags(tags):
    """Comma-separated (ASCII or full-width commas), trimmed, duplicates dropped: "a, b"."""
    if tags is None:
        return ""
    if isinstance(tags, (list, tuple)):
        tags = ",".join(str(t) for t in tags)
    if not isinstance(tags, str):
        raise invalid("invalid_tags", _("Tags must be text."), "tags")
    seen, kept = set(), []
    for tag in tags.replace("，", ",").replace("、", ",").split(","):
        tag = " ".join(tag.split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            kept.append(tag)
    joined = ", ".join(kept)
    if len(joined) > MAX_TAGS_CHARS:
        raise invalid("tags_too_long", _("Tags can be at most %(n)s characters in all.") % {"n": MAX_TAGS_CHARS}, "tags")
    return joined


def clean_similar_questions(questions):
    """A list (or text, one per line) of at most 30 questions of at most 120 characters each;
    blank lines and repeats are dropped."""
    if questions is None:
        return []
    if isinstance(questions, str):
        questions = questions.splitlines()
    if not isinstance(questions, (list, tuple)):
        raise invalid("invalid_similar_questions", _("Similar questions must be a list of texts."), "similar_questions")
    seen, kept = set(), []
    for question in questions:
        if not isinstance(question, str):
            raise invalid("invalid_similar_questions", _("Similar questions must be a list of texts."), "similar_questions")
        question = " ".join(question.split())
        if not question or question.casefold() in seen:
            continue
        if len(question) > MAX_SIMILAR_QUESTION_CHARS:
            raise invalid("similar_question_too_long",
                          _("A similar question can be at most %(n)s characters: %(question)s")
                          % {"n": MAX_SIMILAR_QUESTION_CHARS, "question": question[:40] + "…"}, "similar_questions")
        seen.add(question.casefold())
        kept.append(question)
    if len(kept) > MAX_SIMILAR_QUESTIONS:
        raise invalid("too_many_similar_questions",
                      _("An article can have at most %(n)s similar questions per language.") % {"n": MAX_SIMILAR_QUESTIONS},
                      "similar_questions")
    return kept


def clean_version(locale, data):
    """One locale's text, normalised: {title, body, similar_questions, meta_description}."""
    if locale not in LOCALE_CODES:
        raise invalid("invalid_locale", _("Unknown language: %(locale)s.") % {"locale": str(locale)[:20]}, "locale")
    if not isinstance(data, dict):
        raise invalid("invalid_version", _("Each language needs a title and a text."))
    title = " ".join(str(data.get("title") or "").split())
    if not title:
        raise invalid("title_required", _("Enter a title."), "title")
    if len(title) > MAX_TITLE_CHARS:
        raise invalid("title_too_long", _("A title can be at most %(n)s characters.") % {"n": MAX_TITLE_CHARS}, "title")
    body = data.get("body") or ""
    if not isinstance(body, str):
        raise invalid("invalid_body", _("The text must be Markdown text."), "body")
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    meta = " ".join(str(data.get("meta_description") or "").split())
    if len(meta) > MAX_META_CHARS:
        raise invalid("meta_too_long", _("A meta description can be at most %(n)s characters.") % {"n": MAX_META_CHARS},
                      "meta_description")
    return {"title": title, "body": body, "similar_questions": clean_similar_questions(data.get("similar_questions")),
            "meta_description": meta}


def clean_versions(versions):
    """{locale: data or None}: None removes that locale's version."""
    if not isinstance(versions, dict):
        raise invalid("invalid_versions", _("Versions must be given per language."))
    return {locale: None if data is None else clean_version(locale, data) for locale, data in versions.items()}


def category_in_workspace(workspace_id, category_id):
    """The category (of this workspace) for an article, or a field error."""
    if category_id is None or category_id == "":
        return None
    category = Category.objects.filter(pk=int_or_none(category_id), workspace_id=workspace_id).first()
    if category is None:
        raise invalid("invalid_category", _("Choose a category of this workspace."), "category")
    return category


def check_article_slug_free(workspace_id, slug, article_id=None):
    taken = Article.objects.filter(workspace_id=workspace_id, slug=slug).exclude(pk=article_id).exists()
    if taken:
        raise invalid("slug_taken", _("Another article of this workspace already has this slug."), "slug", status=409)


def check_category_parent(workspace_id, parent_id, category_id=None):
    """A parent is a top-level category of the same workspace, and a category with
    subcategories stays top-level (one level of nesting)."""
    if parent_id is None or parent_id == "":
        return None
    parent = Category.objects.filter(pk=int_or_none(parent_id), workspace_id=workspace_id).first()
    if parent is None:
        raise invalid("invalid_parent", _("Choose a parent category of this workspace."), "parent")
    if category_id is not None and parent.pk == int_or_none(category_id):
        raise invalid("invalid_parent", _("A category cannot be its own parent."), "parent")
    if parent.parent_id is not None:
        raise invalid("invalid_parent", _("Choose a top-level category as parent: categories nest one level only."), "parent")
    if category_id is not None and Category.objects.filter(parent_id=int_or_none(category_id)).exists():
        raise invalid("has_subcategories", _("A category with subcategories cannot be placed under another."), "parent")
    return parent


# --- categories ---------------------------------------------------------------------


def _category_state(category):
    return {"slug": category.slug, "parent": category.parent_id, "position": category.position,
            **{name: getattr(category, name) for name in CATEGORY_NAME_FIELDS}}


def save_category(actor, category=None, *, slug, parent_id=None, position=0, name_zh_hans="", name_zh_hant="", name_en=""):
    """Create (category=None) or update a category (instance or id) in the actor's workspace."""
    action = "kb_category.change" if category is not None else "kb_category.add"
    _require_configure(actor, action)
    existing = None
    if category is not None:
        existing = in_workspace(actor, Category, getattr(category, "pk", category), action)
    slug = clean_slug(slug, MAX_CATEGORY_SLUG_CHARS)
    names = {"name_zh_hans": name_zh_hans, "name_zh_hant": name_zh_hant, "name_en": name_en}
    names = {field: " ".join(str(value or "").split()) for field, value in names.items()}
    if not any(names.values()):
        raise invalid("name_required", _("Enter a name in at least one language."), "name_zh_hans")
    for field, value in names.items():
        if len(value) > MAX_CATEGORY_NAME_CHARS:
            raise invalid("name_too_long", _("A name can be at most %(n)s characters.") % {"n": MAX_CATEGORY_NAME_CHARS}, field)
    position = int_or_none(position)
    if position is None or position < 0:
        raise invalid("invalid_position", _("The position must be a whole number, 0 or more."), "position")
    check_category_parent(actor.workspace_id, parent_id, existing.pk if existing else None)
    try:
        with _audit_refusal(actor, action, existing), transaction.atomic():
            # Lock the category and its parent (in id order) and check again: two concurrent
            # saves cannot nest a category under one that is itself moving under another.
            lock_ids = sorted({pk for pk in (existing.pk if existing else None, int_or_none(parent_id)) if pk is not None})
            list(Category.objects.select_for_update().filter(pk__in=lock_ids).order_by("pk").values_list("pk", flat=True))
            parent = check_category_parent(actor.workspace_id, parent_id, existing.pk if existing else None)
            if Category.objects.filter(workspace_id=actor.workspace_id, slug=slug).exclude(pk=existing.pk if existing else None).exists():
                raise invalid("slug_taken", _("Another category of this workspace already has this slug."), "slug", status=409)
            target = Category.objects.get(pk=existing.pk) if existing else Category(workspace_id=actor.workspace_id)
            before = _category_state(target) if existing else {}
            target.slug, target.parent, target.position = slug, parent, position
            for field, value in names.items():
                setattr(target, field, value)
            after = _category_state(target)
            if existing and before == after:
                return target
            target.save()
            audit_changes(actor, action, target, before, after)
    except IntegrityError:
        raise invalid("slug_taken", _("Another category of this workspace already has this slug."), "slug", status=409) from None
    return target


def delete_category(actor, category_id):
    """Delete a category without subcategories; its articles become uncategorised (reindexed)."""
    action = "kb_category.delete"
    _require_configure(actor, action)
    category = in_workspace(actor, Category, category_id, action)
    with _audit_refusal(actor, action, category), transaction.atomic():
        category = Category.objects.select_for_update().get(pk=category.pk)
        if category.children.exists():
            raise DomainError("has_subcategories", _("Move or delete its subcategories first."), status=409)
        article_ids = list(category.articles.values_list("pk", flat=True))
        audit(actor, action, target=category, before=_category_state(category))
        category.delete()
    for article_id in article_ids:
        _after_commit("index_article", article_id)


# --- articles -----------------------------------------------------------------------


def _version_state(version):
    return {"title": version.title, "body": version.body, "similar_questions": list(version.similar_questions or []),
            "meta_description": version.meta_description}


def save_article(actor, article=None, *, workspace_id=None, category_id=None, slug, tags="", versions, internal_only=None):
    """Create (article=None) or update an article (instance or id) and its versions.

    versions: {locale: {"title", "body" (Markdown), "similar_questions" (list), "meta_description"}
    or None to remove that locale}; locales not given are left as they are. Each added or
    changed version is re-rendered (body_html) and gets an ArticleRevision by the actor;
    an unchanged one gets none. The article keeps at least one version. internal_only: for agents
    only (knowledge.faq), None leaves it as it is (a new article is public). An empty slug is made
    from the title (slug_from_title). Returns the article."""
    action = "article.change" if article is not None else "article.add"
    _require_configure(actor, action)
    if workspace_id is not None and int_or_none(workspace_id) != actor.workspace_id:
        raise _refuse(actor, action, f"workspace {workspace_id!r} is not the actor's", status=404)
    existing = None
    if article is not None:
        existing = in_workspace(actor, Article, getattr(article, "pk", article), action)
    versions = clean_versions(versions)
    if not (slug.strip() if isinstance(slug, str) else slug):
        kept_title = first_title(versions) or (existing.versions.values_list("title", flat=True).first() if existing else "")
        slug = slug_from_title(actor.workspace_id, kept_title, existing.pk if existing else None)
    slug = clean_slug(slug)
    tags = clean_tags(tags)
    category = category_in_workspace(actor.workspace_id, category_id)
    if existing is None and not any(data is not None for data in versions.values()):
        raise invalid("version_required", _("Write the article in at least one language."))
    check_article_slug_free(actor.workspace_id, slug, existing.pk if existing else None)
    try:
        with _audit_refusal(actor, action, existing), transaction.atomic():
            if existing is not None:
                target = Article.objects.select_for_update().get(pk=existing.pk)
            else:
                target = Article(workspace_id=actor.workspace_id)
            before = {"slug": target.slug, "category": target.category_id, "tags": target.tags, "internal_only": target.internal_only} if existing else {}
            target.slug, target.category, target.tags = slug, category, tags
            if internal_only is not None:
                target.internal_only = bool(internal_only)
            after = {"slug": target.slug, "category": target.category_id, "tags": target.tags, "internal_only": target.internal_only}
            fields_changed = {k: v for k, v in after.items() if before.get(k) != v} if existing else after
            if fields_changed or existing is None:
                target.save()
            changes = _apply_versions(actor, target, versions)
            if not target.versions.exists():
                raise invalid("version_required", _("Write the article in at least one language."))
            if not fields_changed and not changes and existing is not None:
                return target
            if existing is not None and not fields_changed:
                Article.objects.filter(pk=target.pk).update(updated_at=timezone.now())
            audit(actor, action, target=target, before={k: before[k] for k in fields_changed if k in before},
                  after={**fields_changed, **({"versions": changes} if changes else {})})
            _after_commit("index_article", target.pk)
    except IntegrityError:
        raise invalid("slug_taken", _("Another article of this workspace already has this slug."), "slug", status=409) from None
    target.refresh_from_db()
    return target


def _apply_versions(actor, article, versions):
    """Inside the transaction: {locale: "added" | "changed" | "removed"} for what changed."""
    current = {v.locale: v for v in ArticleVersion.objects.select_for_update().filter(article=article)}
    changes = {}
    for locale, data in versions.items():
        version = current.get(locale)
        if data is None:
            if version is not None:
                version.delete()
                changes[locale] = "removed"
            continue
        if version is not None and _version_state(version) == data:
            continue
        if version is None:
            version = ArticleVersion(article=article, locale=locale)
        changes[locale] = "changed" if version.pk else "added"
        for field, value in data.items():
            setattr(version, field, value)
        version.body_html = render_markdown(version.body)
        version.save()
        ArticleRevision.objects.create(version=version, title=version.title, body=version.body,
                                       similar_questions=version.similar_questions, author_id=actor.user_id)
    return changes


def _set_status(actor, article_id, status, action, hook):
    _require_configure(actor, action)
    article = in_workspace(actor, Article, article_id, action)
    with _audit_refusal(actor, action, article), transaction.atomic():
        article = Article.objects.select_for_update().get(pk=article.pk)
        if article.status == status:
            return article
        if status == Article.Status.PUBLISHED and not article.versions.exists():
            raise DomainError("version_required", _("Write the article in at least one language before publishing it."), status=409)
        before = article.status
        article.status = status
        fields = ["status", "updated_at"]
        if status == Article.Status.PUBLISHED:
            article.published_at = timezone.now()
            fields.append("published_at")
        article.save(update_fields=fields)
        audit(actor, action, target=article, before={"status": before}, after={"status": status})
        _after_commit(hook, article.pk)
    return article


def publish(actor, article_id):
    """Show the article on the help center and in search (from the moment this commits)."""
    return _set_status(actor, article_id, Article.Status.PUBLISHED, "article.publish", "index_article")


def unpublish(actor, article_id):
    """Back to draft: off the help center and out of search."""
    return _set_status(actor, article_id, Article.Status.DRAFT, "article.unpublish", "remove_article")


def delete_article(actor, article_id):
    """Delete the article with its versions, revisions and votes (audited with its titles)."""
    action = "article.delete"
    _require_configure(actor, action)
    article = in_workspace(actor, Article, article_id, action)
    with _audit_refusal(actor, action, article), transaction.atomic():
        article = Article.objects.select_for_update().get(pk=article.pk)
        titles = dict(article.versions.values_list("locale", "title"))
        audit(actor, action, target=article, before={"slug": article.slug, "status": article.status, "titles": titles})
        pk = article.pk
        article.delete()
        _after_commit("remove_article", pk)


# --- readers: views and votes -------------------------------------------------------


def record_view(article_id):
    """Count one view of a published article (F(): no view is lost). False when there is none."""
    return bool(Article.objects.filter(pk=int_or_none(article_id), status=Article.Status.PUBLISHED, internal_only=False)
                .update(view_count=F("view_count") + 1))


def vote(article_id, voter_key, helpful):
    """"Was this helpful?" for a published article: one vote per voter_key. Returns "added",
    "changed" (the voter changed their mind: one counter down, the other up) or "unchanged".

    Race-safe without check-then-act: the insert relies on the unique constraint (a
    concurrent duplicate fails and becomes the change path), and a change is a conditional
    UPDATE (helpful = not the new value), so the same switch counts once."""
    if not isinstance(helpful, bool):
        raise invalid("invalid_vote", _("A vote is helpful or not helpful."), "helpful")
    voter_key = voter_key.strip() if isinstance(voter_key, str) else ""
    if not voter_key or len(voter_key) > MAX_VOTER_KEY_CHARS:
        raise invalid("invalid_voter", _("Unknown visitor."), "voter_key")
    article_id = int_or_none(article_id)
    if not Article.objects.filter(pk=article_id, status=Article.Status.PUBLISHED, internal_only=False).exists():
        raise article_not_found()
    new, old = ("helpful_count", "not_helpful_count") if helpful else ("not_helpful_count", "helpful_count")
    with transaction.atomic():
        try:
            with transaction.atomic():
                ArticleVote.objects.create(article_id=article_id, voter_key=voter_key, helpful=helpful)
        except IntegrityError:
            switched = ArticleVote.objects.filter(article_id=article_id, voter_key=voter_key, helpful=not helpful).update(helpful=helpful)
            if not switched:
                return "unchanged"
            Article.objects.filter(pk=article_id).update(**{new: F(new) + 1, old: F(old) - 1})
            return "changed"
        Article.objects.filter(pk=article_id).update(**{new: F(new) + 1})
        return "added"


# --- 未解决问题 → 相似问 ---------------------------------------------------------------------

# The version a question goes to when the article has none in the question's own language:
# simplified and traditional questions fold to the same terms, so each serves the other.
SIMILAR_LOCALE_FALLBACK = {"zh-hans": ("zh-hans", "zh-hant"), "zh-hant": ("zh-hant", "zh-hans"), "en": ("en",)}


def add_similar_question(actor, question_id, article_id):
    """Append an unanswered question to the similar questions (相似问) of the article's version in
    the question's language (a revision, audited, reindexed after commit) and mark it handled.
    Returns the version; one already holding the question is left as it is."""
    action = "article.add_similar"
    _require_configure(actor, action)
    question = in_workspace(actor, UnansweredQuestion, question_id, action)
    article = in_workspace(actor, Article, article_id, action)
    with _audit_refusal(actor, action, article), transaction.atomic():
        versions = {v.locale: v for v in ArticleVersion.objects.select_for_update().filter(article=article)}
        version = next((versions[code] for code in SIMILAR_LOCALE_FALLBACK.get(question.locale, (question.locale,)) if code in versions), None)
        if version is None:
            raise invalid("no_version_in_language", _("This article has no version in %(language)s: write one first.")
                          % {"language": dict(LOCALES).get(question.locale, question.locale)}, "article", status=409)
        before = list(version.similar_questions or [])
        after = clean_similar_questions([*before, question.text])  # repeats dropped; at most 30
        if after != before:
            version.similar_questions = after
            version.save(update_fields=["similar_questions", "updated_at"])
            ArticleRevision.objects.create(version=version, title=version.title, body=version.body, similar_questions=after,
                                           author_id=actor.user_id)
            audit(actor, action, target=article, before={"similar_questions": {version.locale: before}},
                  after={"similar_questions": {version.locale: after}})
            _after_commit("index_article", article.pk)
        UnansweredQuestion.objects.filter(pk=question.pk).update(handled_at=timezone.now(), handled_article=article)
    return version


def delete_unanswered_question(actor, question_id):
    """Dismiss a question from the list (noise such as a greeting); asked again, it comes back."""
    action = "kb_unanswered.delete"
    _require_configure(actor, action)
    question = in_workspace(actor, UnansweredQuestion, question_id, action)
    with _audit_refusal(actor, action, question), transaction.atomic():
        audit(actor, action, target=question, before={"text": question.text, "count": question.count})
        UnansweredQuestion.objects.filter(pk=question.pk).delete()


# --- 同义词 ---------------------------------------------------------------------------------------


def _lock_synonyms(workspace_id):
    """Inside the transaction: lock the workspace's SynonymVersion row, so saves of one workspace
    are serialised (the group limit holds); each then bumps it once."""
    if not SynonymVersion.objects.filter(workspace_id=workspace_id).exists():
        try:
            with transaction.atomic():
                SynonymVersion.objects.create(workspace_id=workspace_id)
        except IntegrityError:
            pass  # made by a concurrent save
    SynonymVersion.objects.select_for_update().get(workspace_id=workspace_id)


def save_synonym_group(actor, group=None, *, phrases):
    """Create (group=None) or change a synonym group: text with one phrase per line or
    comma-separated (see knowledge.synonyms for the limits). Applies to search at once."""
    action = "kb_synonyms.change" if group is not None else "kb_synonyms.add"
    _require_configure(actor, action)
    existing = in_workspace(actor, SynonymGroup, getattr(group, "pk", group), action) if group is not None else None
    cleaned = "\n".join(synonyms.clean_phrases(phrases))
    with _audit_refusal(actor, action, existing), transaction.atomic():
        _lock_synonyms(actor.workspace_id)
        if existing is None:
            synonyms.check_room(actor.workspace_id)
            target = SynonymGroup(workspace_id=actor.workspace_id)
        else:
            target = SynonymGroup.objects.get(pk=existing.pk)
            if target.phrases == cleaned:
                return target
        before = target.phrases
        target.phrases = cleaned
        target.save()
        SynonymVersion.bump(actor.workspace_id)
        audit(actor, action, target=target, before={"phrases": before} if existing else {}, after={"phrases": cleaned})
    return target


def delete_synonym_group(actor, group_id):
    action = "kb_synonyms.delete"
    _require_configure(actor, action)
    group = in_workspace(actor, SynonymGroup, group_id, action)
    with _audit_refusal(actor, action, group), transaction.atomic():
        _lock_synonyms(actor.workspace_id)
        audit(actor, action, target=group, before={"phrases": group.phrases})
        SynonymGroup.objects.filter(pk=group.pk).delete()
        SynonymVersion.bump(actor.workspace_id)
