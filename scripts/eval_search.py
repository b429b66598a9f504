#!/usr/bin/env python
"""Honest evaluation of the knowledge search and the bot (issue 17): `make eval-search`.

Builds a scratch SQLite database and Whoosh index (a temporary directory: the embedded
default) with the article set of knowledge/quality (articles.json + articles_extra.json),
then for each half of the question set (questions_dev.jsonl, questions_test.jsonl: FROZEN)
runs, in the same process:

  product search  knowledge.search.search(workspace, q, locale=bot.locale_of(q), limit=10),
                  the function the help center, the widget and the bot call: top-1, top-3,
                  MRR@10, overall and per script (zh-Hans, zh-Hant, en, mixed);
  product bot     knowledge.bot.decide(conversation, q, locale), the function deciding whether
                  to answer and with which article (a bot-first inbox with the product's
                  defaults): coverage, precision, false-answer rate on the `none` questions;
  baselines       plain BM25 (k1=1.5, b=0.75) over (a) jieba tokens with OpenCC t2s folding,
                  (b) character bigrams (knowledge/quality/baseline_bm25.py), same metrics,
                  and the ratio product / baseline.

Usage: python scripts/eval_search.py [--json] [--misses] [--dir DIR] [--backend whoosh|postgres] [--pg URL]
  --misses   list the dev half's misses (never the frozen half's: don't tune on it)
  --backend  postgres: the same run on a scratch PostgreSQL database (kb_pg_eval_<pid> on --pg,
             default postgres://postgres@127.0.0.1:5432, dropped afterwards) with the PostgreSQL
             search backend; whoosh (default): SQLite + Whoosh, the embedded default
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
LIMIT = 10


def scratch_database(server, create):
    """Create (or drop) this run's PostgreSQL database; returns its URL."""
    import psycopg

    name = f"kb_pg_eval_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return f"{server}/{name}"


