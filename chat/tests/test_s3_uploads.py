"""Uploads on an S3-compatible bucket (UPLOADS_S3_BUCKET): a file uploaded through one app host is
served by another, nothing touches either host's MEDIA_ROOT, the attachment url keeps its
/media/uploads/... form and its safety headers, the quota counts and the sweep deletes from the
bucket. The bucket is moto's real S3 server on 127.0.0.1 (HTTP, not an in-process mock)."""

import json
import os
import re
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.utils import timezone
from moto.server import ThreadedMotoServer

from chat.models import StoredUpload
from chat.tests.test_uploads import customer_client, jpeg_bytes, png_bytes, upload
from helpdesk import processes
from helpdesk.settings import uploads_storage
from lifecycle import storage

REGION = "us-east-1"
PREFIX = "helpdesk-test"  # UPLOADS_S3_PREFIX: objects live under it, urls do not show it
CSP = "default-src 'none'; img-src 'self'; sandbox"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: the OS picks a free one
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint):
    """The environment of an app host using a fresh bucket (created, as an operator would)."""
    env = {"UPLOADS_S3_BUCKET": f"uploads-{uuid.uuid4().hex[:12]}", "UPLOADS_S3_ENDPOINT_URL": s3_endpoint,
           "UPLOADS_S3_REGION": REGION, "UPLOADS_S3_PREFIX": PREFIX,
           "UPLOADS_S3_ACCESS_KEY_ID": "test-key", "UPLOADS_S3_SECRET_ACCESS_KEY": "test-secret"}
    bucket(env).create()
    return env


def bucket(env):
    s3 = boto3.resource("s3", endpoint_url=env["UPLOADS_S3_ENDPOINT_URL"], region_name=REGION,
                        aws_access_key_id="test-key", aws_secret_access_key="test-secret")
    return s3.Bucket(env["UPLOADS_S3_BUCKET"])


def keys(env):
    return sorted(o.key for o in bucket(env).objects.all())


def key_of(url):
    return f"{PREFIX}/{url.removeprefix('/media/')}"


def local_files(*roots):
    return [p for root in roots for p in Path(root).rglob("*") if p.is_file()]


@pytest.fixture
def on_s3(settings, s3_env, tmp_path):
    """This test process as an app host on the bucket; `host(name)` switches to another host's
    MEDIA_ROOT (a folder of its own), which the bucket storage must never use."""
    settings.STORAGES = {**settings.STORAGES, "default": uploads_storage(s3_env)}

    def host(name):
        settings.MEDIA_ROOT = tmp_path / name
        return settings.MEDIA_ROOT

    host("host-a")
    return host


