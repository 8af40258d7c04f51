"""`sable bench serve` against a running `sable serve` (the demo model), and
`sable bench offline`: a small load, then the JSON results' fields and their
sanity (every request succeeded, tokens counted, percentiles in order, the
server's own counters agree). No timing is asserted: benchmarks print
numbers, tests check meaning."""
from __future__ import annotations

import json
import subprocess

import pytest

from sable_server import BINARY, ROOT

N, IN, OUT = 8, 32, 16


def run_bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [BINARY, "bench", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def check_run(r: dict, n: int = N, in_len: int = IN, out_len: int = OUT) -> None:
    assert r["completed"] == n and r["failed"] == 0, r["errors"]
    assert r["errors"] == [""] * n
    assert r["total_input_tokens"] == n * in_len
    assert r["input_lens"] == [in_len] * n
    assert r["total_output_tokens"] == n * out_len  # ignore_eos: exact lengths
    assert r["output_lens"] == [out_len] * n
    assert r["duration"] > 0
    assert r["request_throughput"] == pytest.approx(n / r["duration"])
    assert r["output_throughput"] == pytest.approx(n * out_len / r["duration"])
    assert r["total_token_throughput"] == pytest.approx(n * (in_len + out_len) / r["duration"])
    for m in ("ttft", "tpot", "itl", "e2el"):
        vals = [r[f"mean_{m}_ms"], r[f"median_{m}_ms"], r[f"p90_{m}_ms"], r[f"p99_{m}_ms"]]
        assert all(v > 0 for v in vals), (m, vals)
        assert r[f"p50_{m}_ms"] == pytest.approx(r[f"median_{m}_ms"])
        assert r[f"median_{m}_ms"] <= r[f"p90_{m}_ms"] <= r[f"p99_{m}_ms"], m
        assert r[f"std_{m}_ms"] >= 0
    assert len(r["ttfts"]) == n and len(r["itls"]) == n
    s = r["sable"]
    for ttft, e2el, tpot, itl in zip(r["ttfts"], s["e2els"], s["tpots"], r["itls"]):
        assert 0 < ttft <= e2el
        # A gap per token chunk after the first (a busy server may send two
        # tokens in one chunk), adding up to the decode time.
        assert 1 <= len(itl) <= out_len - 1
        assert sum(itl) == pytest.approx(e2el - ttft, rel=1e-6, abs=1e-6)
        assert tpot == pytest.approx((e2el - ttft) / (out_len - 1))
    assert r["max_concurrent_requests"] >= 1
    assert r["max_output_tokens_per_s"] > 0


@pytest.fixture(scope="module")
def server():
    from sable_server import SableServer

    with SableServer("--max-model-len", "1024", "--served-model-name", "sable-demo") as s:
        yield s


def test_bench_serve_completions(server, tmp_path):
    out = tmp_path / "serve.json"
    before = server.metrics()
    p = run_bench("serve", "--base-url", server.url(), "--model", "sable-demo", "--input-len", str(IN),
                  "--output-len", str(OUT), "--num-prompts", str(N), "--max-concurrency", "4", "--seed", "1",
                  "--slo", "ttft=60000,tpot=60000", "--result-json", str(out), "--num-warmups", "1")
    assert "Serving Benchmark Result" in p.stdout
    assert "Median TTFT (ms):" in p.stdout and "P99 ITL (ms):" in p.stdout
    r = json.loads(out.read_text())
    check_run(r)
    assert r["backend"] == "openai" and r["model_id"] == "sable-demo"
    assert r["max_concurrency"] == 4
    # vLLM's "peak concurrent requests" counts requests alive in the same
    # whole second, so short requests in sequence count together.
    assert 1 <= r["max_concurrent_requests"] <= N
    assert r["request_goodput"] == pytest.approx(r["request_throughput"])  # generous SLOs: all good
    # The server counted what the client counted (plus one warmup of 4 tokens;
    # the server's prompt count has the BOS token the client's has not).
    after = server.metrics()
    assert after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"] == N * OUT + 4
    assert r["sable"]["total_input_tokens_server"] == N * (IN + 1)


def test_bench_serve_chat_sweep_and_plots(server, tmp_path):
    out, plots = tmp_path / "sweep.json", tmp_path / "plots"
    p = run_bench("serve", "--base-url", server.url(), "--endpoint", "/v1/chat/completions", "--input-len",
                  str(IN), "--output-len", str(OUT), "--num-prompts", "4", "--max-concurrency", "1,4",
                  "--result-json", str(out), "--plot-dir", str(plots), "--disable-tqdm")
    runs = json.loads(out.read_text())
    assert [r["max_concurrency"] for r in runs] == [1, 4]
    for r in runs:
        check_run(r, n=4)
        assert r["backend"] == "openai-chat"
        assert r["model_id"] == "sable-demo"  # asked of /v1/models
    assert "| concurrency |" in p.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pytest.skip("matplotlib not installed: plots not drawn")
    for name in ("latency_cdf.png", "sweep_throughput.png", "sweep_latency.png"):
        f = plots / name
        assert f.exists() and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_bench_serve_token_id_prompts_and_failures(server, tmp_path):
    out = tmp_path / "ids.json"
    run_bench("serve", "--base-url", server.url(), "--prompt-format", "ids", "--input-len", "20", "--output-len",
              "5", "--num-prompts", "3", "--result-json", str(out), "--request-rate", "50", "--disable-tqdm")
    r = json.loads(out.read_text())
    check_run(r, n=3, in_len=20, out_len=5)
    assert r["request_rate"] == 50
    assert r["sable"]["total_input_tokens_server"] == 3 * 20  # ids are sent as they are
    # A wrong model name: the test request fails, and the benchmark says why.
    p = subprocess.run([BINARY, "bench", "serve", "--base-url", server.url(), "--model", "nope", "--num-prompts",
                        "1", "--input-len", "8", "--output-len", "2"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "HTTP 404" in p.stderr


def test_bench_offline(tmp_path):
    out = tmp_path / "offline.json"
    p = run_bench("offline", "--input-len", str(IN), "--output-len", str(OUT), "--num-prompts", str(N),
                  "--result-json", str(out), "--bandwidth-gbs", "auto", "--disable-tqdm")
    assert "Offline Benchmark Result" in p.stdout
    r = json.loads(out.read_text())
    check_run(r)
    assert r["backend"] == "sable-engine"
    s = r["sable"]
    assert s["mode"] == "offline" and s["device"]
    # The demo model's config is known: the decode floor is estimated.
    assert s["floor_estimate"]["tpot_ms"] > 0
    assert s["floor_estimate"]["output_tok_s"] > 0
    assert "floor" in p.stdout and "(est.)" in p.stdout
    assert "Speculative Decoding" not in p.stdout and "spec_decode_num_drafts" not in r


def test_bench_offline_speculative(tmp_path):
    """With MTP drafts (the demo model gets a random MTP layer): vLLM's
    Speculative Decoding section and keys, k positions, consistent figures."""
    out = tmp_path / "spec.json"
    p = run_bench("offline", "--input-len", str(IN), "--output-len", str(OUT), "--num-prompts", "4",
                  "--result-json", str(out), "--disable-tqdm", "--speculative-config",
                  '{"method": "deepseek_mtp", "num_speculative_tokens": 3}')
    assert "---------------Speculative Decoding---------------" in p.stdout
    r = json.loads(out.read_text())
    check_run(r, n=4)
    assert r["spec_decode_num_drafts"] > 0
    assert r["spec_decode_num_drafts"] <= r["spec_decode_draft_tokens"] <= 3 * r["spec_decode_num_drafts"]
    assert 0 <= r["spec_decode_accepted_tokens"] <= r["spec_decode_draft_tokens"]
    assert r["spec_decode_acceptance_length"] == pytest.approx(
        1 + r["spec_decode_accepted_tokens"] / r["spec_decode_num_drafts"])
    assert len(r["spec_decode_per_position_acceptance_rates"]) == 3
