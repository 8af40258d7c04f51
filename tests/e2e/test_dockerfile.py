"""The image (docker/Dockerfile), with no Docker engine here: hadolint and
checkov on the Dockerfile, checks that what it copies exists and reaches the
build context (.dockerignore), that the CMake build finds what it needs, and
that it follows the vllm/vllm-openai image's conventions (entrypoint, port,
user, Hugging Face cache, health check)."""
from __future__ import annotations

import json
import re
import shlex

from deploy_util import CHART, DOCKERFILE, ROOT, checkov_json, run, tool, yaml_to_json


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def copy_sources(args: str) -> tuple[list[str], list[str]]:
    """(flags, sources) of a COPY/ADD; the last operand is the destination."""
    if args.lstrip().startswith("["):
        return [], json.loads(args)[:-1]
    words = shlex.split(args)
    flags = [w for w in words if w.startswith("--")]
    return flags, [w for w in words if not w.startswith("--")][:-1]


def test_hadolint():
    r = run([tool("hadolint"), "--failure-threshold", "style", "--no-color", DOCKERFILE])
    assert r.returncode == 0, f"hadolint:\n{r.stdout}{r.stderr}"


def test_checkov_on_dockerfile():
    r = run([tool("checkov"), "-f", DOCKERFILE, "--framework", "dockerfile", "--skip-download",
             "--compact", "--quiet", "-o", "json"])
    (rep,) = checkov_json(r.stdout)
    assert rep["summary"]["failed"] == 0 and rep["summary"]["skipped"] == 0, json.dumps(rep["results"]["failed_checks"])
    assert rep["summary"]["passed"] > 50


def dockerignore_allows(path: str) -> bool:
    """Whether .dockerignore lets `path` (relative to the context) into the build context:
    the last matching pattern decides; a pattern also matches everything under a match."""
    def regex(p: str) -> re.Pattern:
        out, i = "", 0
        while i < len(p):
            if p.startswith("**", i):
                out += ".*"
                i += 2
            elif p[i] == "*":
                out += "[^/]*"
                i += 1
            elif p[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(p[i])
                i += 1
        return re.compile(out + "$")

    allowed = True
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = regex(line.lstrip("!").strip("/"))
        if any(pattern.match(p) for p in prefixes):
            allowed = negate
    return allowed


def test_dockerfile_copies_only_what_exists_and_reaches_the_context():
    copies = [copy_sources(a) for i, a in dockerfile_instructions() if i in ("COPY", "ADD")]
    local = [src for flags, srcs in copies if not any(f.startswith("--from") for f in flags) for src in srcs]
    assert local, "no COPY from the build context"
    for src in local:
        path = ROOT / src
        assert path.exists(), f"docker/Dockerfile copies {src}, which the repository lacks"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        assert files, f"{src} is empty"
        for f in files:
            rel = f.relative_to(ROOT).as_posix()
            if "__pycache__" not in rel:
                assert dockerignore_allows(rel), f".dockerignore keeps {rel} (copied by the Dockerfile) out"
    for heavy in ("build/sable", "deploy/.venv/bin/python", ".git/HEAD", "tests/fixtures/README.md"):
        assert not dockerignore_allows(heavy), f".dockerignore lets {heavy} into the build context"


def test_dockerfile_has_what_the_cmake_build_needs():
    """Every add_subdirectory of CMakeLists.txt is copied, or the Dockerfile turns its option off."""
    instr = dockerfile_instructions()
    copied = {s.strip("/").split("/")[0] for i, a in instr if i == "COPY" for s in copy_sources(a)[1]}
    run_text = " ".join(a for i, a in instr if i == "RUN")
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for m in re.finditer(r"add_subdirectory\((\w+)\)", cmake):
        subdir = m.group(1)
        if subdir in copied:
            continue
        guard = re.findall(r"if\((\w+)\)[^()]*?$", cmake[:m.start()], re.M)
        option = guard[-1] if guard else None
        default_off = option and re.search(rf"option\({option} \"[^\"]*\" OFF\)", cmake)
        assert option and (f"-D{option}=OFF" in run_text or default_off), \
            f"CMakeLists.txt adds {subdir}/, which the Dockerfile neither copies nor turns off"


def test_dockerfile_follows_the_vllm_image_conventions():
    instr = dockerfile_instructions()
    froms = [a for i, a in instr if i == "FROM"]
    assert len(froms) == 2, "multi-stage: build, then runtime"
    assert re.fullmatch(r"nvidia/cuda:\$\{CUDA_VERSION\}-devel-ubuntu\$\{UBUNTU_VERSION\} AS build", froms[0])
    assert re.fullmatch(r"nvidia/cuda:\$\{CUDA_VERSION\}-runtime-ubuntu\$\{UBUNTU_VERSION\} AS runtime", froms[1])
    args = dict(a.split("=", 1) for i, a in instr if i == "ARG" and "=" in a)
    assert args["CUDA_VERSION"].startswith("13.0.") and args["UBUNTU_VERSION"] == "24.04"
    final = instr[[n for n, (i, _) in enumerate(instr) if i == "FROM"][-1]:]
    get = lambda name: [a for i, a in final if i == name]  # noqa: E731
    assert json.loads(get("ENTRYPOINT")[-1]) == ["sable", "serve"]
    assert get("EXPOSE") == ["8000"]
    user = get("USER")[-1]
    uid = int(user.split(":")[0])
    assert uid >= 10000
    values = yaml_to_json(CHART / "values.yaml")
    assert values["podSecurityContext"]["runAsUser"] == uid, "the chart's runAsUser must be the image's user"
    assert values["containerPort"] == 8000
    env = " ".join(get("ENV"))
    assert "HF_HOME=/home/sable/.cache/huggingface" in env
    (hc,) = get("HEALTHCHECK")
    assert "/health" in hc and "curl" in hc and "--start-period=" in hc
