"""A thin client for WeChat's (Official Account, Mini Program) and WeCom's HTTP APIs.

The access_token lives in one AccessToken row per credential, shared by every process: read it;
when it is missing or expires within TOKEN_MARGIN, lock the row and fetch a new one (a process
that waited on the lock finds it fresh and uses it: one fetch, not one per process; WeChat
invalidates the previous token after a while, so refreshing in many places at once would make
them invalidate each other). A call answered 40001/42001 (token revoked or expired early)
refreshes once and is retried once.

Every request has a short connect timeout and a read timeout. Failures raise WeChatError with
`transient` set for what is worth retrying later (system busy, rate limits, network errors,
5xx); everything else is permanent (the same request would fail again)."""

import hashlib
import io
import logging
import threading
from datetime import timedelta

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import Inbox

from ..models import AccessToken

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10
TOKEN_MARGIN = timedelta(minutes=5)
TOKEN_CODES = {40001, 40014, 42001}  # invalid / expired access_token: refresh and retry once
# System busy, per-minute and per-user rate limits, WeCom's "busy, retry": worth trying again later.
TRANSIENT_CODES = {-1, 45009, 45011, 45033, 45035, 6000}
REPLY_TIME_LIMIT = 45015  # outside the reply window (or the user unfollowed)
REPLY_COUNT_LIMIT = 45047  # too many replies since the user's last message

_sessions = threading.local()  # one HTTP session (kept-alive connections) per thread


class WeChatError(Exception):
    def __init__(self, errcode, errmsg, *, transient=False):
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.transient = transient

    @classmethod
    def from_answer(cls, data):
        code = int(data.get("errcode", -1))
        return cls(code, str(data.get("errmsg", ""))[:200], transient=code in TRANSIENT_CODES)


def _session():
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
        session.trust_env = False  # never an environment proxy between us and WeChat's API (or the simulator)
    return session


