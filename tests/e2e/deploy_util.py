"""What the deployment tests share: paths, and the tools in deploy/.venv
(deploy/requirements.txt), which `make setup` creates; a missing tool fails
the test with that hint."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("SABLE_ROOT") or Path(__file__).resolve().parents[2])
VENV_BIN = ROOT / "deploy" / ".venv" / "bin"
CHART = ROOT / "deploy" / "helm" / "sable"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SETUP_HINT = ("run `make setup`, which installs deploy/requirements.txt into deploy/.venv "
              "through deploy/setup-venv.sh (or run that script by hand)")


def run(cmd: list[str], timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


def tool(name: str) -> Path:
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: {SETUP_HINT}")
    return path


def yaml_to_json(path: Path):
    out = run([tool("python"), "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
               path])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def checkov_json(out: str) -> list[dict]:
    data = json.loads(out)
    return data if isinstance(data, list) else [data]
