"""A local stand-in for WeChat's and WeCom's HTTP APIs, for the tests and the demo:

    python -m connectors.wechat.simulator --port 8765

Point settings WECHAT_API_BASE and WECOM_API_BASE at it. It answers like the real hosts (HTTP
200 with errcode/errmsg JSON): access tokens that expire (40001 unknown, 42001 expired), customer
service sends, temporary media, WeCom 微信客服 sync_msg / send_msg / send_msg_on_event / session
state. Test-control endpoints under /_sim/ (connectors/wechat/simulator_control.py) list what was
sent, expire tokens, inject failures, go down, queue kf customer messages and reset.

Standard library only: the tests run it as a real subprocess (connectors/tests/simulator_fixture.py),
so the client's timeouts, sockets and retries are exercised for real."""

import argparse
import email.parser
import email.policy
import itertools
import json
import secrets
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import simulator_control

INVALID_TOKEN = 40001
EXPIRED_TOKEN = 42001
INVALID_CREDENTIAL = 40125  # wrong AppSecret / corpsecret
INVALID_MEDIA = 40007
MISSING_PARAM = 41001
INVALID_STATE_CHANGE = 95016  # kf/service_state/trans: transition not allowed
INVALID_WELCOME_CODE = 95018  # this simulator's code for an unknown, used or expired welcome code
SERVICE_STATES = {0: {1, 2, 3, 4}, 1: {2, 3, 4}, 2: {3, 4}, 3: {2, 3, 4}, 4: {1, 2, 3}}


