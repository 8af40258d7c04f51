"""Deployment: the Helm chart (deploy/helm/sable); the image is test_dockerfile.py.

No cluster, no Docker engine and no helm binary here, so:
- the chart is rendered by Helm v4's own engine (helm-python-sdk, through
  deploy/tools/render.py) for the default values, the DeepSeek-V3 examples and
  the values files in tests/data/deploy, and linted with `helm lint --strict`;
- every rendered object is validated strictly against the Kubernetes schemas
  (kubernetes-validate, Kubernetes 1.29 and the newest) and the LeaderWorkerSet
  and ServiceMonitor CRD schemas, plus the API server's own checks and the
  references between objects (deploy/tools/validate.py);
- yamllint on values and manifests, checkov on manifests (every skipped
  check carries its reason in the chart);
- what the chart promises is asserted on the rendered objects: flags, probes,
  GPUs, multi-node wiring, autoscaling, security context.

The tools live in deploy/.venv (deploy/requirements.txt), which `make setup`
creates; a missing tool fails the test with that hint.
"""
from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest

from deploy_util import CHART, ROOT, SETUP_HINT, checkov_json, run, tool, yaml_to_json

EXAMPLES = CHART / "examples"
DATA = ROOT / "tests" / "data" / "deploy"
TOOLS = ROOT / "deploy" / "tools"
YAMLLINT_CONFIG = ROOT / "deploy" / ".yamllint.yaml"
NAMESPACE = "llm"

# Release name, values files, objects the release uses without rendering them.
DSV3_EXTERNAL = ["Secret/sable-api-key", "PersistentVolumeClaim/deepseek-v3-weights"]
CASES = {
    "default": ("sable", [], []),
    "dsv3-8xgpu-fp8": ("dsv3", [EXAMPLES / "deepseek-v3-8xgpu-fp8.yaml"], DSV3_EXTERNAL),
    "dsv3-8xgpu-fp8-autoscaling": ("dsv3", [EXAMPLES / "deepseek-v3-8xgpu-fp8.yaml",
                                            EXAMPLES / "autoscaling-queue-depth.yaml"], DSV3_EXTERNAL),
    "dsv3-2node-lws": ("dsv3", [EXAMPLES / "deepseek-v3-2node-lws.yaml"], DSV3_EXTERNAL),
    "dsv3-2node-lws-autoscaling": ("dsv3", [EXAMPLES / "deepseek-v3-2node-lws.yaml",
                                            EXAMPLES / "autoscaling-queue-depth.yaml"], DSV3_EXTERNAL),
    "all-features": ("sable", [DATA / "all-features.yaml"], ["PersistentVolumeClaim/hf-cache"]),
    "cpu-hostpath": ("sable", [DATA / "cpu-hostpath.yaml"], []),
}

# `sable serve` flags (vllm serve's, plus Sable's multi-node ones); the chart
# must emit no other.
SERVE_FLAGS = {
    "--model", "--host", "--port", "--tensor-parallel-size", "--dtype", "--quantization",
    "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--max-num-batched-tokens",
    "--block-size", "--enforce-eager", "--enable-expert-parallel", "--speculative-config", "--scheduling-policy", "--served-model-name", "--api-key", "--trust-remote-code",
    "--device", "--kv-cache-dtype", "--shutdown-timeout", "--max-waiting-requests",
    "--nnodes", "--node-rank", "--master-addr", "--master-port",
    "--enable-auto-tool-choice", "--tool-call-parser", "--reasoning-parser", "--trust-request-chat-template",
}
# checkov checks the chart skips; the reasons are in templates/_helpers.tpl.
CHECKOV_SKIPS = {"CKV_K8S_35", "CKV_K8S_11", "CKV_K8S_43", "CKV_K8S_15"}
# ... and on the worker pods of a LeaderWorkerSet only (no HTTP there).
CHECKOV_WORKER_SKIPS = {"CKV_K8S_8", "CKV_K8S_9"}


