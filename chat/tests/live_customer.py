"""A customer on a real WebSocket connection to a live server (websockets' sync client: it
runs on its own thread, so it works beside Playwright's sync API)."""

import json
import time
import uuid

from websockets.sync.client import connect


class LiveSocket:
    role = ""

    def __init__(self, url, **connect_kwargs):
        self._connection = connect(url, open_timeout=10, **connect_kwargs)
        self.ws = self._connection.__enter__()
        self.frames = []
        self.conversation_id = None
        self.hello = self.wait_for(lambda f: f["type"] == "hello")
        assert self.hello["role"] == self.role

    def _read(self, timeout):
        try:
            frame = json.loads(self.ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        self.frames.append(frame)
        return frame

    def wait_for(self, predicate, timeout=15):
        """The first frame (already received or arriving) matching predicate."""
        for frame in self.frames:
            if predicate(frame):
                return frame
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self._read(max(0.05, deadline - time.monotonic()))
            if frame is not None and predicate(frame):
                return frame
        raise AssertionError(f"no matching frame within {timeout}s; got {[f['type'] for f in self.frames]}")

    def frame(self, frame, reply_type):
        """Send a request frame and wait for its answer (matched by ref)."""
        ref = uuid.uuid4().hex[:8]
        self.ws.send(json.dumps({**frame, "ref": ref}))
        answer = self.wait_for(lambda f: f.get("ref") == ref and f["type"] in (reply_type, "error"))
        assert answer["type"] == reply_type, answer
        return answer

    def send(self, body, **extra):
        client_msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({"type": "send", "client_msg_id": client_msg_id, "body": body, **extra}))
        ack = self.wait_for(lambda f: f["type"] == "ack" and f["client_msg_id"] == client_msg_id)
        self.conversation_id = ack["message"]["conversation_id"]
        return ack["message"]

    def received(self, body):
        """Messages with this body delivered live to the customer (each delivery counted)."""
        self.drain()
        return [f for f in self.frames if f["type"] == "message" and f["message"]["body"] == body]

    def wait_for_message(self, predicate, timeout=15):
        return self.wait_for(lambda f: f["type"] == "message" and predicate(f["message"]), timeout)["message"]

    def drain(self, quiet=0.3):
        while self._read(quiet) is not None:
            pass

    def close(self):
        self._connection.__exit__(None, None, None)


class LiveCustomer(LiveSocket):
    role = "customer"

    def __init__(self, base_url, token):
        super().__init__(base_url.replace("http://", "ws://") + f"/ws/customer/?token={token}")


class LiveAgent(LiveSocket):
    """An agent's socket with a real session cookie (the Origin must be an allowed host)."""

    role = "agent"

    def __init__(self, base_url, session_id):
        super().__init__(base_url.replace("http://", "ws://") + "/ws/agent/", origin=base_url,
                         additional_headers={"Cookie": f"sessionid={session_id}"})
