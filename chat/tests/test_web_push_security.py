"""Web Push must not be a way to make the server send requests into its own network (issue 14,
finding 2): endpoints only on known push services (or, behind a setting, on hosts whose every
address is public), checked again at delivery and on the socket actually connected, no
redirects, nothing of the remote answer shown to the agent, a cap on devices per user, and no
silent takeover of another user's endpoint."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.utils import timezone

from chat.models import PushSubscription
from chat.tests.test_web_push import Device, csrf_client, post_json
from helpdesk.errors import DomainError
from lifecycle import push

pytestmark = [pytest.mark.django_db]

URL = "/console/push/subscriptions"
FCM = "https://fcm.googleapis.com/fcm/send/"


class Service:
    """A local HTTP server answering each path as told: (status, extra headers, body); 201 by default."""

    def __init__(self):
        self.requests = []
        self.answers = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service.requests.append(self.path)
                status, headers, body = service.answers.get(self.path, (201, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    s = Service()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def web_push_settings(settings, monkeypatch):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ENABLED": True, "ALLOW_INSECURE_ENDPOINTS": False, "ALLOW_PUBLIC_ENDPOINTS": False}
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(push._sessions, "session", None, raising=False)  # no kept-alive connection from another test


def stored(endpoint, user, workspace):
    """A row as one stored before these checks existed (no validation on the way in)."""
    keys = Device(endpoint).subscription()["keys"]
    return PushSubscription.objects.create(user=user, workspace=workspace, endpoint=endpoint, **keys)


def resolver(table):
    def resolve(host):
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


INTERNAL = [
    "https://127.0.0.1/x",
    "https://127.0.0.1:6379/x",
    "https://localhost/x",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.0.0.5/x",
    "https://192.168.1.1/x",
    "https://[::1]/x",
    "https://[fd00:ec2::254]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://push.example.net/x",  # public, but not a push service
    "https://fcm.googleapis.com.attacker.example/x",
    "https://xfcm.googleapis.com/x",
    "https://fcm.googleapis.com:8443/fcm/send/x",  # a known host, but not its https port
    "http://fcm.googleapis.com/fcm/send/x",
    "https://evil.example\\@fcm.googleapis.com/x",
]
KNOWN = [
    FCM + "dQw4w9WgXcQ:APA91bH",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
    "https://web.push.apple.com/QGm3kXmR",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD",
    "https://fcm.googleapis.com:443/fcm/send/explicit-port",
]


def test_subscribe_accepts_known_push_services_and_refuses_internal_or_other_hosts(personas):
    client, token = csrf_client(personas.agent_a_user)
    for endpoint in INTERNAL:
        response = post_json(client, URL, Device(endpoint).subscription(), token)
        assert response.status_code == 400, endpoint
        assert response.json()["error"]["code"] in {"invalid_endpoint", "endpoint_not_allowed"}, endpoint
        assert response.json()["error"]["message"]
    assert PushSubscription.objects.count() == 0
    refused = post_json(client, URL, Device("https://10.0.0.5/x").subscription(), token).json()["error"]
    assert refused["code"] == "endpoint_not_allowed" and "push service" in refused["message"]

    for endpoint in KNOWN:
        assert post_json(client, URL, Device(endpoint).subscription(), token).status_code == 201, endpoint
    assert PushSubscription.objects.count() == len(KNOWN)


def test_the_allowed_hosts_setting_replaces_the_known_services(personas, settings):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOWED_HOSTS": ["push.example.net", "*.push.example.org"]}
    for endpoint in ("https://push.example.net/a", "https://eu.push.example.org/b"):
        push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(endpoint).subscription())
    for endpoint in (FCM + "x", "https://push.example.org/c", "https://a.push.example.net/d"):
        with pytest.raises(DomainError) as refused:
            push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(endpoint).subscription())
        assert refused.value.code == "endpoint_not_allowed"
    assert PushSubscription.objects.count() == 2


def test_public_hosts_only_behind_the_setting_and_only_if_every_address_is_public(personas, settings, monkeypatch):
    monkeypatch.setattr("lifecycle.push_endpoints.resolve", resolver({
        "push.example.net": ["93.184.216.34", "2606:2800:220:1::1"],
        "mixed.example.net": ["93.184.216.34", "10.1.2.3"],
        "metadata.example.net": ["169.254.169.254"],
        "alibaba-metadata.example.net": ["100.100.100.200"],
        "mapped.example.net": ["::ffff:127.0.0.1"],
        "ula.example.net": ["fd12:3456::1"],
        "nat64.example.net": ["64:ff9b::a00:1"],  # NAT64 of 10.0.0.1
        "multicast.example.net": ["224.0.0.1"],
    }))

    def subscribe(host):
        return push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(f"https://{host}/x").subscription())

    with pytest.raises(DomainError) as off:
        subscribe("push.example.net")
    assert off.value.code == "endpoint_not_allowed"

    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_PUBLIC_ENDPOINTS": True}
    subscription, created = subscribe("push.example.net")
    assert created and subscription.endpoint == "https://push.example.net/x"
    for host in ("mixed.example.net", "metadata.example.net", "alibaba-metadata.example.net", "mapped.example.net",
                 "ula.example.net", "nat64.example.net", "multicast.example.net", "unknown.example.net", "127.0.0.1", "[::1]"):
        with pytest.raises(DomainError) as refused:
            subscribe(host)
        assert refused.value.code == "endpoint_not_allowed" and refused.value.status == 400, host
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == ["https://push.example.net/x"]


def test_a_row_stored_before_the_check_is_not_posted_to(personas, service):
    old = stored(service.url("/internal"), personas.agent_a_user, personas.workspace)

    assert push.send_test(personas.agent_a_user) == (0, 1)

    assert service.requests == []
    assert PushSubscription.objects.get(pk=old.pk).failures == 1  # kept: a setting may change back


def test_a_public_host_whose_dns_now_answers_a_private_address_is_not_posted_to(personas, settings, monkeypatch):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_PUBLIC_ENDPOINTS": True}
    answers = {"rebind.example.net": ["93.184.216.34"]}
    monkeypatch.setattr("lifecycle.push_endpoints.resolve", resolver(answers))
    rebound, _created = push.subscribe(personas.agent_a_user, personas.workspace.pk, Device("https://rebind.example.net/x").subscription())
    answers["rebind.example.net"] = ["127.0.0.1"]
    posted = []
    monkeypatch.setattr(push, "webpush", lambda subscription, **kwargs: posted.append(subscription["endpoint"]))

    assert push.send_test(personas.agent_a_user) == (0, 1)

    assert posted == [] and PushSubscription.objects.get(pk=rebound.pk).failures == 1


def test_the_sending_session_never_connects_to_a_non_public_address(service, settings):
    """The last word is the address actually connected: DNS may change between the check and the connection."""
    with pytest.raises(requests.ConnectionError):
        push._session().post(service.url("/internal"), data=b"x", timeout=5)
    assert service.requests == []

    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_INSECURE_ENDPOINTS": True}  # the tests' local push service
    assert push._session().post(service.url("/push/ok"), data=b"x", timeout=5).status_code == 201
    assert service.requests == ["/push/ok"]


def test_redirects_are_not_followed_and_the_answer_tells_nothing_of_the_remote(personas, service, settings):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_INSECURE_ENDPOINTS": True}
    service.answers = {
        "/push/moved": (307, {"Location": service.url("/internal/admin")}, b""),
        "/push/broken": (500, {"Server": "redis-6.2 internal"}, b"-ERR secret internal banner"),
    }
    for path in ("/push/moved", "/push/broken"):
        push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(service.url(path)).subscription())
    client, token = csrf_client(personas.agent_a_user)

    response = client.post("/console/push/test/", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200 and response.json() == {"sent": 0, "failed": 2}
    assert sorted(service.requests) == ["/push/broken", "/push/moved"]  # /internal/admin never asked
    assert b"secret" not in response.content and b"redis" not in response.content
    assert set(PushSubscription.objects.values_list("failures", flat=True)) == {1}


def test_a_user_has_at_most_the_configured_devices_the_least_recently_working_goes(personas, settings):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "MAX_DEVICES_PER_USER": 3}
    rows = [push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(f"{FCM}{n}").subscription())[0] for n in range(3)]
    now = timezone.now()
    for age, row in zip((30, 20, 10), rows, strict=True):
        PushSubscription.objects.filter(pk=row.pk).update(created_at=now - timedelta(days=age))
    PushSubscription.objects.filter(pk=rows[0].pk).update(last_success_at=now - timedelta(days=1))  # the oldest still works
    others = push.subscribe(personas.agent_b_user, personas.workspace.pk, Device(f"{FCM}b").subscription())[0]

    again, created = push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(f"{FCM}2").subscription())
    assert not created and again.pk == rows[2].pk
    assert PushSubscription.objects.filter(user=personas.agent_a_user).count() == 3  # re-subscribing is not a new device

    newest, created = push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(f"{FCM}3").subscription())

    assert created
    kept = set(PushSubscription.objects.filter(user=personas.agent_a_user).values_list("pk", flat=True))
    assert kept == {rows[0].pk, rows[2].pk, newest.pk}  # rows[1]: registered long ago, never delivered to
    assert PushSubscription.objects.filter(pk=others.pk).exists()  # another user's devices do not count


def test_an_endpoint_of_another_user_is_not_taken_over(personas):
    endpoint = FCM + "shared-browser"
    original = Device(endpoint)
    client_a, token_a = csrf_client(personas.agent_a_user)
    assert post_json(client_a, URL, original.subscription(), token_a).status_code == 201

    for user in (personas.agent_b_user, personas.other_agent_user):
        client, token = csrf_client(user)
        response = post_json(client, URL, Device(endpoint).subscription(), token)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "endpoint_taken" and response.json()["error"]["message"]
    row = PushSubscription.objects.get()
    assert row.user_id == personas.agent_a_user.pk and row.workspace_id == personas.workspace.pk
    assert row.p256dh == original.subscription()["keys"]["p256dh"]

    renewed = Device(endpoint)  # the same user's browser renewed its keys: updated in place
    response = post_json(client_a, URL, renewed.subscription(), token_a)
    assert response.status_code == 200 and response.json() == {"id": row.pk, "created": False}
    assert PushSubscription.objects.get().p256dh == renewed.subscription()["keys"]["p256dh"]


def test_the_local_push_service_hook_is_only_http_on_loopback_names(personas, settings):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_INSECURE_ENDPOINTS": True}
    push.subscribe(personas.agent_a_user, personas.workspace.pk, Device("http://127.0.0.1:9/push").subscription())
    for endpoint in ("http://10.0.0.5/push", "http://169.254.169.254/latest", "http://[::1]:9/push"):
        with pytest.raises(DomainError):
            push.subscribe(personas.agent_a_user, personas.workspace.pk, Device(endpoint).subscription())
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_INSECURE_ENDPOINTS": False}
    settings.DEBUG = True  # DEBUG alone no longer opens loopback to the agents
    with pytest.raises(DomainError):
        push.subscribe(personas.agent_a_user, personas.workspace.pk, Device("http://localhost:9/push2").subscription())
    assert PushSubscription.objects.count() == 1