def render_cmd(release: str, values: list[Path], *extra: str) -> list:
    cmd = [tool("python"), TOOLS / "render.py", "template", CHART, "--name", release, "--namespace", NAMESPACE]
    for v in values:
        cmd += ["-f", v]
    return cmd + list(extra)


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, dict]:
    """Each case rendered once: the YAML stream (as helm template prints it) and its objects."""
    out_dir = tmp_path_factory.mktemp("rendered")
    result = {}
    for case, (release, values, external) in CASES.items():
        yaml_path = out_dir / f"{case}.yaml"
        r = run(render_cmd(release, values, "-o", yaml_path))
        assert r.returncode == 0, f"{case}: helm template failed:\n{r.stderr}"
        r = run(render_cmd(release, values, "--json"))
        assert r.returncode == 0, f"{case}: helm template failed:\n{r.stderr}"
        result[case] = {"yaml": yaml_path, "objs": json.loads(r.stdout), "external": external,
                        "release": release}
    return result


def objs_of(renders, case: str, kind: str) -> list[dict]:
    return [o for o in renders[case]["objs"] if o["kind"] == kind]


def one(renders, case: str, kind: str) -> dict:
    found = objs_of(renders, case, kind)
    assert len(found) == 1, f"{case}: expected one {kind}, rendered {len(found)}"
    return found[0]


def pod_templates(obj: dict) -> dict[str, dict]:
    if obj["kind"] == "LeaderWorkerSet":
        lwt = obj["spec"]["leaderWorkerTemplate"]
        return {"leader": lwt["leaderTemplate"], "worker": lwt["workerTemplate"]}
    return {"server": obj["spec"]["template"]}


def workload(renders, case: str) -> dict:
    found = [o for o in renders[case]["objs"] if o["kind"] in ("Deployment", "LeaderWorkerSet")]
    assert len(found) == 1, f"{case}: expected one workload, got {[o['kind'] for o in found]}"
    return found[0]


def server_container(tpl: dict) -> dict:
    (c,) = [c for c in tpl["spec"]["containers"] if c["name"] == "sable"]
    return c


def flag_values(args: list[str]) -> dict[str, str | bool]:
    """`--flag value` pairs (and bare `--flag`s as True) of a sable serve command line."""
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        assert args[i].startswith("--"), f"stray argument {args[i]!r} in {args}"
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]] = args[i + 1]
            i += 2
        else:
            out[args[i]] = True
            i += 1
    return out


# ------------------------------------------------------------------ tools ---

