"""The simulator's test-control endpoints (/_sim/...): what a test or the demo asks of the fake
WeChat, never part of WeChat's API. Requests and answers are JSON.

    GET  /_sim/sent[?api=custom/send]   every accepted send, in order
    GET  /_sim/stats                    token fetches per credential, calls as [path, errcode]
    POST /_sim/expire_tokens            every issued token now answers 42001
    POST /_sim/fail {"code": -1, "times": 1, "path": "custom/send", "http_status": 0}
                                        the next `times` API calls (matching path) fail with code
                                        (or, with http_status, with that HTTP status)
    POST /_sim/down {"mode": "503" | "close"}, POST /_sim/up
    POST /_sim/config {"token_ttl": s, "welcome_ttl": s}
    POST /_sim/kf/queue {"open_kfid", "external_userid", "msgtype": "text", "text": {...}} or
                        {"event": "enter_session", "open_kfid", "external_userid", "scene"}
                        queues a customer message / event for kf/sync_msg; answers it (with
                        its welcome_code for enter_session)
    POST /_sim/media {"content_type", "kind", "data_b64"} -> {"media_id"}
    GET  /_sim/media/<media_id>         the bytes of an uploaded media
    POST /_sim/reset"""

import base64
import json
import secrets
import time


def handle(h, state, method, name):
    data = {}
    if method == "POST" and h.raw:
        try:
            data = json.loads(h.raw)
        except ValueError:
            return h.reply_json({"error": "body must be JSON"}, status=400)
    if method == "GET" and name.startswith("media/"):
        found = state.media.get(name[len("media/"):])
        if found is None:
            return h.reply_json({"error": "no such media"}, status=404)
        return h.reply(found[2], found[0])
    action = ACTIONS.get((method, name))
    if action is None:
        return h.reply_json({"error": f"unknown control {method} {name}"}, status=404)
    with state.lock:
        answer = action(state, data, h.query)
    h.reply_json(answer)


def _sent(state, _data, query):
    api = query.get("api")
    return {"sent": [item for item in state.sent if not api or item["api"] == api]}


def _stats(state, _data, _query):
    return {"token_fetches": dict(state.token_fetches), "calls": [list(call) for call in state.calls]}


def _expire(state, _data, _query):
    state.tokens = {token: (key, 0) for token, (key, _at) in state.tokens.items()}
    return {"expired": len(state.tokens)}


def _fail(state, data, _query):
    state.failures.append({"code": int(data.get("code", -1)), "times": int(data.get("times", 1)),
                           "path": data.get("path", ""), "http_status": int(data.get("http_status") or 0)})
    return {"failures": state.failures}


def _down(state, data, _query):
    state.down = "close" if data.get("mode") == "close" else "503"
    return {"down": state.down}


def _up(state, _data, _query):
    state.down = ""
    return {"down": ""}


def _config(state, data, _query):
    if "token_ttl" in data:
        state.token_ttl = float(data["token_ttl"])
    if "welcome_ttl" in data:
        state.welcome_ttl = float(data["welcome_ttl"])
    return {"token_ttl": state.token_ttl, "welcome_ttl": state.welcome_ttl}


def _kf_queue(state, data, _query):
    """One customer message or event, in WeCom's sync_msg format (origin 3: from the customer; 4: an event)."""
    now = int(time.time())
    msgid = data.get("msgid") or f"sim-msg-{next(state.ids)}"
    open_kfid, user = data.get("open_kfid", ""), data.get("external_userid", "")
    if data.get("event"):
        event = {"event_type": data["event"], "open_kfid": open_kfid, "external_userid": user,
                 "scene": data.get("scene", ""), "scene_param": data.get("scene_param", "")}
        if data["event"] == "enter_session":
            code = secrets.token_hex(12)
            state.welcome_codes[code] = (open_kfid, user, time.time() + state.welcome_ttl)
            event["welcome_code"] = code
        message = {"msgid": msgid, "open_kfid": open_kfid, "send_time": now, "origin": 4, "msgtype": "event", "event": event}
    else:
        msgtype = data.get("msgtype", "text")
        message = {"msgid": msgid, "open_kfid": open_kfid, "external_userid": user, "send_time": now, "origin": 3,
                   "msgtype": msgtype, msgtype: data.get(msgtype) or {}}
    state.kf_messages.append(message)
    return {"message": message, "cursor_after": str(len(state.kf_messages))}


def _media(state, data, _query):
    media_id = f"sim-media-{next(state.ids)}"
    state.media[media_id] = (data.get("content_type", "application/octet-stream"), data.get("kind", "file"),
                             base64.b64decode(data.get("data_b64", "")))
    return {"media_id": media_id}


def _reset(state, _data, _query):
    state.reset()
    return {"reset": True}


ACTIONS = {
    ("GET", "sent"): _sent,
    ("GET", "stats"): _stats,
    ("POST", "expire_tokens"): _expire,
    ("POST", "fail"): _fail,
    ("POST", "down"): _down,
    ("POST", "up"): _up,
    ("POST", "config"): _config,
    ("POST", "kf/queue"): _kf_queue,
    ("POST", "media"): _media,
    ("POST", "reset"): _reset,
}
