"""Two app hosts, one knowledge index (issue 17): two uvicorn processes, each started in a working
directory of its own (its own var/, media and Whoosh path, as on two machines), on one
PostgreSQL database. An article published through host A is found through host B's help center
within a second, and once deleted through host B it is gone from both."""

import json
import re
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection

from accounts.models import Role
from conftest import make_agent, make_inbox, make_workspace, verified_client
from helpdesk import processes
from knowledge.models import Article, ArticleVersion

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

VISIBLE_WITHIN = 1.0  # seconds, from the response of the change to a search result on the other host


def start_host(port, workdir, env):
    """A uvicorn process whose working directory is `workdir` (the code is found via --app-dir)."""
    workdir.mkdir()
    log = open(workdir / "uvicorn.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "helpdesk.asgi:application", "--app-dir", str(django_settings.BASE_DIR),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=workdir, env={**env, "WHOOSH_PATH": str(workdir / "whoosh"), "MEDIA_ROOT": str(workdir / "media")},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    processes.wait_for_port(port, proc=proc)
    return proc


@pytest.fixture
def two_hosts(db, tmp_path):
    import os

    assert connection.vendor == "postgresql", "the two-host test needs DATABASE_URL=postgres://..."
    db_settings = connection.settings_dict
    url = f"postgres://{db_settings['USER']}@{db_settings['HOST'] or '127.0.0.1'}:{db_settings['PORT'] or 5432}/{db_settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "SEARCH_URL": "", "DB_CONN_MAX_AGE": "0", "RATE_LIMIT_SEARCH_IP": "0",
           "CHANNEL_PREFIX": f"kb{os.getpid()}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    hosts, procs = [], []
    try:
        for name in ("host-a", "host-b"):
            port = processes.free_port()
            procs.append(start_host(port, tmp_path / name, env))
            hosts.append(f"http://127.0.0.1:{port}")
        yield hosts
    finally:
        for proc in procs:
            processes.stop(proc)


def admin_session(user, host):
    """A requests session logged in as `user` (session past the TOTP step) with the CSRF cookie of `host`."""
    client = verified_client(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    page = session.get(f"{host}/admin/knowledge/article/", timeout=10)
    assert page.status_code == 200, page.text[:500]
    return session, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def found(host, workspace, query):
    response = requests.get(f"{host}/help/{workspace.slug}/zh-hans/search.json?q={urllib.parse.quote(query)}", timeout=10)
    assert response.status_code == 200, response.text[:300]
    return [result["title"] for result in json.loads(response.text)["results"]]


def wait_until(condition, within):
    """Seconds until condition() held (polled), or fails after `within`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"not within {within} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_published_on_one_host_found_on_the_other_and_a_delete_leaves_both(two_hosts):
    host_a, host_b = two_hosts
    workspace = make_workspace()
    make_inbox(workspace, name="Help center")
    owner, _ = make_agent(workspace, role=Role.FOUNDER, username="kb-owner")
    article = Article.objects.create(workspace=workspace, slug="invoice", status=Article.Status.DRAFT)
    ArticleVersion.objects.create(article=article, locale="zh-hans", title="电子发票怎么开", body="在订单详情页申请电子发票。")
    assert found(host_a, workspace, "发票") == found(host_b, workspace, "发票") == []

    session_a, token_a = admin_session(owner, host_a)
    response = session_a.post(f"{host_a}/admin/knowledge/article/", timeout=10, allow_redirects=False, data={
        "csrfmiddlewaretoken": token_a, "action": "publish_selected", "_selected_action": [article.pk], "index": "0"})
    assert response.status_code == 302, response.text[:500]
    article.refresh_from_db()
    assert article.status == Article.Status.PUBLISHED
    wait_until(lambda: found(host_b, workspace, "怎么开发票") == ["电子发票怎么开"], VISIBLE_WITHIN)
    assert found(host_a, workspace, "电子发票") == ["电子发票怎么开"]

    session_b, token_b = admin_session(owner, host_b)
    response = session_b.post(f"{host_b}/admin/knowledge/article/{article.pk}/delete/", timeout=10, allow_redirects=False,
                              data={"csrfmiddlewaretoken": token_b, "post": "yes"})
    assert response.status_code == 302, response.text[:500]
    assert not Article.objects.filter(pk=article.pk).exists()
    wait_until(lambda: found(host_a, workspace, "发票") == [], VISIBLE_WITHIN)
    assert found(host_b, workspace, "发票") == []
