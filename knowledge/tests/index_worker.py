"""One writer process of test_index_concurrency: random publish / unpublish / edit / delete
operations on a shared pool of articles, each followed after commit by the search hook, as
the knowledge actions do. Usage: python -m knowledge.tests.index_worker WORKER OPS WORKSPACE_ID
SEED READY_FILE GO_FILE SLUG... (DJANGO_SETTINGS_MODULE, DATABASE_URL, WHOOSH_PATH set)."""

import os
import random
import sys
import time

LOCALES = ["zh-hans", "zh-hant", "en"]
TEXT = {
    "zh-hans": ("退货说明 {n}", "收到商品七天内可以申请退货 {n}。", ["怎么退货", "退货运费谁出"]),
    "zh-hant": ("退貨說明 {n}", "收到商品七天內可以申請退貨 {n}。", ["怎麼退貨"]),
    "en": ("Returns {n}", "Return any item within seven days {n}.", []),
}


def main():
    worker, ops, workspace_id, seed, ready, go, *slugs = sys.argv[1:]
    import django

    django.setup()
    from django.db import transaction

    from knowledge import search
    from knowledge.models import Article, ArticleVersion

    search.query_terms("预热")  # load jieba's dictionary before the start line
    search.backend().searcher()
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)

    rng = random.Random(int(seed))
    for i in range(int(ops)):
        slug = rng.choice(slugs)
        action = rng.choice(["publish", "publish", "unpublish", "delete", "edit"])
        tag = f"w{worker}o{i}"
        with transaction.atomic():
            article = Article.objects.filter(workspace_id=workspace_id, slug=slug).first()
            if article is None:
                if action not in ("publish", "edit"):
                    continue
                article = Article.objects.create(workspace_id=workspace_id, slug=slug, status=Article.Status.PUBLISHED)
            if action == "delete":
                article_id = article.pk
                article.delete()
                transaction.on_commit(lambda pk=article_id: search.remove_article(pk))
                continue
            if action == "unpublish":
                Article.objects.filter(pk=article.pk).update(status=Article.Status.DRAFT)
            else:
                if action == "publish":
                    Article.objects.filter(pk=article.pk).update(status=Article.Status.PUBLISHED)
                keep = [loc for loc in LOCALES if rng.random() < 0.6] or [rng.choice(LOCALES)]
                ArticleVersion.objects.filter(article=article).exclude(locale__in=keep).delete()
                for locale in keep:
                    title, body, similar = TEXT[locale]
                    ArticleVersion.objects.update_or_create(
                        article=article, locale=locale,
                        defaults={"title": title.format(n=tag), "body": body.format(n=tag), "similar_questions": similar},
                    )
            transaction.on_commit(lambda pk=article.pk: search.index_article(pk))


if __name__ == "__main__":
    main()
