#!/usr/bin/env python3
"""Validates rendered Kubernetes objects the way an API server would, offline.

  deploy/.venv/bin/python deploy/tools/validate.py rendered.yaml [-k 1.29.0 -k 1.37.0]

1. Schema, strict (unknown fields are errors, as with `kubectl apply
   --validate=strict`): built-in kinds against the Kubernetes OpenAPI schemas
   that kubernetes-validate ships, for each Kubernetes version given; the
   custom resources (LeaderWorkerSet, ServiceMonitor) against their CRDs'
   schemas in crd-schemas/, and the pod templates inside a LeaderWorkerSet
   against Kubernetes' PodTemplateSpec.
2. The API server's own checks that a schema cannot express and that a chart
   gets wrong in practice: names and label syntax, extended resources
   (nvidia.com/gpu) with requests equal to limits, every volumeMount backed by
   a volume, probes on a declared port, unique names, a workload's selector
   matching its pod template.
3. References between the objects of one release: the Service, the
   PodDisruptionBudget, the NetworkPolicy and the ServiceMonitor select pods
   or Services that exist; the HPA targets a workload that exists; Secrets,
   ServiceAccounts and PVCs that pods use are rendered or declared external
   (--external Kind/name).

Exit status 1 with one line per problem; 0 and a summary otherwise.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "LeaderWorkerSet"}


# ---------------------------------------------------------------- schemas ---

def strict_crd_schema(node: Any) -> Any:
    """Unknown fields are errors: every object schema with properties and no
    explicit additionalProperties/preserve-unknown-fields gets
    additionalProperties: false (what the API server's strict field
    validation does with a structural schema)."""
    if isinstance(node, list):
        return [strict_crd_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_crd_schema(v) for k, v in node.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def pod_template_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, sub in schema.get("properties", {}).items():
        if sub.get("x-sable-pod-template"):
            yield prefix + (name,)
        else:
            yield from pod_template_paths(sub, prefix + (name,))


class Validator:
    def __init__(self, versions: list[str], crd_dir: Path):
        self.versions = versions
        self.crds: dict[tuple[str, str], dict[str, Any]] = {}
        for f in sorted(crd_dir.glob("*.json")):
            doc = json.loads(f.read_text())
            self.crds[(doc["apiVersion"], doc["kind"])] = doc["schema"]
        self._defs: dict[str, Registry] = {}

    def _k8s_registry(self, version: str) -> Registry:
        if version not in self._defs:
            mm = kv_utils.major_minor(version)
            supported = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) <= mm]
            if not supported:
                raise SystemExit(f"validate.py: kubernetes-validate has no schemas for {version}")
            defs = kv_utils.schema_contents(
                f"kubernetes-json-schema/v{supported[-1]}-local-strict/_definitions.json", version)
            self._defs[version] = Resource.from_contents(defs) @ Registry()
        return self._defs[version]

    def _k8s_definition(self, obj: Any, definition: str, version: str) -> list[str]:
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}"}
        v = jsonschema.Draft202012Validator(schema, registry=self._k8s_registry(version))
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(obj)]

    def schema_errors(self, obj: dict[str, Any], version: str) -> list[str]:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in self.crds:
            return self._crd_errors(obj, self.crds[key], version)
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            return []
        except kubernetes_validate.ValidationError as e:
            return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"]
        except kv_utils.SchemaNotFoundError as e:
            return [e.message + " (and no CRD schema in crd-schemas/)"]

    def _crd_errors(self, obj: dict[str, Any], schema: dict[str, Any], version: str) -> list[str]:
        errors = []
        body = copy.deepcopy(obj)
        templates = []
        for path in pod_template_paths(schema):
            node = body
            for name in path[:-1]:
                node = node.get(name, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict) and path[-1] in node:
                templates.append(("/".join(path), node[path[-1]]))
        v = jsonschema.Draft202012Validator(strict_crd_schema(schema))
        errors += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(body)]
        errors += [f"metadata/{m}" for m in
                   self._k8s_definition(obj.get("metadata", {}),
                                        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", version)]
        for where, tpl in templates:
            errors += [f"{where}/{m}" for m in
                       self._k8s_definition(tpl, "io.k8s.api.core.v1.PodTemplateSpec", version)]
        return errors


# ------------------------------------------------- API-server-like checks ---

def pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [("spec/template", spec.get("template", {}))]
    if obj["kind"] == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate", {})
        out = [("spec/leaderWorkerTemplate/workerTemplate", lwt.get("workerTemplate", {}))]
        if "leaderTemplate" in lwt:
            out.insert(0, ("spec/leaderWorkerTemplate/leaderTemplate", lwt["leaderTemplate"]))
        return out
    return []


def check_labels(where: str, labels: dict[str, Any] | None) -> list[str]:
    errors = []
    for k, v in (labels or {}).items():
        prefix, _, name = k.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or \
                len(name) > 63 or not LABEL_NAME.match(name):
            errors.append(f"{where}: invalid label key {k!r}")
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            errors.append(f"{where}: invalid label value {k}={v!r}")
    return errors


def quantity_number(q: Any) -> float | None:
    if isinstance(q, (int, float)):
        return float(q)
    m = re.match(r"^(\d+(?:\.\d+)?)$", str(q))
    return float(m.group(1)) if m else None


def check_pod_spec(where: str, tpl: dict[str, Any]) -> list[str]:
    errors = check_labels(f"{where}/metadata/labels", tpl.get("metadata", {}).get("labels"))
    spec = tpl.get("spec", {})
    volumes = [v["name"] for v in spec.get("volumes", [])]
    if len(volumes) != len(set(volumes)):
        errors.append(f"{where}: duplicate volume names {volumes}")
    for v in volumes:
        if not DNS1123_LABEL.match(v):
            errors.append(f"{where}: volume name {v!r} is not a DNS-1123 label")
    names = set()
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        cw = f"{where}/containers/{c.get('name')}"
        if c.get("name") in names or not DNS1123_LABEL.match(c.get("name", "")):
            errors.append(f"{cw}: container name duplicate or not a DNS-1123 label")
        names.add(c.get("name"))
        mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
        if len(mounts) != len(set(mounts)):
            errors.append(f"{cw}: duplicate mountPath {mounts}")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                errors.append(f"{cw}: volumeMount {m['name']!r} has no volume")
        env = [e["name"] for e in c.get("env", [])]
        if len(env) != len(set(env)):
            errors.append(f"{cw}: duplicate env names {env}")
        for e in env:
            if not ENV_NAME.match(e):
                errors.append(f"{cw}: invalid env name {e!r}")
        ports = {p.get("name") for p in c.get("ports", []) if p.get("name")}
        for p in c.get("ports", []):
            if p.get("name") and (len(p["name"]) > 15 or not IANA_SVC_NAME.match(p["name"])):
                errors.append(f"{cw}: port name {p['name']!r} is not an IANA service name")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            port = (c.get(probe) or {}).get("httpGet", {}).get("port")
            if isinstance(port, str) and port not in ports:
                errors.append(f"{cw}: {probe} uses port {port!r}, which the container does not declare")
        res = c.get("resources", {})
        req, lim = res.get("requests", {}) or {}, res.get("limits", {}) or {}
        for r in set(req) | set(lim):
            if "/" in r and not r.startswith(("kubernetes.io/", "requests.")):
                # Extended resources: integers, and requests == limits (limits required).
                if r not in lim:
                    errors.append(f"{cw}: extended resource {r} has a request but no limit")
                elif r in req and quantity_number(req[r]) != quantity_number(lim[r]):
                    errors.append(f"{cw}: extended resource {r}: request {req[r]} != limit {lim[r]}")
                n = quantity_number(lim.get(r, req.get(r)))
                if n is None or n != int(n):
                    errors.append(f"{cw}: extended resource {r} must be a whole number")
    return errors


def selects(selector: dict[str, Any] | None, labels: dict[str, Any], plain: bool = False) -> bool:
    """Whether a selector matches a label set: `plain` for a Service's map,
    otherwise a LabelSelector (an empty LabelSelector matches everything)."""
    if selector is None or (plain and not selector):
        return False
    if plain:
        return all(labels.get(k) == v for k, v in selector.items())
    if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def api_checks(objs: list[dict[str, Any]], external: set[str]) -> list[str]:
    errors = []
    rendered = {f"{o['kind']}/{o['metadata']['name']}" for o in objs}
    have = rendered | external
    seen = set()
    for o in objs:
        kn = f"{o['kind']}/{o['metadata'].get('name')}"
        name = o["metadata"].get("name", "")
        if kn in seen:
            errors.append(f"{kn}: rendered twice")
        seen.add(kn)
        namecheck = DNS1035_LABEL if o["kind"] == "Service" else DNS1123_SUBDOMAIN
        if len(name) > (63 if o["kind"] == "Service" else 253) or not namecheck.match(name):
            errors.append(f"{kn}: invalid name")
        errors += [f"{kn}/{m}" for m in check_labels("metadata/labels", o["metadata"].get("labels"))]
        for where, tpl in pod_templates(o):
            errors += [f"{kn}/{m}" for m in check_pod_spec(where, tpl)]
            spec = tpl.get("spec", {})
            sa = spec.get("serviceAccountName")
            if sa and sa != "default" and f"ServiceAccount/{sa}" not in have:
                errors.append(f"{kn}: ServiceAccount {sa} is neither rendered nor declared external")
            for v in spec.get("volumes", []):
                claim = v.get("persistentVolumeClaim", {}).get("claimName")
                if claim and f"PersistentVolumeClaim/{claim}" not in have:
                    errors.append(f"{kn}: PersistentVolumeClaim {claim} is neither rendered nor declared external")
            for c in spec.get("containers", []):
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref and f"Secret/{ref['name']}" not in have:
                        errors.append(f"{kn}: Secret {ref['name']} is neither rendered nor declared external")
                    if ref:
                        secret = next((s for s in objs if s["kind"] == "Secret" and s["metadata"]["name"] == ref["name"]), None)
                        if secret and ref["key"] not in {**secret.get("data", {}), **secret.get("stringData", {})}:
                            errors.append(f"{kn}: Secret {ref['name']} has no key {ref['key']!r}")
        if o["kind"] == "Deployment":
            if not selects(o["spec"]["selector"], o["spec"]["template"]["metadata"].get("labels", {})):
                errors.append(f"{kn}: spec.selector does not match the pod template's labels")

    pod_labels = [(f"{o['kind']}/{o['metadata']['name']}", tpl.get("metadata", {}).get("labels", {}), tpl)
                  for o in objs for _, tpl in pod_templates(o)]
    for o in objs:
        kn = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Service":
            sel = o["spec"].get("selector")
            matched = [t for _, lbl, t in pod_labels if selects(sel, lbl, plain=True)]
            if not matched:
                errors.append(f"{kn}: selector {sel} matches no rendered pod template")
            for port in o["spec"].get("ports", []):
                tp = port.get("targetPort")
                for t in matched:
                    names = {p.get("name") for c in t["spec"]["containers"] for p in c.get("ports", [])}
                    nums = {p.get("containerPort") for c in t["spec"]["containers"] for p in c.get("ports", [])}
                    if tp not in names and tp not in nums:
                        errors.append(f"{kn}: targetPort {tp!r} is not a port of the selected pods")
        if o["kind"] in ("PodDisruptionBudget",):
            if not any(selects(o["spec"].get("selector"), lbl) for _, lbl, _ in pod_labels):
                errors.append(f"{kn}: selector matches no rendered pod template")
        if o["kind"] == "NetworkPolicy":
            if not any(selects(o["spec"].get("podSelector"), lbl) for _, lbl, _ in pod_labels):
                errors.append(f"{kn}: podSelector matches no rendered pod template")
        if o["kind"] == "HorizontalPodAutoscaler":
            ref = o["spec"]["scaleTargetRef"]
            target = next((t for t in objs if t["kind"] == ref["kind"] and t["metadata"]["name"] == ref["name"]
                           and t["apiVersion"] == ref.get("apiVersion")), None)
            if target is None:
                errors.append(f"{kn}: scaleTargetRef {ref} is not rendered")
            elif ref["kind"] not in WORKLOAD_KINDS:
                errors.append(f"{kn}: {ref['kind']} has no scale subresource")
            for m in o["spec"].get("metrics", []):
                if m["type"] == "Resource" and target is not None:
                    for where, tpl in pod_templates(target):
                        for c in tpl["spec"]["containers"]:
                            if m["resource"]["name"] not in (c.get("resources", {}).get("requests") or {}):
                                errors.append(f"{kn}: utilization of {m['resource']['name']} needs a request "
                                              f"in {target['kind']}/{where}/{c['name']}")
        if o["kind"] == "ServiceMonitor":
            services = [s for s in objs if s["kind"] == "Service" and selects(o["spec"]["selector"], s["metadata"].get("labels", {}))]
            if not services:
                errors.append(f"{kn}: selector matches no rendered Service")
            for ep in o["spec"].get("endpoints", []):
                if ep.get("port") and not any(ep["port"] == p.get("name") for s in services for p in s["spec"]["ports"]):
                    errors.append(f"{kn}: endpoint port {ep['port']!r} is not a named port of the selected Services")
    return errors


def load(paths: list[str]) -> list[dict[str, Any]]:
    objs = []
    for p in paths:
        text = Path(p).read_text()
        docs = json.loads(text) if p.endswith(".json") else list(yaml.safe_load_all(text))
        objs += [d for d in docs if d]
    return objs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="YAML streams or JSON lists of objects")
    ap.add_argument("-k", "--kube-version", action="append", help="repeatable; default 1.29.0 and the newest")
    ap.add_argument("--crd-schemas", default=str(HERE / "crd-schemas"))
    ap.add_argument("--external", action="append", default=[],
                    help="Kind/name of an object the release uses but does not render (repeatable)")
    args = ap.parse_args(argv)
    versions = args.kube_version or ["1.29.0", kv_utils.latest_version()]
    objs = load(args.files)
    if not objs:
        print("validate.py: no objects", file=sys.stderr)
        return 1
    v = Validator(versions, Path(args.crd_schemas))
    errors = []
    for o in objs:
        for version in versions:
            errors += [f"[k8s {version}] {o.get('kind')}/{o.get('metadata', {}).get('name')}: {m}"
                       for m in v.schema_errors(o, version)]
    errors += [f"[api] {m}" for m in api_checks(objs, set(args.external))]
    errors = list(dict.fromkeys(errors))  # leader and worker templates repeat findings
    for e in errors:
        print(e)
    kinds = sorted({o["kind"] for o in objs})
    print(f"validate.py: {len(objs)} objects ({', '.join(kinds)}), Kubernetes {', '.join(versions)}: "
          f"{'OK' if not errors else f'{len(errors)} problem(s)'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