def test_tools_installed_at_pinned_versions():
    pins = {}
    for line in (ROOT / "deploy" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"deploy/requirements.txt: {line!r} is not pinned with =="
            pins[name] = version
    for t in ("python", "checkov", "hadolint", "yamllint", "kubernetes-validate"):
        tool(t)
    code = ("import json,sys; from importlib.metadata import version, PackageNotFoundError\n"
            "def v(n):\n  try: return version(n)\n  except PackageNotFoundError: return None\n"
            "print(json.dumps({n: v(n) for n in sys.argv[1:]}))")
    r = run([tool("python"), "-c", code, *pins])
    assert r.returncode == 0, r.stderr
    installed = json.loads(r.stdout)
    wrong = {n: (installed[n], v) for n, v in pins.items() if installed[n] != v}
    assert not wrong, f"deploy/.venv differs from deploy/requirements.txt (installed, pinned): {wrong}; {SETUP_HINT}"


# ------------------------------------------------------- render and lint ---

@pytest.mark.parametrize("case", CASES)
def test_helm_lint_strict(case):
    _, values, _ = CASES[case]
    cmd = [tool("python"), TOOLS / "render.py", "lint", CHART, "--namespace", NAMESPACE]
    for v in values:
        cmd += ["-f", v]
    r = run(cmd)
    assert r.returncode == 0, f"helm lint --strict ({case}):\n{r.stdout}{r.stderr}"


@pytest.mark.parametrize("case", CASES)
def test_rendered_objects_validate_against_kubernetes_schemas(renders, case):
    cmd = [tool("python"), TOOLS / "validate.py", renders[case]["yaml"], "-k", "1.29.0", "-k", "1.37.0"]
    for e in renders[case]["external"]:
        cmd += ["--external", e]
    r = run(cmd)
    assert r.returncode == 0, f"{case}:\n{r.stdout}{r.stderr}"
    assert "OK" in r.stdout


def test_validator_rejects_broken_objects(renders, tmp_path):
    """The validator is only worth its pass if it fails on what a cluster would reject."""
    objs = json.loads(json.dumps(renders["dsv3-2node-lws"]["objs"]))
    for o in objs:
        if o["kind"] == "LeaderWorkerSet":
            o["spec"]["leaderWorkerTemplate"]["size"] = "two"
            o["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["imagePullPolicyy"] = "x"
        if o["kind"] == "Service":
            o["spec"]["ports"][0]["targetPort"] = "metrics"
        if o["kind"] == "PodDisruptionBudget":
            o["spec"]["maxUnavailabel"] = 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(objs))
    r = run([tool("python"), TOOLS / "validate.py", bad])
    assert r.returncode == 1, r.stdout
    for expected in ("'two' is not of type 'integer'", "'imagePullPolicyy' was unexpected",
                     "'maxUnavailabel' was unexpected", "targetPort 'metrics'",
                     "Secret sable-api-key is neither rendered nor declared external"):
        assert expected in r.stdout, f"validate.py did not report {expected!r}:\n{r.stdout}"


def test_yamllint(renders):
    files = [CHART / "values.yaml", CHART / "Chart.yaml", *sorted(EXAMPLES.glob("*.yaml")),
             *sorted(DATA.glob("*.yaml")), YAMLLINT_CONFIG, *(r["yaml"] for r in renders.values())]
    r = run([tool("yamllint"), "--strict", "-c", YAMLLINT_CONFIG, "-f", "parsable", *files])
    assert r.returncode == 0, f"yamllint:\n{r.stdout}{r.stderr}"


@pytest.mark.parametrize("values, message", [
    ({"engine": {"tensorParallelSize": 2}}, "must equal resources.limits.nvidia.com/gpu"),
    ({"engine": {"quantization": "fp4"}}, "/engine/quantization"),
    ({"engine": {"toolCallParser": "mistral"}}, "/engine/toolCallParser"),
    ({"engine": {"reasoningParser": "granite"}}, "/engine/reasoningParser"),
    ({"engine": {"tensorParalelSize": 8}}, "tensorParalelSize"),
    ({"model": {"volume": {"type": "pvc"}}}, "model.path is empty"),
    ({"model": {"path": "/data/DeepSeek-V3", "volume": {"type": "hostPath"}}}, "is not under model.volume.mountPath"),
    ({"lws": {"enabled": True, "size": 1}}, "lws.size must be at least 2"),
    ({"engine": {"shutdownTimeout": 120}}, "shutdownTimeout must be below terminationGracePeriodSeconds"),
    ({"engine": {"shutdownTimeout": 86}}, "by more than 5 s"),  # no room left for the drain's last writes
    ({"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None,
                      "targetMemoryUtilizationPercentage": None}}, "needs at least one metric"),
])
def test_wrong_values_fail_at_render_time(tmp_path, values, message):
    f = tmp_path / "values.json"  # JSON is YAML
    f.write_text(json.dumps(values))
    r = run(render_cmd("sable", [f]))
    assert r.returncode != 0, f"rendered although {values} is wrong"
    assert message in r.stderr, r.stderr


# ---------------------------------------------------------------- checkov ---

def test_checkov_on_rendered_chart(renders, tmp_path):
    """No failed check on any rendering; the skipped ones are exactly those the
    chart justifies, the worker-only ones on LeaderWorkerSet workers only.

    checkov knows no LeaderWorkerSet, so each of its pod templates is also
    scanned as a Deployment that carries the LeaderWorkerSet's metadata plus
    the template's own checkov annotations."""
    for case, r in renders.items():
        (tmp_path / f"{case}.yaml").write_text(r["yaml"].read_text())
        for lws in objs_of(renders, case, "LeaderWorkerSet"):
            for role, tpl in pod_templates(lws).items():
                skips = {k: v for k, v in tpl["metadata"].get("annotations", {}).items() if k.startswith("checkov.io/")}
                meta = {**lws["metadata"], "name": f"{lws['metadata']['name']}-{role}",
                        "annotations": {**lws["metadata"].get("annotations", {}), **skips}}
                dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                       "spec": {"selector": {"matchLabels": tpl["metadata"]["labels"]}, "template": tpl}}
                (tmp_path / f"{case}-lws-{role}.yaml").write_text(json.dumps(dep))
    r = run([tool("checkov"), "-d", tmp_path, "--framework", "kubernetes", "--skip-download",
             "--compact", "-o", "json"])
    reports = checkov_json(r.stdout)
    failed = [(c["check_id"], c["resource"], c["file_path"]) for rep in reports
              for c in rep["results"]["failed_checks"]]
    assert not failed, f"checkov failed checks: {failed}"
    skipped = [(c["check_id"], c["resource"], c["check_result"].get("suppress_comment")) for rep in reports
               for c in rep["results"]["skipped_checks"]]
    assert {s[0] for s in skipped} == CHECKOV_SKIPS | CHECKOV_WORKER_SKIPS, sorted({s[0] for s in skipped})
    for check, resource, reason in skipped:
        assert reason and len(reason) > 30, f"{check} is skipped on {resource} without a reason"
        if check in CHECKOV_WORKER_SKIPS:
            assert resource.endswith("-worker"), f"{check} may be skipped on LeaderWorkerSet workers only: {resource}"
    passed = sum(rep["summary"]["passed"] for rep in reports)
    assert passed > 300, f"checkov ran only {passed} checks"
    assert r.returncode == 0, r.stderr[-2000:]


