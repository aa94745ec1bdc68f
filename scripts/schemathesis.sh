#!/usr/bin/env bash
# schemathesis.sh — property-based tests of the running api against its own OpenAPI document:
# no answer may be a 5xx, and every answer must match the schema documented for its status.
#
# Needs DATABASE_URL and REDIS_URL (scripts/test.sh provides them) and the debug binaries
# (`cargo build`). It migrates and seeds that database, starts the api on a free port, signs
# in a patient and an admin, and runs schemathesis (installed from PyPI into a virtualenv
# under target/) once with each token.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${DATABASE_URL:?schemathesis.sh needs DATABASE_URL (scripts/test.sh sets it)}"
: "${REDIS_URL:?schemathesis.sh needs REDIS_URL (scripts/test.sh sets it)}"
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
bin=${CARGO_TARGET_DIR:-$root/target}/debug
venv=${CARGO_TARGET_DIR:-$root/target}/schemathesis-venv

if [[ ! -x $venv/bin/st ]] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "schemathesis: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export API_LISTEN_ADDR=127.0.0.1:$port
export SECRET_KEY=schemathesis-secret-key-of-more-than-32-chars
export REDIS_KEY_PREFIX=schemathesis-$$
export LOGIN_RATE_LIMIT_PER_IP=100000 LOGIN_RATE_LIMIT_PER_ACCOUNT=100000
export CLINIC_TIMEZONE=Europe/Berlin LOG_FORMAT=json RUST_LOG=warn
export ADMIN_EMAIL=schemathesis-admin@clinic.example ADMIN_PASSWORD=schemathesis-admin-password

"$bin/manage" migrate
"$bin/manage" seed
"$bin/api" >"${CARGO_TARGET_DIR:-$root/target}/schemathesis-api.log" 2>&1 &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://$API_LISTEN_ADDR/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

base=http://$API_LISTEN_ADDR
login() {  # EMAIL PASSWORD → access token
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
patient_email="schemathesis-$$@clinic.example"
curl -fsS -o /dev/null "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$patient_email\",\"password\":\"schemathesis pass 1\",\"name\":\"Schema Thesis\"}"
patient_token=$(login "$patient_email" "schemathesis pass 1")
admin_token=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")

status=0
for who in patient admin; do
    token_var=${who}_token
    echo "schemathesis: as $who"
    # logout is left out: it would revoke the token the rest of the run uses.
    "$venv/bin/st" run "$base/api/openapi.json" \
        --checks not_a_server_error,response_schema_conformance,content_type_conformance \
        --header "Authorization: Bearer ${!token_var}" \
        --exclude-path /api/v1/auth/logout \
        --max-examples "$EXAMPLES" --seed 42 --generation-database none \
        --phases examples,coverage,fuzzing \
        --request-timeout 10 --no-color --warnings off || status=1
done
if [[ $status -ne 0 ]]; then
    echo "schemathesis: failures above; the api's log is in ${CARGO_TARGET_DIR:-$root/target}/schemathesis-api.log"
fi
exit $status
