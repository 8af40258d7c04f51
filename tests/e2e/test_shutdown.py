"""SIGTERM/SIGINT drain: no new connections, running requests finish (up to
--shutdown-timeout), the rest are aborted with finish_reason "abort", every
stream still ends with [DONE], and the process exits 0."""
from __future__ import annotations

import json
import signal
import threading
import time

import requests

from conftest import DEMO_NAME
from sable_server import SableServer


def start_stream(server, max_tokens: int, out: dict):
    def run():
        try:
            body = {"model": DEMO_NAME, "prompt": "drain me", "max_tokens": max_tokens, "stream": True,
                    "ignore_eos": True}
            with requests.post(server.url("/v1/completions"), json=body, stream=True, timeout=300) as r:
                out["status"] = r.status_code
                # Published before reading, so that an error after [DONE] shows as "error", not as missing events.
                events = out["events"] = []
                for line in r.iter_lines():
                    if not line:
                        continue
                    if line == b"data: [DONE]":
                        out["done"] = True
                        continue
                    events.append(json.loads(line[6:]))
                    out.setdefault("first", threading.Event()).set()
        except Exception as e:  # noqa: BLE001
            out["error"] = e
        finally:
            out.setdefault("first", threading.Event()).set()

    out["first"] = threading.Event()
    t = threading.Thread(target=run)
    t.start()
    return t


def finish_reasons(events):
    return [c["finish_reason"] for e in events for c in e["choices"] if c.get("finish_reason")]


def test_sigterm_lets_running_requests_finish():
    server = SableServer("--served-model-name", DEMO_NAME, "--shutdown-timeout", "60").start()
    out: dict = {}
    t = start_stream(server, 40, out)
    assert out["first"].wait(120), server.log()
    server.proc.send_signal(signal.SIGTERM)
    # New connections are refused (or told 503) while the stream goes on.
    time.sleep(0.3)
    try:
        r = requests.get(server.url("/health"), timeout=5)
        assert r.status_code == 503
    except requests.ConnectionError:
        pass
    t.join(timeout=120)
    assert server.proc.wait(timeout=120) == 0, server.log()
    assert "error" not in out, out.get("error")
    assert out.get("done"), "the stream must end with [DONE]"
    assert finish_reasons(out["events"]) == ["length"]
    text = "".join(c["text"] for e in out["events"] for c in e["choices"])
    assert text
    assert "shutting down" in server.log()


def test_shutdown_timeout_aborts_the_rest():
    server = SableServer("--served-model-name", DEMO_NAME, "--shutdown-timeout", "1", "--max-model-len",
                         "100000").start()
    out: dict = {}
    t = start_stream(server, 90000, out)
    assert out["first"].wait(120), server.log()
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    t.join(timeout=60)
    assert server.proc.wait(timeout=60) == 0, server.log()
    assert time.monotonic() - t0 < 30
    assert out.get("done"), out
    assert "error" not in out, out.get("error")
    assert finish_reasons(out["events"]) == ["abort"]


def test_sigint_on_idle_server_exits_zero():
    server = SableServer("--served-model-name", DEMO_NAME).start()
    assert requests.get(server.url("/health"), timeout=10).status_code == 200
    t0 = time.monotonic()
    assert server.stop(signal.SIGINT, timeout=30) == 0, server.log()
    assert time.monotonic() - t0 < 10
