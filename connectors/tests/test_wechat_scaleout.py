"""WeChat callbacks at scale: two real uvicorn processes on PostgreSQL + Redis take a burst of
signed, encrypted (safe mode) Official Account callbacks, with WeChat-style retries landing on the
other process, and store each customer message exactly once, in order per customer."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db.models import Count

from chat.models import Customer, Message
from connectors.models import ChannelAccount, ChannelUser
from connectors.tests import factories as f
from connectors.wechat import crypto

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

CUSTOMERS, PER_CUSTOMER = 20, 10
CALLBACK_BUDGET_SECONDS = 5.0  # WeChat gives up (and retries) after 5 s


@pytest.fixture
def no_real_wechat(monkeypatch):
    """Requested before two_servers: the servers' own follow-ups (auto replies...) must not reach
    the real api.weixin.qq.com; a closed local port makes them fail fast."""
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("WECOM_API_BASE", "http://127.0.0.1:9")


def encrypted_request(fields):
    """(query params, body) of a safe-mode push, signed as WeChat signs it. A retry is a new
    request (its own timestamp and nonce) carrying the same message."""
    encrypted = crypto.MessageCrypto(f.AES_KEY, f.APP_ID).encrypt(f.xml(**fields))
    body = f.xml(ToUserName=fields["ToUserName"], Encrypt=encrypted)
    return f.signed_params(encrypt=encrypted), body.encode()


def test_burst_with_retries_across_two_processes_is_stored_once_in_order(no_real_wechat, two_servers):
    inbox = f.make_channel_inbox(mode=ChannelAccount.Mode.SAFE)
    bases = [f"http://127.0.0.1:{port}{f.callback_url(inbox)}" for port in two_servers]
    openids = [f"oBurstUser{n:02d}-xxxxxxxxxxxxxxx" for n in range(CUSTOMERS)]
    created = int(time.time())
    # Per customer, MsgIds and CreateTimes increase in the order the customer sent them.
    plan = {openid: [f.text_fields(content=f"{openid[-20:]} #{k}", openid=openid, msg_id=f.next_msg_id(), CreateTime=created + k)
                     for k in range(PER_CUSTOMER)] for openid in openids}
    results, http = [], requests.Session()
    http.trust_env = False
    http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))

    def post(base, fields):
        params, body = encrypted_request(fields)
        started = time.monotonic()
        response = http.post(base, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=30)
        results.append((response.status_code, response.text, time.monotonic() - started, fields["MsgId"]))

    def customer(n):
        """One customer writes sequentially; every third message is retried on the other process at
        the same moment (a slow answer WeChat gave up on), every fifth retried again afterwards."""
        with ThreadPoolExecutor(2) as pair:
            for k, fields in enumerate(plan[openids[n]]):
                first, other = bases[(n + k) % 2], bases[(n + k + 1) % 2]
                sends = [pair.submit(post, first, fields)]
                if k % 3 == 0:
                    sends.append(pair.submit(post, other, fields))
                for send in sends:
                    send.result()
                if k % 5 == 4:
                    post(other, fields)

    with ThreadPoolExecutor(CUSTOMERS) as pool:
        list(pool.map(customer, range(CUSTOMERS)))

    statuses = [status for status, *_ in results]
    assert all(status < 500 for status in statuses), sorted(set(statuses))
    assert statuses == [200] * len(results), [r for r in results if r[0] != 200][:5]
    assert {text for _, text, _, _ in results} == {"success"}
    slowest = max(elapsed for _, _, elapsed, _ in results)
    assert slowest < CALLBACK_BUDGET_SECONDS, slowest
    assert len(results) > CUSTOMERS * PER_CUSTOMER  # the retries did happen

    stored = Message.objects.filter(conversation__inbox=inbox, sender_kind="customer")
    assert stored.count() == CUSTOMERS * PER_CUSTOMER
    per_id = stored.values("client_msg_id").annotate(n=Count("id"))
    assert {row["client_msg_id"]: row["n"] for row in per_id} == {
        f"wx:{fields['MsgId']}": 1 for sent in plan.values() for fields in sent}
    assert ChannelUser.objects.filter(inbox=inbox).count() == CUSTOMERS
    assert Customer.objects.filter(workspace_id=inbox.workspace_id, channel_users__inbox=inbox).distinct().count() == CUSTOMERS
    for openid, sent in plan.items():
        user = ChannelUser.objects.get(inbox=inbox, external_id=openid)
        in_seq_order = list(stored.filter(sender_customer=user.customer).order_by("conversation_id", "seq")
                            .values_list("client_msg_id", flat=True))
        assert in_seq_order == [f"wx:{fields['MsgId']}" for fields in sent], openid