def _jpeg(width=8, height=8):
    """A small JPEG that sniffs as one (SOI, JFIF, SOF0 with its size, SOS, EOI)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16 + b"\xff\xd9"


def _amr(frames=50):
    """One second of AMR-NB silence: the magic line, then 12.2 kbit/s frames (header 0x3C, 31 bytes)."""
    return b"#!AMR\n" + (b"\x3c" + b"\x00" * 31) * frames


# Media every simulator holds from the start: what customers "send" (scripts/wechat_customer.py).
BUILTIN_MEDIA = {
    "sim-image-jpeg": ("image/jpeg", "image", _jpeg()),
    "sim-voice-amr": ("audio/amr", "voice", _amr()),
}


class State:
    """Everything the simulator remembers; one lock (requests are handled on threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.default_token_ttl = 7200
        self.reset()

    def reset(self):
        self.token_ttl = self.default_token_ttl
        self.welcome_ttl = 20
        self.tokens = {}  # token -> (credential key, expires at)
        self.token_fetches = {}  # credential key -> count
        self.sent = []  # every accepted send, in order
        self.calls = []  # (path, errcode) of every API call
        self.failures = []  # [{"code", "times", "path", "http_status"}]
        self.down = ""  # "", "503" or "close"
        self.media = {key: value for key, value in BUILTIN_MEDIA.items()}
        self.kf_messages = []  # WeCom customer messages / events, in arrival order
        self.welcome_codes = {}  # code -> (open_kfid, external_userid, expires at)
        self.service_states = {}  # (open_kfid, external_userid) -> (state, servicer_userid)
        self.ids = itertools.count(1)

    def issue_token(self, key):
        token = f"sim-{next(self.ids)}-{secrets.token_hex(8)}"
        self.tokens[token] = (key, time.time() + self.token_ttl)
        self.token_fetches[key] = self.token_fetches.get(key, 0) + 1
        return token, self.token_ttl

    def check_token(self, token):
        """0 when the token may call, else WeChat's code for why not."""
        found = self.tokens.get(token or "")
        if found is None:
            return INVALID_TOKEN
        return EXPIRED_TOKEN if found[1] <= time.time() else 0

    def take_failure(self, path):
        for failure in self.failures:
            if failure["times"] > 0 and (not failure.get("path") or failure["path"] in path):
                failure["times"] -= 1
                return failure
        return None


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WeChatSimulator/1"

    def log_message(self, format, *args):  # quiet: the tests read /_sim/ instead
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    # --- plumbing ---------------------------------------------------------------------

    def _handle(self, method):
        url = urlsplit(self.path)
        self.query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length else b""
        path = url.path
        if path.startswith("/_sim/"):
            return simulator_control.handle(self, STATE, method, path[len("/_sim/"):])
        with STATE.lock:
            down = STATE.down
        if down == "close":
            self.close_connection = True
            self.connection.close()  # the client sees the connection drop, as when the host is unreachable
            return
        if down:
            return self.reply_json({"error": "service unavailable"}, status=503)
        route = ROUTES.get((method, path))
        if route is None:
            return self.reply_json({"errcode": 404, "errmsg": f"no such api {path}"}, status=404)
        with STATE.lock:
            failure = STATE.take_failure(path)
        if failure is not None:
            if failure.get("http_status"):
                STATE.calls.append((path, failure["code"]))
                return self.reply_json({"error": "injected"}, status=failure["http_status"])
            return self.error(failure["code"], "injected failure")
        if route.needs_token:
            with STATE.lock:
                code = STATE.check_token(self.query.get("access_token"))
            if code:
                return self.error(code, "access_token expired" if code == EXPIRED_TOKEN else "invalid credential, access_token is invalid or not latest")
        route(self)

    def body_json(self):
        try:
            data = json.loads(self.raw or b"{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def reply_json(self, data, status=200):
        self.reply(json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8", status)

    def reply(self, body, content_type, status=200, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def ok(self, **data):
        STATE.calls.append((urlsplit(self.path).path, 0))
        self.reply_json({"errcode": 0, "errmsg": "ok", **data})

    def error(self, code, message):
        STATE.calls.append((urlsplit(self.path).path, code))
        self.reply_json({"errcode": code, "errmsg": f"{message} rid: sim-{next(STATE.ids)}"})

    def record(self, api, body, **extra):
        with STATE.lock:
            STATE.sent.append({"api": api, "body": body, "at": time.time(), **extra})


def route(method, path, needs_token=True):
    def wrap(fn):
        fn.needs_token = needs_token
        ROUTES[(method, path)] = fn
        return fn
    return wrap


ROUTES = {}


# --- WeChat (Official Account, Mini Program) ----------------------------------------------


@route("GET", "/cgi-bin/token", needs_token=False)
def token(h):
    appid, secret = h.query.get("appid", ""), h.query.get("secret", "")
    if h.query.get("grant_type") != "client_credential" or not appid:
        return h.error(40002, "invalid grant_type or appid")
    if not secret or secret == "wrong-secret":
        return h.error(INVALID_CREDENTIAL, "invalid appsecret")
    with STATE.lock:
        value, ttl = STATE.issue_token(f"oa:{appid}")
    STATE.calls.append(("/cgi-bin/token", 0))
    h.reply_json({"access_token": value, "expires_in": ttl})  # WeChat's success has no errcode


CUSTOM_TYPES = {"text": ("content",), "image": ("media_id",), "voice": ("media_id",), "link": ("title", "url"),
                "news": ("articles",), "miniprogrampage": ("title", "pagepath")}


@route("POST", "/cgi-bin/message/custom/send")
def custom_send(h):
    body = h.body_json()
    if body is None or not body.get("touser"):
        return h.error(40003, "invalid openid")
    msgtype = body.get("msgtype")
    fields = CUSTOM_TYPES.get(msgtype)
    if fields is None or not isinstance(body.get(msgtype), dict):
        return h.error(40008, "invalid message type")
    if any(not body[msgtype].get(name) for name in fields):
        return h.error(44002 if msgtype == "text" else 40035, "empty content or missing parameter")
    media_id = body[msgtype].get("media_id") or body[msgtype].get("thumb_media_id")
    if media_id and media_id not in STATE.media:
        return h.error(INVALID_MEDIA, "invalid media_id")
    h.record("custom/send", body)
    h.ok()


@route("POST", "/cgi-bin/media/upload")
def media_upload(h):
    kind = h.query.get("type", "")
    if kind not in ("image", "voice", "video", "thumb"):
        return h.error(40004, "invalid media type")
    content_type = h.headers.get("Content-Type", "")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + h.raw)
    part = next((p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "media"), None) \
        if message.is_multipart() else None
    data = part.get_payload(decode=True) if part is not None else b""
    if not data:
        return h.error(41005, "media data missing")
    media_id = f"sim-media-{next(STATE.ids)}-{secrets.token_hex(6)}"
    with STATE.lock:
        STATE.media[media_id] = (part.get_content_type(), kind, data)
    h.record("media/upload", {"type": kind, "filename": part.get_filename(), "size": len(data)}, media_id=media_id)
    STATE.calls.append(("/cgi-bin/media/upload", 0))
    h.reply_json({"type": kind, "media_id": media_id, "created_at": int(time.time())})


@route("GET", "/cgi-bin/media/get")
def media_get(h):
    found = STATE.media.get(h.query.get("media_id", ""))
    if found is None:
        return h.error(INVALID_MEDIA, "invalid media_id")
    content_type, kind, data = found
    STATE.calls.append(("/cgi-bin/media/get", 0))
    h.reply(data, content_type, headers=[("Content-Disposition", f'attachment; filename="{kind}.{content_type.split("/")[-1]}"')])


# --- WeCom 微信客服 ----------------------------------------------------------------------


@route("GET", "/cgi-bin/gettoken", needs_token=False)
def gettoken(h):
    corpid, secret = h.query.get("corpid", ""), h.query.get("corpsecret", "")
    if not corpid:
        return h.error(40013, "invalid corpid")
    if not secret or secret == "wrong-secret":
        return h.error(40001, "invalid secret")
    with STATE.lock:
        value, ttl = STATE.issue_token(f"kf:{corpid}")
    h.ok(access_token=value, expires_in=ttl)


@route("POST", "/cgi-bin/kf/sync_msg")
def kf_sync(h):
    body = h.body_json() or {}
    try:
        start = int(body.get("cursor") or 0)
        limit = min(max(int(body.get("limit") or 1000), 1), 1000)
    except (TypeError, ValueError):
        return h.error(40035, "invalid cursor or limit")
    open_kfid = body.get("open_kfid", "")
    with STATE.lock:
        after = [(i, m) for i, m in enumerate(STATE.kf_messages) if i >= start and (not open_kfid or m["open_kfid"] == open_kfid)]
    batch = after[:limit]
    next_cursor = str(batch[-1][0] + 1) if batch else str(start)
    h.ok(next_cursor=next_cursor, has_more=int(len(after) > limit), msg_list=[m for _i, m in batch])


def _kf_send(h, body, api):
    msgtype = body.get("msgtype")
    if msgtype not in ("text", "image", "voice", "video", "file", "link", "miniprogram", "msgmenu", "location") \
            or not isinstance(body.get(msgtype), dict):
        return h.error(40008, "invalid message type")
    if msgtype == "text" and not body["text"].get("content"):
        return h.error(44004, "empty content")
    media_id = body[msgtype].get("media_id") or body[msgtype].get("thumb_media_id")
    if media_id and media_id not in STATE.media:
        return h.error(INVALID_MEDIA, "invalid media_id")
    msgid = body.get("msgid") or f"sim-kf-{next(STATE.ids)}"
    h.record(api, body, msgid=msgid)
    h.ok(msgid=msgid)


@route("POST", "/cgi-bin/kf/send_msg")
def kf_send(h):
    body = h.body_json()
    if body is None or not body.get("touser") or not body.get("open_kfid"):
        return h.error(MISSING_PARAM if body is None else 40003, "touser and open_kfid are required")
    _kf_send(h, body, "kf/send_msg")


@route("POST", "/cgi-bin/kf/send_msg_on_event")
def kf_send_on_event(h):
    body = h.body_json() or {}
    with STATE.lock:
        found = STATE.welcome_codes.pop(body.get("code", ""), None)  # single use, even when it has expired
    if found is None or found[2] <= time.time():
        return h.error(INVALID_WELCOME_CODE, "invalid or expired welcome code")
    _kf_send(h, body, "kf/send_msg_on_event")


@route("POST", "/cgi-bin/kf/service_state/get")
def kf_state_get(h):
    body = h.body_json() or {}
    state, servicer = STATE.service_states.get((body.get("open_kfid", ""), body.get("external_userid", "")), (0, ""))
    h.ok(service_state=state, servicer_userid=servicer)


@route("POST", "/cgi-bin/kf/service_state/trans")
def kf_state_trans(h):
    body = h.body_json() or {}
    key = (body.get("open_kfid", ""), body.get("external_userid", ""))
    try:
        target = int(body.get("service_state"))
    except (TypeError, ValueError):
        return h.error(40035, "invalid service_state")
    servicer = body.get("servicer_userid", "")
    with STATE.lock:
        current = STATE.service_states.get(key, (0, ""))[0]
        if target not in SERVICE_STATES.get(current, ()) or (target == 3 and not servicer):
            allowed = False
        else:
            allowed = True
            STATE.service_states[key] = (target, servicer if target == 3 else "")
    if not allowed:
        return h.error(INVALID_STATE_CHANGE, f"service state change {current} -> {target} not allowed")
    h.record("kf/service_state/trans", body)
    h.ok(msg_code="" if target != 4 else f"sim-end-{next(STATE.ids)}")


def serve(port, host="127.0.0.1"):
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="Local WeChat / WeCom API simulator")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-ttl", type=int, default=7200, help="seconds an access_token lives")
    args = parser.parse_args(argv)
    STATE.default_token_ttl = STATE.token_ttl = args.token_ttl
    server = serve(args.port, args.host)
    print(f"WeChat simulator on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
