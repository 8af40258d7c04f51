"""Many streaming clients at once: 64 concurrent streams all end with
[DONE]; 32 clients that leave mid-stream have their requests aborted, so the
engine goes back to no running request and idle KV usage."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from conftest import DEMO_NAME
from sable_server import SableServer


@pytest.fixture(scope="module")
def server():
    with SableServer("--served-model-name", DEMO_NAME, "--max-model-len", "4096", "--max-num-seqs", "128") as s:
        yield s


def stream_once(server, body: dict, results: list, i: int):
    try:
        with requests.post(server.url("/v1/chat/completions"), json=body, stream=True, timeout=300) as r:
            assert r.status_code == 200, r.text
            events, done, ids = [], False, set()
            for line in r.iter_lines():
                if not line:
                    continue
                assert line.startswith(b"data: "), line
                data = line[6:]
                if data == b"[DONE]":
                    done = True
                    continue
                assert not done, "an event after [DONE]"
                ev = json.loads(data)
                ids.add(ev["id"])
                events.append(ev)
            results[i] = (done, len(ids), events)
    except Exception as e:  # noqa: BLE001 - reported by the test
        results[i] = e


def wait_metrics(server, pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    m = server.metrics()
    while time.monotonic() < deadline:
        m = server.metrics()
        if pred(m):
            return m
        time.sleep(0.1)
    return m


def test_64_concurrent_streams_end_with_done(server):
    n = 64
    results: list = [None] * n
    threads = []
    for i in range(n):
        body = {"model": DEMO_NAME, "messages": [{"role": "user", "content": f"client {i} says hi"}],
                "max_tokens": 8, "stream": True, "stream_options": {"include_usage": True},
                "ignore_eos": True}
        threads.append(threading.Thread(target=stream_once, args=(server, body, results, i)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for i, res in enumerate(results):
        assert not isinstance(res, Exception), f"client {i}: {res!r}"
        assert res is not None, f"client {i} never finished"
        done, n_ids, events = res
        assert done, f"client {i}: no [DONE]"
        assert n_ids == 1
        assert events[0]["choices"][0]["delta"]["role"] == "assistant"
        assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 8
    m = wait_metrics(server, lambda m: m["vllm:num_requests_running"] == 0)
    assert m["vllm:num_requests_running"] == 0


def test_32_disconnects_free_everything(server):
    idle = wait_metrics(server, lambda m: m["vllm:num_requests_running"] == 0)
    idle_kv = idle["vllm:kv_cache_usage_perc"]
    aborted_before = idle.get("vllm:request_success_total[abort]", 0)
    n = 32
    got_first = threading.Barrier(n + 1, timeout=240)
    errors: list = []

    def leave_mid_stream(i):
        try:
            body = {"model": DEMO_NAME, "prompt": f"client {i} will leave", "max_tokens": 3000, "stream": True,
                    "ignore_eos": True}
            r = requests.post(server.url("/v1/completions"), json=body, stream=True, timeout=240)
            assert r.status_code == 200
            lines = r.iter_lines()
            for line in lines:
                if line.startswith(b"data: {") and b'"text"' in line:
                    break
            got_first.wait()
            r.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
            try:
                got_first.abort()
            except Exception:  # noqa: BLE001
                pass

    threads = [threading.Thread(target=leave_mid_stream, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    got_first.wait()  # all 32 are streaming now
    busy = server.metrics()
    assert busy["vllm:num_requests_running"] + busy["vllm:num_requests_waiting"] > 0
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    # Aborted at once: far sooner than 3000 tokens x 32 could be generated.
    t0 = time.monotonic()
    m = wait_metrics(server, lambda m: m["vllm:num_requests_running"] == 0 and m["vllm:num_requests_waiting"] == 0
                     and m["vllm:kv_cache_usage_perc"] <= idle_kv, timeout=30)
    assert m["vllm:num_requests_running"] == 0, m
    assert m["vllm:num_requests_waiting"] == 0, m
    assert m["vllm:kv_cache_usage_perc"] <= idle_kv, (m["vllm:kv_cache_usage_perc"], idle_kv)
    assert time.monotonic() - t0 < 30
    assert m.get("vllm:request_success_total[abort]", 0) >= aborted_before + n
    # And the server still answers.
    r = requests.post(server.url("/v1/completions"), json={"model": DEMO_NAME, "prompt": "still there?",
                                                          "max_tokens": 2}, timeout=60)
    assert r.status_code == 200
