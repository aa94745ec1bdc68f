#!/usr/bin/env bash
# check-kubernetes.sh — renders deploy/kubernetes/'s overlays and checks them against the
# Kubernetes schemas and the project's policy (scripts/check-kubernetes.py says what). Installs
# kubernetes-validate (PyPI; its schemas are in the package, nothing is downloaded when it runs)
# into target/ on first use. Needs kubectl (for `kubectl kustomize`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
KUBERNETES_VALIDATE_VERSION=1.37.0
command -v kubectl >/dev/null || { echo "check-kubernetes: kubectl is not installed (it renders the overlays: kubectl kustomize)" >&2; exit 1; }
venv=${CARGO_TARGET_DIR:-$root/target}/kubernetes-venv
if ! "$venv/bin/python" -c "import kubernetes_validate, sys; sys.exit(kubernetes_validate.__version__ != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null; then
    echo "check-kubernetes: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
exec "$venv/bin/python" "$root/scripts/check-kubernetes.py"
