"""The WeChat simulator (connectors/wechat/simulator.py) as a real subprocess on a free port, and
settings WECHAT_API_BASE / WECOM_API_BASE pointing at it. Use it from a test module with

    from connectors.tests.simulator_fixture import wechat_sim, simulator_process  # noqa: F401

`wechat_sim` resets the simulator before each test and hands a small control object."""

import subprocess
import sys
import time

import pytest
import requests

from helpdesk.processes import BASE_DIR, free_port, wait_for_port


class Simulator:
    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def _post(self, name, **data):
        response = self.http.post(f"{self.base}/_sim/{name}", json=data, timeout=5)
        response.raise_for_status()
        return response.json()

    def _get(self, name, **params):
        response = self.http.get(f"{self.base}/_sim/{name}", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def reset(self):
        return self._post("reset")

    def sent(self, api=None):
        return self._get("sent", **({"api": api} if api else {}))["sent"]

    def custom_sends(self):
        return [item["body"] for item in self.sent("custom/send")]

    def stats(self):
        return self._get("stats")

    def token_fetches(self):
        return self.stats()["token_fetches"]

    def expire_tokens(self):
        return self._post("expire_tokens")

    def fail(self, code=-1, times=1, path="", http_status=0):
        return self._post("fail", code=code, times=times, path=path, http_status=http_status)

    def down(self, mode="503"):
        return self._post("down", mode=mode)

    def up(self):
        return self._post("up")

    def config(self, **values):
        return self._post("config", **values)

    def queue_kf(self, **message):
        return self._post("kf/queue", **message)

    def media(self, media_id):
        response = self.http.get(f"{self.base}/_sim/media/{media_id}", timeout=5)
        response.raise_for_status()
        return response.content


@pytest.fixture(scope="session")
def simulator_process():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "connectors.wechat.simulator", "--port", str(port)], cwd=BASE_DIR,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, timeout=20, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def wechat_sim(simulator_process, settings):
    settings.WECHAT_API_BASE = simulator_process
    settings.WECOM_API_BASE = simulator_process
    sim = Simulator(simulator_process)
    sim.reset()
    yield sim
    sim.reset()


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Wait on a state, not a time: True once predicate() holds, False after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