def test_checkov_skips_are_justified_in_the_chart():
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    doc = helpers[helpers.index("The checkov checks this chart does not meet"):helpers.index('define "sable.checkovSkips"')]
    annotations = re.findall(r"checkov\.io/skip\d+: (CKV\w+)=(.+)", helpers)
    assert {a for a, _ in annotations} == CHECKOV_SKIPS | CHECKOV_WORKER_SKIPS
    for check, _ in annotations:
        m = re.search(rf"- {check} \(.+?\): (.+?)(?=\n- |\nAnd |\n\*/)", doc, re.S)
        assert m and len(m.group(1)) > 80, f"{check}: no full justification in _helpers.tpl"


# -------------------------------------------------- what the chart means ---

def test_default_values_serve_one_gpu_with_probes_and_hardening(renders):
    dep = one(renders, "default", "Deployment")
    tpl = dep["spec"]["template"]
    c = server_container(tpl)
    assert "command" not in c, "the image's ENTRYPOINT (sable serve) must run"
    flags = flag_values(c["args"])
    assert flags["--host"] == "0.0.0.0" and flags["--port"] == "8000"
    assert flags["--tensor-parallel-size"] == "1" and "--model" not in flags  # the demo model
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1 and "memory" in c["resources"]["limits"]

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    window = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    assert window >= 3600, f"startup window {window}s is too short to load a 671B model"
    # SIGTERM drains for --shutdown-timeout after the preStop pause, then gives slow readers up to 5 s to
    # receive their last bytes (docs/server.md), all within the grace period.
    pause = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pause + int(flags["--shutdown-timeout"]) + 5 < tpl["spec"]["terminationGracePeriodSeconds"]

    vols = {v["name"]: v for v in tpl["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert vols[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    env = {e["name"]: e for e in c["env"]}
    assert "emptyDir" in vols[mounts[env["HF_HOME"]["value"]]], "HF_HOME must be writable"
    assert "VLLM_API_KEY" not in env

    psc, sc = tpl["spec"]["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] >= 10000
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
    assert tpl["spec"]["automountServiceAccountToken"] is False
    assert tpl["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tpl["spec"]["tolerations"]

    svc = one(renders, "default", "Service")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    assert one(renders, "default", "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert dep["spec"]["replicas"] == 1
    for kind in ("HorizontalPodAutoscaler", "ServiceMonitor", "LeaderWorkerSet", "Secret"):
        assert not objs_of(renders, "default", kind), kind


def test_deepseek_v3_8xgpu_fp8_example(renders):
    tpl = one(renders, "dsv3-8xgpu-fp8", "Deployment")["spec"]["template"]
    c = server_container(tpl)
    flags = flag_values(c["args"])
    assert flags["--model"] == "/models/DeepSeek-V3"
    assert flags["--served-model-name"] == "deepseek-ai/DeepSeek-V3"
    assert flags["--tensor-parallel-size"] == "8" and flags["--quantization"] == "fp8"
    assert flags["--max-model-len"] == "131072" and flags["--device"] == "cuda"
    assert flags["--enable-auto-tool-choice"] is True and flags["--tool-call-parser"] == "deepseek_v3"
    assert "--reasoning-parser" not in flags
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8 == c["resources"]["requests"]["nvidia.com/gpu"]
    vols = {v["name"]: v for v in tpl["spec"]["volumes"]}
    models = next(m for m in c["volumeMounts"] if m["mountPath"] == "/models")
    assert models["readOnly"] is True
    assert vols[models["name"]]["persistentVolumeClaim"]["claimName"] == "deepseek-v3-weights"
    key = next(e for e in c["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": "sable-api-key", "key": "api-key"}
    assert not objs_of(renders, "dsv3-8xgpu-fp8", "HorizontalPodAutoscaler")


def test_queue_depth_autoscaling(renders):
    case = "dsv3-8xgpu-fp8-autoscaling"
    dep, hpa = one(renders, case, "Deployment"), one(renders, case, "HorizontalPodAutoscaler")
    assert "replicas" not in dep["spec"], "with an HPA the Deployment must not set replicas"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": dep["metadata"]["name"]}
    (m,) = hpa["spec"]["metrics"]
    assert m == {"type": "Pods", "pods": {"metric": {"name": "vllm_num_requests_waiting"},
                                          "target": {"type": "AverageValue", "averageValue": "8"}}}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    sm = one(renders, case, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "http" and sm["spec"]["endpoints"][0]["path"] == "/metrics"
    # prometheus-adapter serves vllm:num_requests_waiting under the name the HPA asks for.
    adapter = yaml_to_json(EXAMPLES / "prometheus-adapter-values.yaml")
    (rule,) = adapter["rules"]["custom"]
    assert "vllm:num_requests_waiting" in rule["seriesQuery"]
    assert rule["name"]["as"] == m["pods"]["metric"]["name"]
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}, "a Pods metric needs the pod label"


def test_all_features(renders):
    case = "all-features"
    dep = one(renders, case, "Deployment")
    tpl = dep["spec"]["template"]
    c = server_container(tpl)
    assert c["image"] == ("ghcr.io/example/sable@sha256:"
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    flags = flag_values(c["args"])
    assert flags["--max-model-len"] == "1000000", "large numbers must not print as 1e+06"
    assert flags["--kv-cache-dtype"] == "fp8" and flags["--enforce-eager"] is True
    assert flags["--enable-expert-parallel"] is True
    assert json.loads(flags["--speculative-config"]) == {"method": "deepseek_mtp", "num_speculative_tokens": 2}
    assert flags["--scheduling-policy"] == "priority"
    assert flags["--max-waiting-requests"] == "1000" and flags["--block-size"] == "64"
    assert flags["--tool-call-parser"] == "hermes" and flags["--reasoning-parser"] == "qwen3"
    assert flags["--enable-auto-tool-choice"] is True and flags["--trust-request-chat-template"] is True
    assert c["args"][-1] == "--trust-remote-code", "extraArgs come last"
    hpa = one(renders, case, "HorizontalPodAutoscaler")
    metrics = {(m["type"], (m.get("resource") or m.get("pods"))["name"] if m["type"] == "Resource"
                else m["pods"]["metric"]["name"]) for m in hpa["spec"]["metrics"]}
    assert metrics == {("Resource", "cpu"), ("Resource", "memory"), ("Pods", "vllm_num_requests_waiting")}
    secret = one(renders, case, "Secret")
    assert base64.b64decode(secret["data"]["api-key"]).decode() == "sk-test-not-a-real-key"
    key = next(e for e in c["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"], "key": "api-key"}
    assert "checksum/api-key" in tpl["metadata"]["annotations"], "pods must roll when the key changes"
    pvc = one(renders, case, "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Ti"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert tpl["spec"]["runtimeClassName"] == "nvidia" and tpl["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert one(renders, case, "Service")["spec"]["type"] == "LoadBalancer"


def test_multinode_leaderworkerset(renders):
    for case in ("dsv3-2node-lws", "dsv3-2node-lws-autoscaling"):
        assert not objs_of(renders, case, "Deployment"), case
        lws = one(renders, case, "LeaderWorkerSet")
        assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
        lwt = lws["spec"]["leaderWorkerTemplate"]
        assert lwt["size"] == 2 and lwt["restartPolicy"] == "RecreateGroupOnPodRestart"
        leader, worker = (server_container(t) for t in pod_templates(lws).values())
        for c in (leader, worker):
            flags = flag_values(c["args"])
            assert flags["--nnodes"] == "$(LWS_GROUP_SIZE)"
            assert flags["--node-rank"] == "$(LWS_WORKER_INDEX)"
            assert flags["--master-addr"] == "$(LWS_LEADER_ADDRESS)"
            assert flags["--master-port"] == "29500"
            gpus = c["resources"]["limits"]["nvidia.com/gpu"]
            assert int(flags["--tensor-parallel-size"]) == gpus * lwt["size"] == 16
        assert leader["startupProbe"]["httpGet"]["path"] == "/health" and leader["ports"][0]["containerPort"] == 8000
        assert "ports" not in worker and "readinessProbe" not in worker
        # Traffic goes to the leaders only.
        svc = one(renders, case, "Service")
        labels = {role: t["metadata"]["labels"] for role, t in pod_templates(lws).items()}
        sel = svc["spec"]["selector"]
        assert all(labels["leader"].get(k) == v for k, v in sel.items())
        assert not all(labels["worker"].get(k) == v for k, v in sel.items())
    hpa = one(renders, "dsv3-2node-lws-autoscaling", "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"


def test_cpu_hostpath(renders):
    tpl = one(renders, "cpu-hostpath", "Deployment")["spec"]["template"]
    c = server_container(tpl)
    flags = flag_values(c["args"])
    assert flags["--device"] == "cpu" and "--gpu-memory-utilization" not in flags
    assert not any("nvidia.com/gpu" in (c["resources"].get(k) or {}) for k in ("limits", "requests"))
    models = next(v for v in tpl["spec"]["volumes"] if v["name"] == "models")
    assert models["hostPath"] == {"path": "/srv/models", "type": "Directory"}
    assert "nodeSelector" not in tpl["spec"] and "tolerations" not in tpl["spec"]
    assert "/dev/shm" not in {m["mountPath"] for m in c["volumeMounts"]}
    for kind in ("PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"):
        assert not objs_of(renders, "cpu-hostpath", kind), kind


def all_serve_args(renders) -> list[list[str]]:
    return [server_container(t)["args"] for r in renders for o in renders[r]["objs"]
            if o["kind"] in ("Deployment", "LeaderWorkerSet") for t in pod_templates(o).values()]


def test_chart_passes_only_sable_serve_flags(renders):
    for args in all_serve_args(renders):
        unknown = {a for a in args if a.startswith("--")} - SERVE_FLAGS
        assert not unknown, f"the chart passes flags sable serve does not take: {unknown}"


def test_chart_flags_match_the_binary(renders):
    """Once `sable serve` exists, its --help must list every flag the chart passes."""
    binary = Path(os.environ.get("SABLE_BINARY") or ROOT / "build" / "sable")
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    r = run([binary, "serve", "--help"], timeout=60)
    if r.returncode != 0 or "--tensor-parallel-size" not in r.stdout + r.stderr:
        pytest.skip("this build of sable has no `serve` command with vLLM's flags yet")
    used = {a for args in all_serve_args(renders) for a in args if a.startswith("--")}
    missing = sorted(f for f in used if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", r.stdout + r.stderr))
    assert not missing, f"`sable serve --help` does not list {missing}"


# ------------------------------------------------------------------- docs ---

def test_docs_deploy_md(tmp_path):
    doc = (ROOT / "docs" / "deploy.md").read_text()
    # The Kubernetes manifests the guide shows are valid too.
    manifests = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if b.startswith("apiVersion:")]
    assert manifests, "docs/deploy.md shows no manifest"
    (tmp_path / "docs.yaml").write_text("---\n".join(manifests))
    r = run([tool("python"), TOOLS / "validate.py", tmp_path / "docs.yaml"])
    assert r.returncode == 0, f"manifests in docs/deploy.md:\n{r.stdout}{r.stderr}"
    # The DeepSeek-V3 values file appears in the guide verbatim.
    example = (EXAMPLES / "deepseek-v3-8xgpu-fp8.yaml").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert example in blocks, "docs/deploy.md must show examples/deepseek-v3-8xgpu-fp8.yaml verbatim"
    for needle in ("docker build -f docker/Dockerfile", "helm install", "/v1/models", "/v1/chat/completions",
                   "vllm:num_requests_waiting", "LeaderWorkerSet", "LWS_LEADER_ADDRESS", "HF_HOME",
                   "--nnodes", "prometheus-adapter", "deploy/tools/render.py"):
        assert needle in doc, f"docs/deploy.md does not cover {needle}"
