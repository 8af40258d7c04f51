#!/usr/bin/env python3
"""`helm template` and `helm lint` without a helm binary.

Renders the chart with Helm v4's own engine (the Go SDK compiled into
libhelm_c, from the `helm-python-sdk` wheel), so the output is what
`helm template` prints: same template functions, values coalescing,
values.schema.json checks and `fail` messages. Run with deploy/.venv/bin/python
(`make setup` creates it with deploy/setup-venv.sh):

  deploy/.venv/bin/python deploy/tools/render.py template deploy/helm/sable \
      -f deploy/helm/sable/examples/deepseek-v3-8xgpu-fp8.yaml --namespace llm
  deploy/.venv/bin/python deploy/tools/render.py lint deploy/helm/sable -f VALUES

`template` writes the manifests as one multi-document YAML stream (each with a
`# Source:` line, as helm does) to stdout or --output; --json writes a JSON
list of the objects instead. NOTES.txt is left out, as `helm template` does.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

try:
    import helm_python as helm
    import yaml
except ImportError as exc:  # pragma: no cover - message for a missing venv
    sys.exit(f"render.py: {exc}. Run it with deploy/.venv/bin/python "
             "(python3 -m venv deploy/.venv && deploy/.venv/bin/pip install -r deploy/requirements.txt)")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge `over` into `base` as helm merges several -f files (maps merge, the rest replaces)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def user_values(files: list[str], sets: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in files:
        values = deep_merge(values, helm.values_from_yaml(Path(f).read_text()))
    for s in sets:
        values = deep_merge(values, helm.parse_set_string(s))
    return values


def render(chart_dir: str, values: dict[str, Any], name: str, namespace: str) -> list[tuple[str, str]]:
    """Returns (template path, manifest text) for every non-empty rendered template."""
    with helm.Chart.load(chart_dir) as chart:
        chart.validate_schema(chart.merge_values(values))
        rendered = chart.render(values=values, name=name, namespace=namespace,
                                is_install=True, revision=1)
    out = []
    for path in sorted(rendered):
        text = rendered[path]
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        # A template may hold several documents; keep only the non-empty ones.
        for doc in text.split("\n---"):
            if yaml.safe_load(doc) is not None:
                out.append((path, doc.strip("\n")))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["template", "lint"])
    ap.add_argument("chart")
    ap.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
    ap.add_argument("--set", action="append", default=[], help="helm --set expression (repeatable)")
    ap.add_argument("--name", default="sable", help="release name")
    ap.add_argument("-n", "--namespace", default="default")
    ap.add_argument("--kube-version", default="v1.29.0", help="lint: the cluster version to lint for")
    ap.add_argument("--json", action="store_true", help="template: a JSON list of objects")
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    args = ap.parse_args(argv)

    try:
        values = user_values(args.values, args.set)
        if args.command == "lint":
            report = helm.lint(args.chart, values, strict=True, namespace=args.namespace,
                               kube_version=args.kube_version)
            severities = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
            lines = [f"[{severities.get(m['severity'], m['severity'])}] {m['path']}: {m['error']}"
                     for m in report.get("messages", [])]
            lines += [f"[ERROR] {e}" for e in report.get("errors") or []]
            print("\n".join(lines) if lines else f"{args.chart}: lint clean")
            # strict: warnings fail like errors, as `helm lint --strict` does.
            return 1 if any(m["severity"] >= 2 for m in report.get("messages", [])) or report.get("errors") else 0
        docs = render(args.chart, values, args.name, args.namespace)
    except helm.HelmError as exc:
        print(f"render.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    if args.json:
        text = json.dumps([yaml.safe_load(d) for _, d in docs], indent=2) + "\n"
    else:
        text = "".join(f"---\n# Source: {path}\n{doc}\n" for path, doc in docs)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
