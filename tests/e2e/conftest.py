"""Shared fixtures for the server's end-to-end tests: `sable serve` with the
demo model (the real DeepSeek-V3 tokenizer and chat template, random
weights) and with the tiny fixture checkpoint."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sable_server import BINARY, TINY_MODEL, TOKENIZER_DIR, SableServer  # noqa: E402

API_KEY = "test-key-123"
DEMO_NAME = "sable-demo"


def _require_binary():
    if not os.path.exists(BINARY):
        pytest.fail(f"no sable binary at {BINARY} (set SABLE_BINARY or build it)")


@pytest.fixture(scope="module")
def demo_server():
    """The demo model, no key; a short context so 'too long' is cheap to send."""
    _require_binary()
    with SableServer("--max-model-len", "2048", "--served-model-name", DEMO_NAME, "demo-alias") as s:
        yield s


@pytest.fixture(scope="module")
def tiny_server():
    """The tiny fixture checkpoint (vocabulary 1024) with the DeepSeek-V3 tokenizer."""
    _require_binary()
    with SableServer("--model", TINY_MODEL, "--tokenizer", TOKENIZER_DIR, "--served-model-name", "tiny") as s:
        yield s


@pytest.fixture(scope="module")
def auth_server():
    _require_binary()
    with SableServer("--api-key", API_KEY, "--served-model-name", DEMO_NAME, "--max-model-len", "2048") as s:
        yield s
