"""Speculative decoding through `sable serve` (the demo model with an MTP
layer of random weights): the same tokens as the plain server, streamed and
whole, and vLLM's spec-decode counters on /metrics."""
from __future__ import annotations

import json

import pytest
import requests

from conftest import DEMO_NAME
from sable_server import SableServer

SPEC = '{"method": "deepseek_mtp", "num_speculative_tokens": 2}'


@pytest.fixture(scope="module")
def servers():
    with SableServer("--served-model-name", DEMO_NAME, "--max-model-len", "2048") as plain, \
            SableServer("--served-model-name", DEMO_NAME, "--max-model-len", "2048", "--speculative-config",
                        SPEC) as spec:
        yield plain, spec


def complete(server, prompt, stream=False, **extra):
    body = {"model": DEMO_NAME, "prompt": prompt, "max_tokens": 24, "temperature": 0, "stream": stream,
            "ignore_eos": True, **extra}
    r = requests.post(server.url("/v1/completions"), json=body, timeout=300, stream=stream)
    assert r.status_code == 200, r.text
    if not stream:
        return r.json()["choices"][0]["text"]
    text, done = "", False
    for line in r.iter_lines():
        if not line:
            continue
        data = line[len(b"data: "):]
        if data == b"[DONE]":
            done = True
            continue
        text += json.loads(data)["choices"][0]["text"]
    assert done
    return text


def test_same_tokens_as_without_drafts(servers):
    plain, spec = servers
    for prompt in ([5, 17, 3, 5, 17, 3, 5], [100 + i for i in range(40)], "Hello, Sable!"):
        want = complete(plain, prompt)
        assert complete(spec, prompt) == want, prompt
        assert complete(spec, prompt, stream=True) == want, prompt
    # n = 2 choices fork after the prompt, each verifying its own drafts.
    body = {"model": DEMO_NAME, "prompt": [7, 8, 9], "max_tokens": 12, "temperature": 0, "n": 2, "ignore_eos": True}
    a = requests.post(plain.url("/v1/completions"), json=body, timeout=300).json()
    b = requests.post(spec.url("/v1/completions"), json=body, timeout=300).json()
    assert [c["text"] for c in b["choices"]] == [c["text"] for c in a["choices"]]


def test_metrics_count_drafts(servers):
    _, spec = servers
    complete(spec, [1, 2, 3, 4])
    text = requests.get(spec.url("/metrics"), timeout=30).text
    values = {}
    for line in text.splitlines():
        if line.startswith("vllm:spec_decode_num_") and not line.startswith("#"):
            name = line.split("{")[0]
            values[name] = values.get(name, 0) + float(line.rsplit(" ", 1)[1])
    assert values["vllm:spec_decode_num_drafts_total"] > 0
    assert values["vllm:spec_decode_num_draft_tokens_total"] >= values["vllm:spec_decode_num_drafts_total"]
    assert values["vllm:spec_decode_num_accepted_tokens_total"] == values[
        "vllm:spec_decode_num_accepted_tokens_per_pos_total"]
