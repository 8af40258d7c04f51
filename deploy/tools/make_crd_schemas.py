#!/usr/bin/env python3
"""Turns upstream CustomResourceDefinition YAML into the JSON schemas that
deploy/tools/validate.py checks the chart's custom resources against.

  deploy/.venv/bin/python deploy/tools/make_crd_schemas.py CRD.yaml... -o deploy/tools/crd-schemas

For each served version it keeps spec.versions[].schema.openAPIV3Schema as
published, less the `description` texts (size). Pod templates embedded in a
CRD (LeaderWorkerSet's leaderTemplate and workerTemplate) are cut out and
marked `x-sable-pod-template`: validate.py checks them against the Kubernetes
PodTemplateSpec schema itself, which is stricter and versioned with the other
built-in objects. See crd-schemas/README.md for where the inputs came from.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

# JSON pointer-ish paths (property names from the schema root) of embedded pod templates.
POD_TEMPLATES = {
    "LeaderWorkerSet": [
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        ("spec", "leaderWorkerTemplate", "workerTemplate"),
    ],
}


def strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def cut_pod_template(schema: dict[str, Any], path: tuple[str, ...]) -> None:
    node = schema
    for name in path[:-1]:
        node = node["properties"][name]
    if path[-1] not in node["properties"]:
        raise SystemExit(f"{'/'.join(path)} not in the CRD schema")
    node["properties"][path[-1]] = {"type": "object", "x-sable-pod-template": True}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("crds", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.crds:
        crd = yaml.safe_load(Path(path).read_text())
        assert crd["kind"] == "CustomResourceDefinition", path
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = strip_descriptions(version["schema"]["openAPIV3Schema"])
            for p in POD_TEMPLATES.get(kind, []):
                cut_pod_template(schema, p)
            doc = {"apiVersion": f"{group}/{version['name']}", "kind": kind,
                   "controllerGen": crd["metadata"].get("annotations", {}), "schema": schema}
            target = out / f"{kind.lower()}-{group}-{version['name']}.json"
            target.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(f"{target}: {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
