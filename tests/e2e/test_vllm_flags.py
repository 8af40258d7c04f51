"""A `vllm serve` command line moves to `sable serve` as it is: vLLM's
flags that only tune vLLM are accepted with a warning naming each, flags
that would change what clients get are refused with what to do, underscored
spellings work, and vLLM's serving flags --scheduling-policy,
--response-role, --return-tokens-as-token-ids, --enable-force-include-usage
and --enable-server-load-tracking act as in vLLM."""
from __future__ import annotations

import subprocess

import pytest
import requests

from conftest import DEMO_NAME
from sable_server import BINARY, SableServer


def dry_run(*flags):
    return subprocess.run([BINARY, "serve", "--dry-run", "--device", "cpu", *flags], capture_output=True, text=True,
                          timeout=120)


def test_tuning_flags_are_accepted_with_a_warning_each():
    p = dry_run("--swap-space", "16", "--disable-custom-all-reduce", "-O3", "--cuda-graph-sizes", "1", "2", "4",
                "--max_num_seqs", "64", "--max-seq-len-to-capture=8192", "--no-enable-prompt-tokens-details",
                "--guided-decoding-backend", "xgrammar", "--allowed-origins", '["*"]')
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert "Sable serve plan" in out
    for flag in ("--swap-space", "--disable-custom-all-reduce", "--compilation-config", "--cuda-graph-sizes",
                 "--max-seq-len-to-capture", "--enable-prompt-tokens-details", "--guided-decoding-backend"):
        assert f"{flag} (a vLLM flag) has no effect in Sable" in out, (flag, out)
    assert "allowed-origins" not in out  # vLLM's default value changes nothing


@pytest.mark.parametrize("flags,says", [
    (["--ssl-keyfile", "k.pem", "--ssl-certfile", "c.pem"], "terminate TLS in front of it"),
    (["--enable-lora", "--lora-modules", "a=/x"], "LoRA adapters are not supported"),
    (["--cpu-offload-gb", "100"], "--quantization fp8"),
    (["--override-generation-config", '{"temperature": 0.5}'], "--generation-config FOLDER"),
    (["--root-path", "/api"], "strips the path prefix"),
    (["--allowed-origins", '["https://a.example"]'], "restrict them at the ingress"),
    (["--speculative-model", "[ngram]"], "--speculative-config"),
])
def test_flags_that_would_change_the_service_are_refused(flags, says):
    p = dry_run(*flags)
    assert p.returncode == 2
    assert f"{flags[0]} (a vLLM flag) is not supported" in p.stderr, p.stderr
    assert says in p.stderr, p.stderr


def test_scheduling_policy_must_be_vllms():
    p = dry_run("--scheduling-policy", "lifo")
    assert p.returncode == 2 and "fcfs" in p.stderr and "priority" in p.stderr


@pytest.fixture(scope="module")
def server():
    with SableServer("--served-model-name", DEMO_NAME, "--max-model-len", "512", "--scheduling-policy", "priority",
                     "--response-role", "bot", "--return-tokens-as-token-ids", "--enable-force-include-usage",
                     "--enable-server-load-tracking") as s:
        yield s


def test_priority_scheduling_takes_priorities(server):
    r = requests.post(server.url("/v1/completions"),
                      json={"model": DEMO_NAME, "prompt": "hi", "max_tokens": 2, "priority": -5}, timeout=120)
    assert r.status_code == 200, r.text


def test_response_role_and_token_ids(server):
    body = {"model": DEMO_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "logprobs": True}
    r = requests.post(server.url("/v1/chat/completions"), json=body, timeout=120)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["message"]["role"] == "bot"
    assert all(t["token"].startswith("token_id:") for t in choice["logprobs"]["content"])
    # Streamed: the first delta's role too.
    r = requests.post(server.url("/v1/chat/completions"), json={**body, "stream": True}, timeout=120, stream=True)
    first = next(line for line in r.iter_lines() if line.startswith(b"data: {"))
    assert b'"role":"bot"' in first.replace(b" ", b"")
    # A request's own return_tokens_as_token_ids wins; without a generation
    # prompt the role is the continued message's (vLLM's rule).
    r = requests.post(server.url("/v1/chat/completions"),
                      json={**body, "return_tokens_as_token_ids": False, "add_generation_prompt": False}, timeout=120)
    choice = r.json()["choices"][0]
    assert choice["message"]["role"] == "user"
    assert not any(t["token"].startswith("token_id:") for t in choice["logprobs"]["content"])


def test_force_include_usage_and_load(server):
    # A stream that did not ask for usage ends with vLLM's usage chunk.
    r = requests.post(server.url("/v1/completions"),
                      json={"model": DEMO_NAME, "prompt": "hi", "max_tokens": 3, "stream": True}, timeout=120,
                      stream=True)
    payloads = [line[6:] for line in r.iter_lines() if line.startswith(b"data: {")]
    assert b'"usage":null' in payloads[0].replace(b" ", b"")
    last = payloads[-1].replace(b" ", b"")
    assert b'"choices":[]' in last and b'"completion_tokens":3' in last, last
    # GET /load, open like /health; nothing in flight now.
    r = requests.get(server.url("/load"), timeout=30)
    assert r.status_code == 200 and r.json() == {"server_load": 0}, r.text
