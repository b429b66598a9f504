"""The WeChat / WeCom client against the simulator process: one access token shared by every
thread and process through its AccessToken row, refreshed once when WeChat refuses it, errors
sorted into transient and permanent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import run_threads
from connectors.models import AccessToken
from connectors.tests import simulator_fixture
from connectors.wechat import client

simulator_process, wechat_sim = simulator_fixture.simulator_process, simulator_fixture.wechat_sim  # the fixtures
pytestmark = pytest.mark.django_db(transaction=True)


def oa():
    return client.WeChatClient("wx-client-test", "sim-secret")


def send_text(api, text="hi"):
    return api.send_custom({"touser": "o-1", "msgtype": "text", "text": {"content": text}})


@pytest.mark.engine_db
def test_one_token_is_fetched_and_shared_by_concurrent_callers(wechat_sim):
    run_threads(6, lambda i: send_text(oa(), f"t{i}"))
    assert wechat_sim.token_fetches() == {"oa:wx-client-test": 1}
    assert len(wechat_sim.custom_sends()) == 6
    row = AccessToken.objects.get(key="oa:wx-client-test")
    assert row.token and row.expires_at > timezone.now() + timedelta(minutes=100)


@pytest.mark.engine_db
def test_a_token_about_to_expire_is_refreshed_once(wechat_sim):
    send_text(oa())
    AccessToken.objects.update(expires_at=timezone.now() + timedelta(minutes=4))  # inside the 5-minute margin
    run_threads(4, lambda i: send_text(oa()))
    assert wechat_sim.token_fetches() == {"oa:wx-client-test": 2}


def test_a_refused_token_is_refreshed_and_the_call_retried_once(wechat_sim):
    send_text(oa(), "a")
    wechat_sim.expire_tokens()
    send_text(oa(), "b")
    assert [b["text"]["content"] for b in wechat_sim.custom_sends()] == ["a", "b"]
    calls = wechat_sim.stats()["calls"]
    assert calls.count(["/cgi-bin/message/custom/send", 42001]) == 1 and wechat_sim.token_fetches()["oa:wx-client-test"] == 2


def test_a_token_refused_twice_is_an_error_not_a_loop(wechat_sim):
    send_text(oa())
    wechat_sim.fail(code=40001, times=2, path="custom/send")
    with pytest.raises(client.WeChatError) as error:
        send_text(oa())
    assert error.value.errcode == 40001 and not error.value.transient


@pytest.mark.parametrize("code,transient", [(-1, True), (45009, True), (45015, False), (45047, False), (40003, False)])
def test_errcodes_are_sorted_into_transient_and_permanent(wechat_sim, code, transient):
    wechat_sim.fail(code=code, path="custom/send")
    with pytest.raises(client.WeChatError) as error:
        send_text(oa())
    assert (error.value.errcode, error.value.transient) == (code, transient)


@pytest.mark.parametrize("mode", ["close", "503"])
def test_network_failures_and_5xx_are_transient(wechat_sim, mode):
    send_text(oa())
    wechat_sim.down(mode)
    with pytest.raises(client.WeChatError) as error:
        send_text(oa())
    assert error.value.transient and error.value.errcode == 0


def test_a_wrong_secret_is_a_permanent_error(wechat_sim):
    with pytest.raises(client.WeChatError) as error:
        send_text(client.WeChatClient("wx-other", "wrong-secret"))
    assert (error.value.errcode, error.value.transient) == (40125, False)


def test_media_upload_and_download(wechat_sim):
    api = oa()
    media_id = api.upload_media("image", "a.jpg", b"\xff\xd8\xff-bytes", "image/jpeg")
    assert api.get_media(media_id) == (b"\xff\xd8\xff-bytes", "image/jpeg")
    data, content_type = api.get_media("sim-voice-amr")
    assert data.startswith(b"#!AMR\n") and content_type == "audio/amr"
    with pytest.raises(client.WeChatError) as error:
        api.get_media("no-such-media")
    assert error.value.errcode == 40007


def test_a_media_upload_is_sent_again_whole_after_a_token_refresh(wechat_sim):
    api = oa()
    send_text(api)
    wechat_sim.expire_tokens()
    media_id = api.upload_media("image", "a.jpg", b"0123456789", "image/jpeg")
    assert wechat_sim.media(media_id) == b"0123456789"


def test_wecom_tokens_are_per_corp_and_secret(wechat_sim):
    kf = client.WeComClient("ww-corp", "kf-secret")
    kf.send_msg({"touser": "wm-1", "open_kfid": "wk-1", "msgtype": "text", "text": {"content": "你好"}})
    client.WeComClient("ww-corp", "kf-secret").sync_msg("wk-1")
    assert wechat_sim.token_fetches() == {"kf:ww-corp": 1}
    assert AccessToken.objects.filter(key__startswith="kf:ww-corp:").count() == 1