def test_the_embedded_default_keeps_the_local_folder(settings):
    assert uploads_storage({})["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert uploads_storage({"UPLOADS_S3_BUCKET": "b"})["BACKEND"] == "storages.backends.s3.S3Storage"
    assert settings.STORAGES["default"] == uploads_storage(os.environ)


@pytest.mark.django_db
def test_upload_on_one_host_is_served_by_another_and_the_quota_and_sweep_use_the_bucket(personas, on_s3, s3_env, settings):
    media_a = on_s3("host-a")
    png = png_bytes(4, 3)
    first = upload(customer_client(personas.visitor_token), "shot.png", png, "image/png")
    assert first.status_code == 201, first.content
    att = first.json()
    assert re.fullmatch(rf"/media/uploads/{personas.workspace.pk}/\d{{4}}/\d{{2}}/[0-9a-f]{{32}}\.png", att["url"])
    assert (att["width"], att["height"]) == (4, 3)  # sniffed and measured from the upload, not a stored path
    assert keys(s3_env) == [key_of(att["url"])]
    assert bucket(s3_env).Object(key_of(att["url"])).get()["Body"].read() == png
    grants = bucket(s3_env).Object(key_of(att["url"])).Acl().grants
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"] and all(g["Grantee"]["Type"] == "CanonicalUser" for g in grants)

    media_b = on_s3("host-b")
    served = Client().get(att["url"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png
    assert served["Content-Type"] == "image/png" and served["Content-Length"] == str(len(png))
    assert served["X-Content-Type-Options"] == "nosniff" and served["Content-Security-Policy"] == CSP
    assert served["Content-Disposition"].startswith("inline")
    assert Client().head(att["url"]).status_code == 200
    absent = f"/media/uploads/{personas.workspace.pk}/2020/01/{'c' * 32}.png"
    assert Client().get(absent).status_code == 404
    assert local_files(media_a, media_b) == []

    # The quota counts files in the bucket; the sweep deletes there and gives the space back.
    settings.UPLOADS = {**settings.UPLOADS, "WORKSPACE_QUOTA_BYTES": len(png) + 10}
    full = upload(customer_client(personas.visitor_token), "more.png", png, "image/png")
    assert full.status_code == 413 and full.json()["error"]["code"] == "quota_exceeded"
    assert keys(s3_env) == [key_of(att["url"])]
    StoredUpload.objects.filter(path=att["url"].removeprefix("/media/")).update(created_at=timezone.now() - timedelta(hours=25))
    assert storage.sweep_unattached_uploads() == 1
    assert keys(s3_env) == [] and not StoredUpload.objects.exists()
    assert Client().get(att["url"]).status_code == 404
    again = upload(customer_client(personas.visitor_token), "again.png", png, "image/png")
    assert again.status_code == 201 and keys(s3_env) == [key_of(again.json()["url"])]
    assert default_storage.exists(again.json()["url"].removeprefix("/media/"))


def get(url):
    """(status, headers, body) of a GET on a real server, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def post_upload(base, token, name, data, content_type):
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{base}/api/v1/uploads", data=body, method="POST", headers={
        "Authorization": f"Customer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def two_hosts(db, s3_env, tmp_path):
    """Two uvicorn processes on the test database, each with the bucket settings in its
    environment and a MEDIA_ROOT of its own."""
    assert connection.vendor == "sqlite", "run with the SQLite default (the processes share its file)"
    hosts = []
    for name in ("a", "b"):
        port = processes.free_port()
        env = {**s3_env, "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}", "REDIS_URL": "",
               "MEDIA_ROOT": str(tmp_path / f"media-{name}")}
        hosts.append((processes.start_uvicorn(port, env, tmp_path / f"uvicorn-{name}.log"), f"http://127.0.0.1:{port}", tmp_path / f"media-{name}"))
    yield hosts
    for proc, _, _ in hosts:
        processes.stop(proc)


@pytest.mark.django_db(transaction=True)
def test_two_server_processes_share_uploads_through_the_bucket(personas, s3_env, two_hosts):
    (_, host_a, media_a), (_, host_b, media_b) = two_hosts
    jpg = jpeg_bytes(30, 20)
    status, att = post_upload(host_a, personas.visitor_token, "photo.jpg", jpg, "image/jpeg")
    assert status == 201 and (att["width"], att["height"]) == (30, 20)
    assert keys(s3_env) == [key_of(att["url"])]

    status, headers, body = get(host_b + att["url"])
    assert (status, body) == (200, jpg)
    assert headers["Content-Type"] == "image/jpeg" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == CSP and headers["Content-Disposition"].startswith("inline")

    text = b"order 1234: please call me\n"
    status, doc = post_upload(host_b, personas.visitor_token, "note.txt", text, "text/plain")
    assert status == 201
    status, headers, body = get(host_a + doc["url"])
    assert (status, body) == (200, text)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"].startswith("attachment") and headers["X-Content-Type-Options"] == "nosniff"

    assert sorted(keys(s3_env)) == sorted([key_of(att["url"]), key_of(doc["url"])])
    assert StoredUpload.objects.filter(workspace=personas.workspace).count() == 2
    assert local_files(media_a, media_b) == []
    assert get(host_a + att["url"][:-4] + ".html")[0] == 404


@pytest.mark.django_db
def test_the_widget_avatar_is_stored_served_and_deleted_in_the_bucket(personas, on_s3, s3_env, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chat.admin import InboxForm

    media_a = on_s3("host-a")
    inbox, png = personas.inbox_a, png_bytes(64, 64)
    base = {"workspace": inbox.workspace_id, "name": inbox.name, "kind": inbox.kind, "widget_color": "#0b5cad", "widget_position": "right"}
    form = InboxForm(data=base, files={"widget_avatar": SimpleUploadedFile("logo.png", png, "image/png")}, instance=inbox)
    assert form.is_valid(), form.errors
    url = form.save().widget_avatar_url
    assert keys(s3_env) == [key_of(url)] and key_of(url).startswith(f"{PREFIX}/uploads/{personas.workspace.pk}/")
    media_b = on_s3("host-b")
    served = Client().get(url)
    assert served.status_code == 200 and b"".join(served.streaming_content) == png and served["Content-Security-Policy"] == CSP
    removed = InboxForm(data={**base, "widget_avatar-clear": "on"}, instance=inbox)
    assert removed.is_valid(), removed.errors
    with django_capture_on_commit_callbacks(execute=True):
        removed.save()
    assert keys(s3_env) == [] and not StoredUpload.objects.exists() and local_files(media_a, media_b) == []
