"""The simulator behaves like WeChat and WeCom where the product depends on it: tokens expire,
kf/sync_msg pages by cursor, a welcome code works once within its lifetime, session states move
only as WeCom allows, and the control endpoints do what the tests rely on."""

import time

import requests

from connectors.tests import simulator_fixture

simulator_process, wechat_sim = simulator_fixture.simulator_process, simulator_fixture.wechat_sim  # the fixtures


def call(sim, method, path, **kwargs):
    return sim.http.request(method, sim.base + path, timeout=5, **kwargs).json()


def oa_token(sim, appid="wx-sim"):
    return call(sim, "GET", "/cgi-bin/token", params={"grant_type": "client_credential", "appid": appid, "secret": "s"})["access_token"]


def kf_token(sim):
    return call(sim, "GET", "/cgi-bin/gettoken", params={"corpid": "ww1", "corpsecret": "s"})["access_token"]


def test_tokens_expire_like_wechats(wechat_sim):
    wechat_sim.config(token_ttl=0.3)
    token = oa_token(wechat_sim)
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "x"}}
    assert call(wechat_sim, "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body)["errcode"] == 0
    time.sleep(0.35)
    assert call(wechat_sim, "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body)["errcode"] == 42001
    assert call(wechat_sim, "POST", "/cgi-bin/message/custom/send", params={"access_token": "forged"}, json=body)["errcode"] == 40001


def test_kf_sync_msg_pages_by_cursor(wechat_sim):
    for n in range(3):
        wechat_sim.queue_kf(open_kfid="wk1", external_userid="wm1", msgtype="text", text={"content": f"m{n}"})
    token = kf_token(wechat_sim)
    first = call(wechat_sim, "POST", "/cgi-bin/kf/sync_msg", params={"access_token": token}, json={"open_kfid": "wk1", "limit": 2})
    assert (first["has_more"], [m["text"]["content"] for m in first["msg_list"]]) == (1, ["m0", "m1"])
    rest = call(wechat_sim, "POST", "/cgi-bin/kf/sync_msg", params={"access_token": token},
                json={"open_kfid": "wk1", "cursor": first["next_cursor"]})
    assert (rest["has_more"], [m["text"]["content"] for m in rest["msg_list"]]) == (0, ["m2"])
    assert rest["msg_list"][0]["origin"] == 3 and rest["msg_list"][0]["external_userid"] == "wm1"
    again = call(wechat_sim, "POST", "/cgi-bin/kf/sync_msg", params={"access_token": token},
                 json={"open_kfid": "wk1", "cursor": rest["next_cursor"]})
    assert again["msg_list"] == [] and again["next_cursor"] == rest["next_cursor"]


def test_a_welcome_code_works_once_within_its_lifetime(wechat_sim):
    wechat_sim.config(welcome_ttl=0.3)
    token = kf_token(wechat_sim)
    code = wechat_sim.queue_kf(event="enter_session", open_kfid="wk1", external_userid="wm1")["message"]["event"]["welcome_code"]
    welcome = {"code": code, "msgtype": "text", "text": {"content": "欢迎"}}
    assert call(wechat_sim, "POST", "/cgi-bin/kf/send_msg_on_event", params={"access_token": token}, json=welcome)["errcode"] == 0
    assert call(wechat_sim, "POST", "/cgi-bin/kf/send_msg_on_event", params={"access_token": token}, json=welcome)["errcode"] == 95018
    late = wechat_sim.queue_kf(event="enter_session", open_kfid="wk1", external_userid="wm1")["message"]["event"]["welcome_code"]
    time.sleep(0.35)
    assert call(wechat_sim, "POST", "/cgi-bin/kf/send_msg_on_event", params={"access_token": token},
                json={**welcome, "code": late})["errcode"] == 95018
    assert len(wechat_sim.sent("kf/send_msg_on_event")) == 1


def test_session_states_move_as_wecom_allows(wechat_sim):
    token = kf_token(wechat_sim)
    who = {"open_kfid": "wk1", "external_userid": "wm1"}

    def trans(state, servicer=""):
        return call(wechat_sim, "POST", "/cgi-bin/kf/service_state/trans", params={"access_token": token},
                    json={**who, "service_state": state, "servicer_userid": servicer})["errcode"]

    assert call(wechat_sim, "POST", "/cgi-bin/kf/service_state/get", params={"access_token": token}, json=who)["service_state"] == 0
    assert trans(3) == 95016  # a person needs a servicer
    assert trans(1) == 0 and trans(3, "zhangsan") == 0
    assert call(wechat_sim, "POST", "/cgi-bin/kf/service_state/get", params={"access_token": token}, json=who) \
        | {"errmsg": "ok"} == {"errcode": 0, "errmsg": "ok", "service_state": 3, "servicer_userid": "zhangsan"}
    assert trans(4) == 0 and trans(0) == 95016


def test_control_injects_failures_and_outages(wechat_sim):
    token = oa_token(wechat_sim)
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "x"}}
    wechat_sim.fail(code=-1, times=2, path="custom/send")
    codes = [call(wechat_sim, "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body)["errcode"] for _ in range(3)]
    assert codes == [-1, -1, 0]
    wechat_sim.down()
    assert wechat_sim.http.get(wechat_sim.base + "/cgi-bin/token", timeout=5).status_code == 503
    wechat_sim.down("close")
    try:
        wechat_sim.http.get(wechat_sim.base + "/cgi-bin/token", timeout=5)
        raise AssertionError("the connection should have been dropped")
    except requests.ConnectionError:
        pass
    wechat_sim.up()
    assert oa_token(wechat_sim)
    assert len(wechat_sim.custom_sends()) == 1
    wechat_sim.reset()
    assert wechat_sim.sent() == [] and wechat_sim.token_fetches() == {}


def test_media_holds_a_jpeg_and_an_amr(wechat_sim):
    assert wechat_sim.media("sim-image-jpeg")[:3] == b"\xff\xd8\xff"
    assert wechat_sim.media("sim-voice-amr")[:6] == b"#!AMR\n"