def setup(work, database=None):
    os.environ.update(DATABASE_URL=database or f"sqlite:///{work / 'db.sqlite3'}", REDIS_URL="", SEARCH_URL="",
                      WHOOSH_PATH=str(work / "whoosh"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "helpdesk.settings"
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)
    import django

    django.setup()


def load(work, article_set):
    from chat.models import Conversation, Customer, Inbox
    from knowledge import quality, search

    path = work / "articles.json"
    path.write_text(json.dumps(article_set, ensure_ascii=False), encoding="utf-8")
    workspace = quality.create_workspace()
    count = quality.load_articles(workspace, path)
    documents = search.rebuild(workspace_id=workspace.pk)
    inbox = Inbox.objects.create(workspace=workspace, name="Eval", bot_first=True)
    customer = Customer.objects.create(workspace=workspace, first_inbox=inbox)
    conversation = Conversation.objects.create(workspace=workspace, inbox=inbox, customer=customer,
                                               state=Conversation.State.BOT)
    return workspace, conversation, count, documents


def run_product(workspace, conversation, questions):
    from django.urls import resolve
    from django.utils import translation

    from knowledge import bot, search

    ranked, answers, kinds = [], [], {}
    for item in questions:
        locale = bot.locale_of(item["q"])
        ranked.append((item, [h.slug for h in search.search(workspace.pk, item["q"], locale=locale, limit=LIMIT)]))
        with translation.override(locale):
            reply = bot.decide(conversation, item["q"], locale)
        kinds[reply.kind] = kinds.get(reply.kind, 0) + 1
        slug = None
        if reply.kind == "answer":
            slug = resolve(urlparse(reply.articles[0]["url"]).path).kwargs["article"] if reply.articles else "?"
        answers.append((item, slug))
    return ranked, answers, kinds


def ranked_first(ranked, item):
    return next(r[0] for q, r in ranked if q is item)


def pct(x):
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def ratio(a, b):
    return "   -" if a is None or not b else f"{a / b:4.2f}"


def print_half(name, info, out):
    from knowledge.quality.eval_harness import SCRIPTS

    p, bj, bb = info["product"], info["bm25_jieba"], info["bm25_bigram"]
    out(f"\n== {name}: {info['questions']} questions ({info['answerable']} answerable, {info['none']} none) — {info['file']}")
    if info.get("sha256"):
        out(f"   sha256 {info['sha256']}")
    out(f"   {'search':<22}{'product':>8}{'bm25-jieba':>12}{'ratio':>7}{'bm25-bigram':>13}{'ratio':>7}")
    for group in ("all", *SCRIPTS):
        if group not in p:
            continue
        label_n = f"{group} (n={p[group]['n']})"
        for metric in ("top1", "top3", "mrr"):
            a, j, b = p[group][metric], bj[group][metric], bb[group][metric]
            out(f"   {label_n if metric == 'top1' else '':<14}{metric:<8}{pct(a):>8}{pct(j):>12}{ratio(a, j):>7}{pct(b):>13}{ratio(a, b):>7}")
    out(f"   none questions with any result: product {pct(p['none_with_results'])}, "
        f"bm25-jieba {pct(bj['none_with_results'])}, bm25-bigram {pct(bb['none_with_results'])}")
    bot = info["bot"]
    out(f"   bot: coverage {pct(bot['coverage'])} ({bot['correct']}/{bot['answerable']}), "
        f"precision {pct(bot['precision'])} ({bot['correct']}/{bot['answered']} answered), "
        f"false-answer rate {pct(bot['false_answer_rate'])} ({bot['none_answered']}/{bot['none']} none answered); "
        f"replies {info['bot_replies']}")
    out("   bot coverage per script: " + ", ".join(f"{s} {pct(bot.get('coverage_' + s))}" for s in SCRIPTS))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--misses", action="store_true", help="list the dev half's misses (never the test half's)")
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed afterwards)")
    parser.add_argument("--backend", choices=["whoosh", "postgres"], default="whoosh")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server of --backend postgres")
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="eval-search-"))
    work.mkdir(parents=True, exist_ok=True)
    database = scratch_database(args.pg, create=True) if args.backend == "postgres" else None
    try:
        setup(work, database)
        from knowledge.quality import baseline_bm25 as bm25
        from knowledge.quality import eval_harness as ev

        articles = ev.article_set()
        workspace, conversation, count, documents = load(work, articles)
        docs = bm25.article_documents(articles)
        baselines = {"bm25_jieba": bm25.BM25(docs, bm25.jieba_tokens), "bm25_bigram": bm25.BM25(docs, bm25.bigram_tokens)}
        report = {"articles": count, "documents": documents, "halves": {}}
        dev_ranked = dev_answers = None
        for name, path in (("dev", ev.DEV), ("test", ev.TEST)):
            questions = ev.load_questions(path)
            ranked, answers, kinds = run_product(workspace, conversation, questions)
            info = {
                "file": str(path.relative_to(BASE)), "sha256": ev.sha256(path) if name == "test" else None,
                "questions": len(questions), "answerable": sum(bool(q["expect"]) for q in questions),
                "none": sum(not q["expect"] for q in questions),
                "product": ev.search_metrics(ranked), "bot": ev.bot_metrics(answers), "bot_replies": kinds,
            }
            for key, engine in baselines.items():
                info[key] = ev.search_metrics([(q, engine.search(q["q"], LIMIT)) for q in questions])
            report["halves"][name] = info
            if name == "dev":
                dev_ranked, dev_answers = ranked, answers
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=1))
        else:
            print(f"Knowledge search evaluation (issue 17): {count} articles, {documents} index documents; "
                  f"product = knowledge.search.search / knowledge.bot.decide; baselines = plain BM25 (k1=1.5, b=0.75)")
            for name in ("dev", "test"):
                print_half(name, report["halves"][name], print)
            print(f"\n{report['seconds']} s on {report['machine']}")
        if args.misses:
            print("\nDev-half misses (expected article not in the product's top 3):")
            for item, ranked in dev_ranked:
                if item["expect"] and (ev.rank(item["expect"], ranked) or 99) > 3:
                    print(f"  [{item['script']}/{item['kind']}] {item['q']} → {'/'.join(item['expect'])}; got {', '.join(ranked[:3]) or '-'}")
            print("Dev-half bot answers that are wrong (incl. none questions answered):")
            for item, slug in dev_answers:
                if slug is not None and slug not in item["expect"]:
                    print(f"  [{item['script']}] {item['q']} → answered {slug}; expected {'/'.join(item['expect']) or 'nothing'}")
            unanswered = [item for (item, ranked), (_, slug) in zip(dev_ranked, dev_answers)
                          if slug is None and ranked and ranked[0] in item["expect"]]
            print(f"Dev-half questions the search ranked right first but the bot did not answer: {len(unanswered)}")
            for item in unanswered:
                print(f"  [{item['script']}/{item['kind']}] {item['q']} → {ranked_first(dev_ranked, item)}")
    finally:
        if database:
            from django.db import connections

            connections.close_all()
            scratch_database(args.pg, create=False)
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
