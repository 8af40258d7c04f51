#!/usr/bin/env python3
"""Hugging Face `tokenizers` side of bench/tokenizer.cpp: encodes the same
corpus (documents separated by \\x00) single-threaded and prints one JSON line:
{"seconds": best, "bytes": n, "tokens": n, "hash": h}. The hash of all ids
lets the C++ side check that both produced identical tokens."""
import os
os.environ["RAYON_NUM_THREADS"] = "1"        # single thread, like the Sable side
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import argparse
import json
import time

from tokenizers import Tokenizer


def ids_hash(all_ids):
    h = 1469598103934665603
    for ids in all_ids:
        for i in ids:
            h = ((h ^ i) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    tok = Tokenizer.from_file(os.path.join(a.tokenizer, "tokenizer.json"))
    raw = open(a.corpus, "rb").read()
    docs = raw.decode("utf-8").split("\x00")
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # fastest API: no offsets
    encode(docs[:8], add_special_tokens=False)  # warm-up
    best = None
    for _ in range(a.reps):
        t0 = time.perf_counter()
        out = encode(docs, add_special_tokens=False)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    ids = [e.ids for e in out]
    print(json.dumps({"seconds": best, "bytes": len(raw) - (len(docs) - 1), "tokens": sum(map(len, ids)),
                      "hash": ids_hash(ids), "api": encode.__name__}))


if __name__ == "__main__":
    main()
