#!/usr/bin/env bash
# Installs the deployment tools (deploy/requirements.txt: Helm's engine as a
# library, kubernetes-validate, yamllint, checkov, hadolint) into their own
# virtual environment, deploy/.venv, for tests/e2e/test_deploy.py and
# deploy/tools/*.py. A separate environment because checkov pins boto3,
# packaging and networkx to versions that would break packages of the system
# interpreter. Idempotent: does nothing while requirements.txt is unchanged.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "setup: installing deploy/requirements.txt into deploy/$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
echo "$want" > "$VENV/.requirements.sha256"
