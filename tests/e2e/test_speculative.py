"""Speculative decoding through `sable serve` (the demo model with an MTP
layer of random weights): the same tokens as the plain server, streamed and
whole, and vLLM's spec-decode counters on /metrics."""
from __future__ import annotations

import json
import subprocess

import pytest
import requests

from conftest import DEMO_NAME
from sable_server import BINARY, ROOT, SableServer

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


def spec_counters(server):
    totals, per_pos = {}, {}
    for line in requests.get(server.url("/metrics"), timeout=30).text.splitlines():
        if not line.startswith("vllm:spec_decode_num_"):
            continue
        name, value = line.split("{")[0].split(" ")[0], float(line.rsplit(" ", 1)[1])
        if "position=" in line:
            per_pos[int(line.split('position="')[1].split('"')[0])] = value
        else:
            totals[name] = totals.get(name, 0) + value
    return totals, per_pos


def test_bench_serve_reports_acceptance(servers, tmp_path):
    """`sable bench serve` prints vLLM's Speculative Decoding section and
    keys, the server's counters over the run (its warmup excluded)."""
    plain, spec = servers
    out = tmp_path / "spec.json"
    cmd = [BINARY, "bench", "serve", "--base-url", spec.url(), "--model", DEMO_NAME, "--input-len", "24",
           "--output-len", "12", "--num-prompts", "4", "--max-concurrency", "2", "--num-warmups", "1",
           "--result-json", str(out)]
    before = spec_counters(spec)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout + p.stderr
    after = spec_counters(spec)
    for label in ("Speculative Decoding", "Acceptance rate (%):", "Acceptance length:", "Drafts:", "Draft tokens:",
                  "Accepted tokens:", "Per-position acceptance (%):", "  Position 1:"):
        assert label in p.stdout, (label, p.stdout)
    r = json.loads(out.read_text())
    drafts = after[0]["vllm:spec_decode_num_drafts_total"] - before[0]["vllm:spec_decode_num_drafts_total"]
    drafted = after[0]["vllm:spec_decode_num_draft_tokens_total"] - before[0][
        "vllm:spec_decode_num_draft_tokens_total"]
    accepted = after[0]["vllm:spec_decode_num_accepted_tokens_total"] - before[0][
        "vllm:spec_decode_num_accepted_tokens_total"]
    # The warmup ran between `before` and the bench's own first read: at most its drafts are not in the report.
    assert 0 < r["spec_decode_num_drafts"] <= drafts
    assert r["spec_decode_draft_tokens"] <= drafted
    assert r["spec_decode_accepted_tokens"] <= accepted
    assert r["spec_decode_acceptance_rate"] == pytest.approx(
        100.0 * r["spec_decode_accepted_tokens"] / r["spec_decode_draft_tokens"])
    assert r["spec_decode_acceptance_length"] == pytest.approx(
        1 + r["spec_decode_accepted_tokens"] / r["spec_decode_num_drafts"])
    assert len(r["spec_decode_per_position_acceptance_rates"]) == 2  # k = 2
    # A server without speculative decoding: no such section.
    p = subprocess.run([BINARY, "bench", "serve", "--base-url", plain.url(), "--model", DEMO_NAME, "--input-len",
                        "16", "--output-len", "4", "--num-prompts", "2", "--num-warmups", "0"],
                       capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Speculative Decoding" not in p.stdout