class Client:
    """Calls for one account. `base`: the API host; `key`: the AccessToken row's key."""

    token_path = ""

    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    # --- the access token -----------------------------------------------------------------

    def token_params(self):  # pragma: no cover - per platform
        raise NotImplementedError

    def access_token(self, *, stale=None):
        """A token valid for at least TOKEN_MARGIN. stale: the token a call was just refused with
        (refresh unless another process already replaced it)."""
        now = timezone.now()
        row = AccessToken.objects.filter(key=self.key).first()
        if row is not None and self._usable(row, now, stale):
            return row.token
        if row is None:
            try:
                with transaction.atomic():
                    AccessToken.objects.create(key=self.key)
            except IntegrityError:
                pass  # another process created it: lock it below
        with transaction.atomic():
            # The row lock (SQLite: the write lock, IMMEDIATE transactions) makes refreshes take turns.
            row = AccessToken.objects.select_for_update().get(key=self.key)
            if self._usable(row, timezone.now(), stale):
                return row.token  # refreshed by whoever held the lock before us
            token, expires_in = self._fetch_token()
            row.token, row.expires_at = token, timezone.now() + timedelta(seconds=expires_in)
            row.save(update_fields=["token", "expires_at", "updated_at"])
            return token

    @staticmethod
    def _usable(row, now, stale):
        return bool(row.token) and row.token != stale and row.expires_at is not None and row.expires_at - TOKEN_MARGIN > now

    def _fetch_token(self):
        data = self._request("GET", self.token_path, params=self.token_params())
        if not data.get("access_token"):
            raise WeChatError.from_answer(data)
        return data["access_token"], int(data.get("expires_in") or 7200)

    # --- calls --------------------------------------------------------------------------

    def post(self, path, payload):
        return self.call("POST", path, json=payload)

    def get(self, path, **params):
        return self.call("GET", path, params=params)

    def call(self, method, path, *, params=None, json=None, files=None, raw=False):
        """The answer's JSON (or, raw=True, the requests.Response of a download); WeChatError on errcode != 0."""
        token = self.access_token()
        try:
            return self._checked(method, path, token, params, json, files, raw)
        except WeChatError as error:
            if error.errcode not in TOKEN_CODES:
                raise
            log.info("access token %s refused (%s): refreshing once", self.key, error.errcode)
        token = self.access_token(stale=token)
        if files:
            for _name, (_filename, fileobj, _type) in files.items():
                fileobj.seek(0)
        return self._checked(method, path, token, params, json, files, raw)

    def _checked(self, method, path, token, params, json, files, raw):
        answer = self._request(method, path, params={**(params or {}), "access_token": token}, json=json, files=files, raw=raw)
        if raw:
            return answer
        if int(answer.get("errcode") or 0) != 0:
            raise WeChatError.from_answer(answer)
        return answer

    def _request(self, method, path, *, params=None, json=None, files=None, raw=False):
        url = self.base + path
        try:
            response = _session().request(method, url, params=params, json=json, files=files,
                                          timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.RequestException as error:
            # Refused, reset, timed out: nothing (or not all) reached WeChat; worth trying again.
            raise WeChatError(0, f"network: {type(error).__name__}", transient=True) from error
        if response.status_code >= 500 or response.status_code == 429:
            raise WeChatError(0, f"HTTP {response.status_code}", transient=True)
        content_type = response.headers.get("Content-Type", "")
        if raw and response.ok and "json" not in content_type and "text/plain" not in content_type:
            return response
        try:
            data = response.json()
        except ValueError:
            raise WeChatError(0, f"HTTP {response.status_code}: not JSON", transient=not response.ok) from None
        if not isinstance(data, dict):
            raise WeChatError(0, "unexpected answer")
        if not response.ok and not data.get("errcode"):
            raise WeChatError(0, f"HTTP {response.status_code}")
        return data


class WeChatClient(Client):
    """Official Account and Mini Program (api.weixin.qq.com)."""

    token_path = "/cgi-bin/token"

    def __init__(self, app_id, app_secret, base=None):
        super().__init__(base or settings.WECHAT_API_BASE, f"oa:{app_id}")
        self.app_id, self.app_secret = app_id, app_secret

    def token_params(self):
        return {"grant_type": "client_credential", "appid": self.app_id, "secret": self.app_secret}

    def send_custom(self, payload):
        """客服消息: text, image, voice, link (mini program), news (official account), miniprogrampage."""
        return self.post("/cgi-bin/message/custom/send", payload)

    def upload_media(self, kind, filename, data, content_type):
        """A temporary media (3 days); returns its media_id."""
        files = {"media": (filename, io.BytesIO(data), content_type)}  # rewound for a retry
        return self.call("POST", "/cgi-bin/media/upload", params={"type": kind}, files=files)["media_id"]

    def get_media(self, media_id):
        """(bytes, content type) of a temporary media a user sent."""
        response = self.call("GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True)
        if isinstance(response, dict):
            raise WeChatError.from_answer(response)
        return response.content, response.headers.get("Content-Type", "application/octet-stream")


class WeComClient(WeChatClient):
    """WeCom (qyapi.weixin.qq.com), for 微信客服: a token per corp id and secret."""

    token_path = "/cgi-bin/gettoken"

    def __init__(self, corp_id, secret, base=None):
        Client.__init__(self, base or settings.WECOM_API_BASE, f"kf:{corp_id}:{hashlib.sha256(secret.encode()).hexdigest()[:12]}")
        self.app_id, self.app_secret = corp_id, secret

    def token_params(self):
        return {"corpid": self.app_id, "corpsecret": self.app_secret}

    def sync_msg(self, open_kfid, cursor="", token="", limit=1000):
        payload = {"cursor": cursor, "limit": limit, "open_kfid": open_kfid}
        if token:
            payload["token"] = token
        return self.post("/cgi-bin/kf/sync_msg", payload)

    def send_msg(self, payload):
        return self.post("/cgi-bin/kf/send_msg", payload)

    def send_msg_on_event(self, payload):
        return self.post("/cgi-bin/kf/send_msg_on_event", payload)

    def service_state(self, open_kfid, external_userid):
        return self.post("/cgi-bin/kf/service_state/get", {"open_kfid": open_kfid, "external_userid": external_userid})

    def trans_service_state(self, open_kfid, external_userid, service_state, servicer_userid=""):
        payload = {"open_kfid": open_kfid, "external_userid": external_userid, "service_state": service_state}
        if servicer_userid:
            payload["servicer_userid"] = servicer_userid
        return self.post("/cgi-bin/kf/service_state/trans", payload)


def for_account(account):
    """The client of a ChannelAccount, by its inbox's kind."""
    if account.inbox.kind == Inbox.Kind.WECOM_KF:
        return WeComClient(account.app_id, account.app_secret)
    return WeChatClient(account.app_id, account.app_secret)

