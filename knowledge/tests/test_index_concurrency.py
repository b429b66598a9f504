"""Index writes from several processes at once (issue 7): real processes publish, unpublish,
edit and delete the same articles concurrently, each calling the search hooks after commit;
afterwards the index holds exactly the published versions of the database. Haystack's stock
Whoosh backend loses deletes here (AsyncWriter / lock-free delete_by_query); the knowledge
backend serialises every writer commit with an exclusive file lock."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from conftest import make_workspace
from knowledge import search
from knowledge.models import Article, ArticleVersion

PROCESSES = 4
OPERATIONS = 25
POOL = 8  # articles shared by every process: the same ids are written by several at once


@pytest.mark.django_db(transaction=True)
def test_concurrent_publish_and_delete_from_several_processes(settings, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the worker processes reach the test database through its SQLite file")
    whoosh = tmp_path / "whoosh"
    settings.HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "knowledge.search_backend.KnowledgeWhooshEngine", "PATH": str(whoosh)}}
    workspace = make_workspace()
    other = make_workspace()
    bystander = Article.objects.create(workspace=other, slug="bystander", status=Article.Status.PUBLISHED)
    ArticleVersion.objects.create(article=bystander, locale="zh-hans", title="退货", body="退货")
    search.index_article(bystander.pk)

    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="helpdesk.settings", DATABASE_URL=f"sqlite:///{connection.settings_dict['NAME']}",
               REDIS_URL="", SEARCH_URL="", WHOOSH_PATH=str(whoosh))
    go = tmp_path / "go"
    slugs = [f"a{i}" for i in range(POOL)]
    procs, ready = [], []
    for worker in range(PROCESSES):
        ready.append(tmp_path / f"ready-{worker}")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "knowledge.tests.index_worker", str(worker), str(OPERATIONS), str(workspace.pk),
             str(1000 + worker), str(ready[-1]), str(go), *slugs],
            cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        ))
    deadline = time.monotonic() + 60
    while not all(p.exists() for p in ready):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(proc.poll() is None for proc in procs), [proc.communicate()[0].decode() for proc in procs if proc.poll() is not None]
        time.sleep(0.05)
    go.touch()
    for proc in procs:
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out.decode()

    published = set(
        ArticleVersion.objects.filter(article__workspace=workspace, article__status=Article.Status.PUBLISHED)
        .values_list("article_id", "locale")
    )
    indexed = [(int(d["article_id"]), d["locale"]) for d in search.backend().documents([("workspace_id", workspace.pk)])]
    assert len(indexed) == len(set(indexed)), "a version is indexed twice"
    assert set(indexed) == published
    assert Article.objects.filter(workspace=workspace).exists()  # the run did exercise something
    # The other workspace's document survived every writer.
    assert [h.slug for h in search.search(other.pk, "退货")] == ["bystander"]
    # And search agrees: every published article is found, nothing else.
    hits = {h.article_id for h in search.search(workspace.pk, "退货 returns", limit=50)}
    assert hits == {article_id for article_id, _ in published}
    assert Path(str(whoosh) + ".lock").exists()


@pytest.mark.django_db
def test_a_writer_waits_for_the_lock_held_by_another_process(settings, tmp_path):
    whoosh = tmp_path / "whoosh"
    settings.HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "knowledge.search_backend.KnowledgeWhooshEngine", "PATH": str(whoosh)}}
    workspace = make_workspace()
    article = Article.objects.create(workspace=workspace, slug="a", status=Article.Status.PUBLISHED)
    ArticleVersion.objects.create(article=article, locale="en", title="Returns", body="Return within 7 days.")
    search.backend().searcher()  # index created (under the lock) before the other process takes it
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\ntime.sleep(1.0)", str(whoosh) + ".lock"],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout.readline() == b"locked\n"
    started = time.monotonic()
    search.index_article(article.pk)
    waited = time.monotonic() - started
    holder.wait(5)
    assert waited > 0.5
    assert [h.slug for h in search.search(workspace.pk, "return")] == ["a"]
