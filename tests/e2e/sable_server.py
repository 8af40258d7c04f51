"""Start and stop a `sable serve` subprocess for the end-to-end tests.

The server listens on a free port (--port 0; the port is read from its log
line "listening on http://HOST:PORT"), its output goes to a file (so a full
pipe can never stall it), and start() returns once GET /health answers 200.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(os.environ.get("SABLE_ROOT") or Path(__file__).resolve().parents[2])
BINARY = os.environ.get("SABLE_BINARY") or str(ROOT / "build" / "sable")
TOKENIZER_DIR = ROOT / "assets" / "tokenizers" / "deepseek-v3"
TINY_MODEL = ROOT / "tests" / "fixtures" / "tiny-dsv3"

_LISTEN_RE = re.compile(r"listening on http://([^\s:]+|\[[^\]]+\]):(\d+)")


class SableServer:
    def __init__(self, *args: str, env: dict | None = None, startup_timeout: float = 180.0):
        self.args = [str(a) for a in args]
        self.env = dict(os.environ, **(env or {}))
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._log = tempfile.NamedTemporaryFile(prefix="sable-serve-", suffix=".log", delete=False)

    # ------------------------------------------------------------------ life
    def start(self) -> "SableServer":
        cmd = [BINARY, "serve", "--host", "127.0.0.1", "--port", "0", "--disable-log-stats", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=str(ROOT))
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sable serve exited with {self.proc.returncode}:\n{self.log()}")
            m = _LISTEN_RE.search(self.log())
            if m:
                self.port = int(m.group(2))
                break
            time.sleep(0.05)
        else:
            self.stop(signal.SIGKILL)
            raise RuntimeError(f"sable serve did not start listening:\n{self.log()}")
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url("/health"), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"sable serve never became healthy:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "SableServer":
        return self.start()

    def __exit__(self, exc_type, *exc) -> None:
        rc = self.stop()
        if exc_type is None:
            self.check_clean_exit(rc)

    def check_clean_exit(self, rc: int | None) -> None:
        """A drained server exits 0, with no sanitizer report in its log."""
        log = self.log()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            assert marker not in log, f"sanitizer report in the server log:\n{log[-4000:]}"
        assert rc == 0, f"sable serve exited with {rc}:\n{log[-4000:]}"

    # --------------------------------------------------------------- helpers
    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def base_url(self) -> str:
        return self.url("/v1")

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        """vllm:* samples by name (labels dropped; request_success_total keyed by reason)."""
        text = requests.get(self.url("/metrics"), timeout=10).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            m = re.search(r'finished_reason="(\w+)"', name_labels)
            if m:
                name = f"{name}[{m.group(1)}]"
            if "_bucket" in name:
                continue
            out[name] = float(value)
        return out
