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
