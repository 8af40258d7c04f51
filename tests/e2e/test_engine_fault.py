"""The fatal path end to end, as vLLM's EngineDeadError: a step that throws
(SABLE_INJECT_FAULT_AT_FORWARD makes the Nth forward throw, as a CUDA fault
would) ends the request in flight with an error naming the cause (a streamed
one: an error event, then [DONE]; a whole one: a 500), the server drains,
and the process exits 1 with the cause in its log, so that Kubernetes
restarts the pod; it never hangs or crashes."""
from __future__ import annotations

import json
import subprocess

import pytest
import requests

from conftest import DEMO_NAME
from sable_server import SableServer

CAUSE = "injected fault at forward 3"


@pytest.mark.parametrize("stream", [True, False])
def test_engine_fault_fails_the_request_and_exits_1(stream):
    s = SableServer("--served-model-name", DEMO_NAME, "--max-model-len", "512",
                    env={"SABLE_INJECT_FAULT_AT_FORWARD": "3"})
    s.start()
    try:
        r = requests.post(s.url("/v1/completions"),
                          json={"model": DEMO_NAME, "prompt": "hello", "max_tokens": 20, "stream": stream},
                          timeout=120, stream=stream)
        if stream:
            assert r.status_code == 200, r.text
            data = [line[6:] for line in r.iter_lines() if line.startswith(b"data: ")]
            assert data[-1] == b"[DONE]", data
            events = [json.loads(d) for d in data[:-1]]
            # The two forwards before the fault gave tokens; then the error.
            assert any(e.get("choices") for e in events), events
            err = events[-1].get("error")
        else:
            assert r.status_code == 500, r.text
            err = r.json().get("error")
        assert err is not None and CAUSE in err["message"] and err["type"] == "server_error", err
        # The server drains and exits with an error, by itself.
        rc = s.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the server did not exit after the engine fault:\n{s.log()[-4000:]}")
    finally:
        s.stop()
    log = s.log()
    assert rc == 1, log[-4000:]
    assert "the engine stopped after an unrecoverable error" in log and CAUSE in log, log[-4000:]
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert marker not in log, log[-4000:]
