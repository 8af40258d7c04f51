"""The sable CLI end to end against the reference fixtures: score, generate,
make-model, --load-format dummy, and clear errors for bad input."""
import json
import os
import subprocess
import tempfile

import numpy as np
import pytest
from safetensors.numpy import load_file

SABLE = os.environ.get("SABLE_BINARY", "build/sable")
ROOT = os.environ.get("SABLE_ROOT", ".")
FIX = os.path.join(ROOT, "tests", "fixtures")


def run(*args, check=True):
    p = subprocess.run([SABLE, *args], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"sable {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


@pytest.mark.parametrize("fixture", ["tiny-dsv3", "tiny-dsv3-fp8"])
def test_score_matches_reference_logits(fixture, tmp_path):
    exp = load_file(os.path.join(FIX, fixture, "expected.safetensors"))
    i = 0
    while f"prompt{i}.ids" in exp:
        ids = exp[f"prompt{i}.ids"]
        out = tmp_path / f"p{i}.safetensors"
        run("score", "--model", os.path.join(FIX, fixture), "--device", "cpu",
            "--prompt-ids", " ".join(map(str, ids)), "--out", str(out))
        got = load_file(str(out))["logits"]
        ref = exp[f"prompt{i}.logits"]
        assert got.dtype == np.float32 and got.shape == ref.shape
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err < 1e-4, f"prompt {i}: {err}"
        i += 1
    assert i >= 4


@pytest.mark.parametrize("fixture", ["tiny-dsv3", "tiny-dsv3-fp8"])
def test_generate_greedy_matches_reference(fixture, tmp_path):
    exp = load_file(os.path.join(FIX, fixture, "expected.safetensors"))
    # All prompts at once through --prompts-file, and one through --prompt-ids.
    prompts = tmp_path / "prompts.jsonl"
    n = 0
    with open(prompts, "w") as f:
        while f"prompt{n}.ids" in exp:
            f.write(json.dumps({"prompt_ids": exp[f"prompt{n}.ids"].tolist()}) + "\n")
            n += 1
    p = run("generate", "--model", os.path.join(FIX, fixture), "--device", "cpu", "--prompts-file", str(prompts),
            "--max-tokens", "24", "--temperature", "0", "--json")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    assert len(lines) == n
    single = run("generate", "--model", os.path.join(FIX, fixture), "--device", "cpu",
                 "--prompt-ids", " ".join(map(str, exp["prompt2.ids"])), "--max-tokens", "24", "--json")
    lines_single = json.loads(single.stdout.splitlines()[0])
    assert lines_single["ids"] == lines[2]["ids"]
    for i, line in enumerate(lines):
        ref = exp[f"prompt{i}.greedy"].tolist()
        margin = exp[f"prompt{i}.greedy_margin"]
        k = 0
        while k < len(margin) and margin[k] >= 0.01:
            k += 1
        assert line["ids"][:k] == ref[:k], f"prompt {i}"
        assert len(line["ids"]) == 24


def test_make_model_and_dummy_load_agree(tmp_path):
    out = tmp_path / "m"
    run("make-model", "--preset", "tiny", "--layers", "2", "--seed", "3", "--tokenizer", "deepseek-v3",
        "--out", str(out))
    cfg = json.load(open(out / "config.json"))
    assert cfg["model_type"] == "deepseek_v3" and cfg["num_hidden_layers"] == 2
    assert (out / "tokenizer.json").exists()
    # The same weights from disk and from --load-format dummy (same seed).
    a = run("generate", "--model", str(out), "--prompt-ids", "5 17 3", "--max-tokens", "6", "--json")
    b = run("generate", "--model", str(out), "--load-format", "dummy", "--seed", "3", "--prompt-ids", "5 17 3",
            "--max-tokens", "6", "--json")
    assert json.loads(a.stdout)["ids"] == json.loads(b.stdout)["ids"]
    # Text prompts work once the directory has a tokenizer.
    t = run("generate", "--model", str(out), "--prompt", "Hello", "--max-tokens", "3", "--json")
    assert len(json.loads(t.stdout)["ids"]) == 3


def test_make_model_fp8_sharded(tmp_path):
    out = tmp_path / "m8"
    run("make-model", "--preset", "tiny", "--fp8", "--shard-size-gb", "0.05", "--out", str(out))
    index = json.load(open(out / "model.safetensors.index.json"))
    shards = set(index["weight_map"].values())
    assert len(shards) > 1
    assert any(k.endswith("weight_scale_inv") for k in index["weight_map"])
    p = run("generate", "--model", str(out), "--prompt-ids", "5 17 3", "--max-tokens", "4", "--json")
    assert len(json.loads(p.stdout)["ids"]) == 4


def test_bad_inputs_give_clear_errors(tmp_path):
    p = run("score", "--model", str(tmp_path / "nope"), "--prompt-ids", "1 2", "--out", str(tmp_path / "o"),
            check=False)
    assert p.returncode != 0 and "nope" in p.stderr and "no such directory" in p.stderr
    p = run("score", "--model", os.path.join(FIX, "tiny-dsv3"), "--prompt-ids", "1 x 2",
            "--out", str(tmp_path / "o"), check=False)
    assert p.returncode != 0 and "'x'" in p.stderr
    p = run("generate", "--model", os.path.join(FIX, "tiny-dsv3"), "--prompt-ids", "1 99999",
            "--max-tokens", "2", check=False)
    assert p.returncode != 0 and "vocabulary" in p.stderr
    # A truncated shard: the error names the file.
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in os.listdir(os.path.join(FIX, "tiny-dsv3")):
        src = os.path.join(FIX, "tiny-dsv3", f)
        data = open(src, "rb").read()
        if f == "model-00002-of-00002.safetensors":
            data = data[: len(data) // 2]
        open(bad / f, "wb").write(data)
    p = run("score", "--model", str(bad), "--prompt-ids", "1 2", "--out", str(tmp_path / "o"), check=False)
    assert p.returncode != 0 and "model-00002-of-00002.safetensors" in p.stderr
    p = run("make-model", "--preset", "huge", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode != 0 and "unknown preset" in p.stderr


def _dsv3_config_dir(tmp_path, layers):
    """config.json alone at DeepSeek-V3's published dimensions (FP8 block-scaled), `layers` layers."""
    cfg = json.load(open(os.path.join(FIX, "tiny-dsv3-fp8", "config.json")))
    cfg.update(vocab_size=129280, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
               num_hidden_layers=layers, num_attention_heads=128, num_key_value_heads=128, n_routed_experts=256,
               kv_lora_rank=512, q_lora_rank=1536, qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128,
               n_group=8, topk_group=4, num_experts_per_tok=8, first_k_dense_replace=3,
               max_position_embeddings=163840)
    cfg["rope_scaling"]["original_max_position_embeddings"] = 4096
    d = tmp_path / f"dsv3-{layers}"
    d.mkdir()
    json.dump(cfg, open(d / "config.json", "w"))
    return d, cfg


def _fp8_weight_gib(c):
    """The FP8 checkpoint's weight bytes, counted here from the config (bf16 embeddings, lm_head and router;
    FP8 projections and experts; scales and norms ignored: < 0.1 %)."""
    H, V, nh = c["hidden_size"], c["vocab_size"], c["num_attention_heads"]
    attn = (H * c["q_lora_rank"] + c["q_lora_rank"] * nh * (c["qk_nope_head_dim"] + c["qk_rope_head_dim"]) +
            H * (c["kv_lora_rank"] + c["qk_rope_head_dim"]) +
            c["kv_lora_rank"] * nh * (c["qk_nope_head_dim"] + c["v_head_dim"]) + nh * c["v_head_dim"] * H)
    dense = 3 * H * c["intermediate_size"]
    moe = (c["n_routed_experts"] + c["n_shared_experts"]) * 3 * H * c["moe_intermediate_size"]
    L, k = c["num_hidden_layers"], c["first_k_dense_replace"]
    total = 2 * 2 * V * H + L * attn + min(L, k) * dense + max(0, L - k) * (moe + 2 * c["n_routed_experts"] * H)
    return total / 2**30


def test_serve_dry_run_plans_memory_from_the_config_alone(tmp_path):
    # The demo model on the CPU: the KV budget, exit 0.
    p = run("serve", "--dry-run", "--device", "cpu")
    assert "sable-demo" in p.stdout and "device         cpu" in p.stdout
    # Four DeepSeek-V3 layers (3 dense + 1 MoE) on a 141 GiB GPU: fits; no weights on disk are read.
    d, cfg = _dsv3_config_dir(tmp_path, 4)
    p = run("serve", "--model", str(d), "--dry-run", "--plan-device-memory-gib", "141")
    plan = {line.split()[0]: line for line in p.stdout.splitlines() if line.startswith("  ")}
    weights = float(plan["weights"].split()[1])
    # The stored bytes, plus at most the FP8 dense weights' second (tiled) copy for decode.
    assert _fp8_weight_gib(cfg) * 0.99 < weights < _fp8_weight_gib(cfg) * 1.15, p.stdout
    assert "budget        126.90 GiB" in p.stdout  # 0.90 of 141 GiB
    assert "max-model-len 163840 fits" in p.stdout
    kv_tokens = int(plan["KV"].split("blocks,")[1].split()[0])
    assert kv_tokens * 4608 > 90 * 2**30  # the rest of the budget, at 576 bf16 latent values per token and layer
    # All 61 layers do not fit one GPU: a non-zero exit that says by how much and what would make it fit.
    d, cfg = _dsv3_config_dir(tmp_path, 61)
    p = run("serve", "--model", str(d), "--dry-run", "--plan-device-memory-gib", "141", check=False)
    assert p.returncode != 0
    # The plan on stdout as when it fits; the verdict and the advice on stderr.
    assert "memory plan (per GPU)" in p.stdout and "max-model-len 163840 does NOT fit" in p.stdout, p.stdout
    assert "memory plan" not in p.stderr, p.stderr
    assert "does not fit" in p.stderr and "GiB missing" in p.stderr and "--tensor-parallel-size 8" in p.stderr
    assert _fp8_weight_gib(cfg) > 600


def _mem_available_gb():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e9
    return None


def test_dummy_weights_the_host_cannot_hold_are_refused_before_loading(tmp_path):
    # DeepSeek-V3's 61 layers of dummy FP8 weights on the CPU backend are ~690 GB held in memory: without the
    # check the generator runs until the kernel's OOM killer ends the process, with no message.
    avail = _mem_available_gb()
    if avail is None or avail > 600:
        pytest.skip("this machine could hold the weights")
    d, _ = _dsv3_config_dir(tmp_path, 61)
    p = subprocess.run([SABLE, "serve", "--model", str(d), "--load-format", "dummy", "--device", "cpu"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    for part in ("not enough host memory", "GB of weights", "is available (", "dummy weights on the CPU backend",
                 "a checkpoint directory instead of --load-format dummy", "SABLE_HOST_MEMORY_CHECK=0"):
        assert part in p.stderr, p.stderr
    assert "loaded " not in p.stderr  # refused before any weight was made
    # --dry-run shows the host's side too, and exits non-zero for the same plan.
    p = run("serve", "--model", str(d), "--load-format", "dummy", "--device", "cpu", "--dry-run", check=False)
    assert p.returncode != 0 and "host memory:" in p.stdout and "not enough host memory" in p.stderr, p.stdout
    # A checkpoint directory is mmapped, not held (but for a few copies: kv_b_proj's split forms, 0.54 GB at four
    # layers): its dry run on the CPU passes the host check.
    d, _ = _dsv3_config_dir(tmp_path, 4)
    p = run("serve", "--model", str(d), "--device", "cpu", "--dry-run")
    line = next(x for x in p.stdout.splitlines() if "host memory:" in x)
    assert 0.5 < float(line.split("(")[1].split()[0]) < 1.0, line


def test_a_container_memory_limit_is_read_from_the_cgroup(tmp_path):
    # In a memory cgroup of 2 GiB (a container's limit; cgroup v1 here, where root may make one), dummy small-moe
    # weights (3.57 GB) are refused with the limit named, where without the check the kernel kills the process.
    base = "/sys/fs/cgroup/memory"
    cg = os.path.join(base, f"sable-test-{os.getpid()}")
    try:
        os.mkdir(cg)
    except OSError:
        pytest.skip("no cgroup v1 memory hierarchy this process may write")
    try:
        with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
            f.write(str(2 << 30))
        d = tmp_path / "small-moe"
        run("bench", "model-dir", "--preset", "small-moe", "--out", str(d))
        p = subprocess.run(["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$0" "$@"', SABLE, "serve",
                            "--model", str(d), "--load-format", "dummy", "--device", "cpu"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "not enough host memory" in p.stderr and "the container's memory limit of 2.15 GB" in p.stderr, p.stderr
    finally:
        os.rmdir(cg)


def test_serve_dry_run_plans_graphs_by_the_split_rule_the_knob_sets(tmp_path):
    # Without a GPU the plan still follows the CUDA build's knob mla-graph-splits: at 0 the graphs keep the
    # longest context's MLA split count, whose partials (33 splits at 64 sequences) the plan must hold.
    d, _ = _dsv3_config_dir(tmp_path, 4)

    def graph_gib(rule):
        env = dict(os.environ, SABLE_MLA_GRAPH_SPLITS=rule)
        p = subprocess.run([SABLE, "serve", "--model", str(d), "--dry-run", "--plan-device-memory-gib", "141",
                            "--max-model-len", "110000"], capture_output=True, text=True, timeout=600, env=env)
        assert p.returncode == 0, p.stderr
        line = next(x for x in p.stdout.splitlines() if x.strip().startswith("CUDA graphs"))
        return float(line.split()[2])

    cache = os.path.join(os.path.dirname(SABLE), "CMakeCache.txt")
    cuda_build = os.path.exists(cache) and "SABLE_CUDA:BOOL=ON" in open(cache).read()
    by_graph, by_eager = graph_gib("1"), graph_gib("0")
    if cuda_build:
        assert by_eager > by_graph + 1.0, (by_graph, by_eager)  # 2.24 vs 0.57 GiB at 256 sequences
    else:
        assert by_eager == by_graph  # no CUDA, no knob: the graph rule


def test_serve_dry_run_on_cuda_without_a_gpu_says_what_to_pass(tmp_path):
    if subprocess.run(["sh", "-c", "command -v nvidia-smi && nvidia-smi -L"], capture_output=True).returncode == 0:
        pytest.skip("a GPU is present: the plan uses it")
    d, _ = _dsv3_config_dir(tmp_path, 4)
    p = run("serve", "--model", str(d), "--dry-run", "--device", "cuda", check=False)
    assert p.returncode != 0
    assert "no CUDA device" in p.stderr and "--plan-device-memory-gib" in p.stderr


def test_tensor_parallel_on_cpu_matches_reference_and_refuses_splits_that_cannot_work(tmp_path):
    # score at 2 ranks, generate (the engine) at 4: the reference's logits and greedy tokens.
    fix = os.path.join(FIX, "tiny-dsv3")
    exp = load_file(os.path.join(fix, "expected.safetensors"))
    out = tmp_path / "p3.safetensors"
    run("score", "--model", fix, "--device", "cpu", "--tensor-parallel-size", "2",
        "--prompt-ids", " ".join(map(str, exp["prompt3.ids"])), "--out", str(out))
    got, ref = load_file(str(out))["logits"], exp["prompt3.logits"]
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4
    p = run("generate", "--model", fix, "--device", "cpu", "--tensor-parallel-size", "4",
            "--prompt-ids", " ".join(map(str, exp["prompt2.ids"])), "--max-tokens", "24", "--json")
    ids = json.loads(p.stdout.splitlines()[0])["ids"]
    margin = exp["prompt2.greedy_margin"]
    k = 0
    while k < len(margin) and margin[k] >= 0.01:
        k += 1
    assert ids[:k] == exp["prompt2.greedy"].tolist()[:k]
    # The same with the routed experts placed whole on the 4 ranks (4 each).
    p = run("generate", "--model", fix, "--device", "cpu", "--tensor-parallel-size", "4", "--enable-expert-parallel",
            "--prompt-ids", " ".join(map(str, exp["prompt2.ids"])), "--max-tokens", "24", "--json")
    assert json.loads(p.stdout.splitlines()[0])["ids"][:k] == exp["prompt2.greedy"].tolist()[:k]
    assert "routed experts placed whole" in p.stderr, p.stderr
    # A size that does not divide the heads, and an FP8 checkpoint whose parts would start inside a scale block.
    p = run("score", "--model", fix, "--device", "cpu", "--tensor-parallel-size", "3", "--prompt-ids", "1 2",
            "--out", str(out), check=False)
    assert p.returncode != 0 and "does not divide num_attention_heads (4)" in p.stderr and "1, 2, 4" in p.stderr
    p = run("serve", "--model", os.path.join(FIX, "tiny-dsv3-fp8"), "--device", "cpu", "-tp", "2", check=False)
    assert p.returncode != 0 and "128-wide scale blocks" in p.stderr, p.stderr
    # The full model planned over 8 GPUs: a rank's weights fit, and the plan says the GPU path is opt-in.
    d, _ = _dsv3_config_dir(tmp_path, 61)
    p = run("serve", "--model", str(d), "--dry-run", "--plan-device-memory-gib", "141", "-tp", "8")
    assert "memory plan (per GPU, 8 tensor-parallel ranks)" in p.stdout and "max-model-len 163840 fits" in p.stdout
    assert "SABLE_CUDA_TENSOR_PARALLEL=1" in p.stdout, p.stdout
    p = run("serve", "--model", str(d), "--dry-run", "--plan-device-memory-gib", "141", "-tp", "8",
            "--enable-expert-parallel")
    assert "32 routed experts whole on each of 8 ranks" in p.stdout, p.stdout


def test_speculative_decoding_generates_the_same_tokens(tmp_path):
    # n-gram drafts on the reference checkpoint: the reference's greedy tokens, with drafts accepted.
    fix = os.path.join(FIX, "tiny-dsv3")
    exp = load_file(os.path.join(fix, "expected.safetensors"))
    ids = " ".join(map(str, exp["prompt2.ids"]))
    plain = run("generate", "--model", fix, "--device", "cpu", "--prompt-ids", ids, "--max-tokens", "24", "--json")
    p = run("generate", "--model", fix, "--device", "cpu", "--prompt-ids", ids, "--max-tokens", "24", "--json",
            "--speculative-config", '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 1}')
    assert json.loads(p.stdout)["ids"] == json.loads(plain.stdout)["ids"]
    assert "SpecDecoding metrics: Draft acceptance rate" in p.stderr, p.stderr
    # The MTP layer of a checkpoint that has one (make-model --mtp): the same tokens as without drafts.
    out = tmp_path / "mtp"
    run("make-model", "--preset", "tiny", "--mtp", "--seed", "4", "--out", str(out))
    plain = run("generate", "--model", str(out), "--prompt-ids", "5 17 3 5 17", "--max-tokens", "16", "--json")
    for k in ("1", "3"):
        p = run("generate", "--model", str(out), "--prompt-ids", "5 17 3 5 17", "--max-tokens", "16", "--json",
                "--speculative-config", '{"method": "deepseek_mtp", "num_speculative_tokens": ' + k + "}")
        assert json.loads(p.stdout)["ids"] == json.loads(plain.stdout)["ids"]
        assert "SpecDecoding metrics" in p.stderr, p.stderr
    # A checkpoint without an MTP layer, and a method Sable does not run: clear errors.
    p = run("generate", "--model", fix, "--device", "cpu", "--prompt-ids", ids, "--max-tokens", "4",
            "--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}', check=False)
    assert p.returncode != 0 and "num_nextn_predict_layers is 0" in p.stderr, p.stderr
    p = run("generate", "--model", fix, "--prompt-ids", ids, "--speculative-config",
            '{"method": "eagle", "num_speculative_tokens": 1}', check=False)
    assert p.returncode != 0 and "ngram" in p.stderr, p.stderr
    p = run("serve", "--model", fix, "--speculative-config", "{not json", check=False)
    assert p.returncode == 2 and "--speculative-config" in p.stderr, p.stderr
    # The dry run counts the MTP layer.
    p = run("serve", "--model", str(out), "--dry-run", "--plan-device-memory-gib", "80",
            "--speculative-config", '{"method": "mtp", "num_speculative_tokens": 2}')
    assert "speculative decoding: mtp, 2 draft token(s) a step" in p.stdout, p.stdout
