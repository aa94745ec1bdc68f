#!/usr/bin/env bash
# swarm-secrets.sh ENV_FILE DIR — writes the Docker secrets deploy/swarm/stack.yml reads, one
# file each in DIR (mode 0600), from the values of ENV_FILE (a .env made by make-env.sh), and
# copies the TLS certificate and key from its TLS_CERT_DIR:
#
#   scripts/swarm-secrets.sh .env deploy/swarm/secrets
#   SECRETS_DIR=$PWD/deploy/swarm/secrets docker stack deploy -c deploy/swarm/stack.yml medsync
#
# The connection URLs are built here (passwords percent-encoded), so each service gets a URL
# it reads with DATABASE_URL_FILE / REDIS_URL_FILE and never a password it does not need.
# `docker stack deploy` creates the secrets; Swarm keeps them encrypted in its Raft log and
# mounts them in memory at /run/secrets/ of the tasks that name them. After changing one,
# remove the stack (or rotate the secret under a new name): Swarm secrets cannot be updated.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 ENV_FILE DIR" >&2; exit 2; }
env_file=$1
dir=$2
root=$(cd "$(dirname "$0")/.." && pwd)

value() {  # NAME: its value in ENV_FILE (the last assignment), required
    local v
    v=$(sed -n "s/^$1=//p" "$env_file" | tail -1)
    [[ -n $v ]] || { echo "swarm-secrets: $1 is not set in $env_file" >&2; exit 1; }
    [[ $v != *change-me* ]] || { echo "swarm-secrets: $1 still holds the template's placeholder" >&2; exit 1; }
    printf '%s' "$v"
}
encode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""), end="")' "$1"; }

umask 077
mkdir -p "$dir"
put() { printf '%s\n' "$2" >"$dir/$1"; }

postgres=$(value POSTGRES_PASSWORD)
app_user=$(sed -n 's/^DATABASE_APP_USER=//p' "$env_file" | tail -1)
app_user=${app_user:-medsync_app}
app_password=$(value DATABASE_APP_PASSWORD)
redis=$(value REDIS_PASSWORD)
put postgres_password "$postgres"
put database_url "postgres://medsync:$(encode "$postgres")@db:5432/medsync"
put database_app_password "$app_password"
put database_app_url "postgres://$app_user:$(encode "$app_password")@db:5432/medsync"
put redis_password "$redis"
put redis_url "redis://:$(encode "$redis")@redis:6379/0"
put secret_key "$(value SECRET_KEY)"
put telegram_bot_token "$(value TELEGRAM_BOT_TOKEN)"
put telegram_webhook_secret "$(value TELEGRAM_WEBHOOK_SECRET)"
put status_token "$(value STATUS_TOKEN)"

certs=$(sed -n 's/^TLS_CERT_DIR=//p' "$env_file" | tail -1)
certs=${TLS_CERT_DIR:-${certs:-$root/nginx/certs}}
[[ $certs == /* ]] || certs=$root/$certs
for file in tls.crt tls.key; do
    [[ -f $certs/$file ]] || { echo "swarm-secrets: no $certs/$file (scripts/self-signed-cert.sh makes a pair)" >&2; exit 1; }
    cp "$certs/$file" "$dir/$file"
done
echo "swarm-secrets: wrote $(ls "$dir" | wc -l) files to $dir"
