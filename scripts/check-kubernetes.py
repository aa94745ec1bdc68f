#!/usr/bin/env python3
"""Renders every overlay of deploy/kubernetes/ and checks what can be proven without a cluster:

1. the output is valid against the Kubernetes schemas (strict: unknown fields refused) of two
   supported minor versions, offline, with the `kubernetes-validate` package;
2. a policy: every Deployment's and Job's containers have resource requests and limits, run
   as non-root on a read-only root file system with every capability dropped, no privilege
   escalation and the RuntimeDefault seccomp profile, mount no service-account token, and use
   an image with a tag that is not `latest`; every Deployment has startup, readiness (/readyz)
   and liveness (/healthz) probes and a PodDisruptionBudget selecting its pods; the
   NetworkPolicies deny by default and let only the ingress reach the HTTP services and only
   the app's pods reach PostgreSQL and Redis; the Ingress routes /api/, /app/ and
   /telegram/webhook.

    scripts/check-kubernetes.py        # needs kubectl (kustomize) and kubernetes-validate

Exit 1 on any problem, each printed. No cluster runs on the machines this is tested on: what a
cluster alone can show (scheduling, the NetworkPolicies enforced by a CNI, the probes answering)
is not claimed here.
"""

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ["dev", "prod"]
VERSIONS = ["1.36.0", "1.37.0"]
problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def render(overlay):
    out = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy/kubernetes/overlays" / overlay)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def check_workload(overlay, doc):
    name = f"{overlay}/{doc['kind']}/{doc['metadata']['name']}"
    spec = pod_spec(doc)
    if spec.get("automountServiceAccountToken") is not False:
        problem(name, "mounts a service-account token")
    pod_security = spec.get("securityContext", {})
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(name, "no RuntimeDefault seccomp profile")
    for container in spec["containers"]:
        where = f"{name}/{container['name']}"
        security = container.get("securityContext", {})
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            problem(where, "may run as root")
        if security.get("readOnlyRootFilesystem") is not True:
            problem(where, "root file system is writable")
        if security.get("allowPrivilegeEscalation") is not False:
            problem(where, "privilege escalation allowed")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problem(where, "capabilities not all dropped")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                problem(where, f"no cpu and memory {kind}")
        image = container["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else None
        if tag in (None, "latest"):
            problem(where, f"image {image} has no fixed tag")
        if doc["kind"] == "Deployment":
            probes = {p: container.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe")}
            for probe, value in probes.items():
                if not value:
                    problem(where, f"no {probe}")
            if (probes["readinessProbe"] or {}).get("httpGet", {}).get("path") != "/readyz":
                problem(where, "readiness is not /readyz")
            if (probes["livenessProbe"] or {}).get("httpGet", {}).get("path") != "/healthz":
                problem(where, "liveness is not /healthz")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def check_overlay(overlay):
    docs = render(overlay)
    for version in VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problem(f"{overlay}/{doc['kind']}/{doc['metadata']['name']} ({version})", error.message)
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    for doc in by_kind.get("Deployment", []) + by_kind.get("Job", []):
        check_workload(overlay, doc)
    pdbs = by_kind.get("PodDisruptionBudget", [])
    for deployment in by_kind.get("Deployment", []):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if not any(selects(p["spec"]["selector"], labels) for p in pdbs):
            problem(f"{overlay}/Deployment/{deployment['metadata']['name']}", "no PodDisruptionBudget")
    policies = {p["metadata"]["name"]: p for p in by_kind.get("NetworkPolicy", [])}
    deny = policies.get("default-deny", {}).get("spec", {})
    if deny.get("podSelector") != {} or set(deny.get("policyTypes", [])) != {"Ingress", "Egress"}:
        problem(overlay, "no default-deny NetworkPolicy for ingress and egress")
    http = policies.get("allow-ingress-to-http", {}).get("spec", {})
    if http.get("podSelector", {}).get("matchLabels") != {"app.kubernetes.io/component": "http"}:
        problem(overlay, "no NetworkPolicy letting only the ingress reach the HTTP services")
    data = policies.get("allow-app-to-data", {}).get("spec", {})
    ports = {p.get("port") for rule in data.get("egress", []) for p in rule.get("ports", [])}
    if data.get("podSelector", {}).get("matchLabels") != {"medsync/data-access": "true"} or ports != {5432, 6379}:
        problem(overlay, "no NetworkPolicy letting only the app's pods reach PostgreSQL and Redis")
    for deployment in by_kind.get("Deployment", []):
        component = deployment["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        if component == "http" and deployment["metadata"]["name"] not in ("api", "web", "webhook"):
            problem(overlay, f"{deployment['metadata']['name']} is reachable from the ingress")
    paths = {p["path"] for i in by_kind.get("Ingress", []) for r in i["spec"]["rules"] for p in r["http"]["paths"]}
    if not {"/api/", "/app/", "/telegram/webhook"} <= paths:
        problem(overlay, f"the Ingress routes {sorted(paths)}")
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"kubernetes: {overlay}: {len(docs)} objects ({kinds}), valid against {' and '.join(VERSIONS)}")


for overlay in OVERLAYS:
    check_overlay(overlay)
for line in problems:
    print(f"kubernetes: {line}")
print(f"kubernetes: {len(problems)} problems")
sys.exit(1 if problems else 0)
