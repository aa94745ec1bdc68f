#!/usr/bin/env bash
# make-env.sh [OUT] — writes OUT (default .env) from .env.template, replacing every
# "change-me-..." placeholder with a fresh random value. An existing file is never overwritten.
# TELEGRAM_BOT_TOKEN gets a well-formed but fake token: set the real one from @BotFather.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/.env"}
if [[ -e $out ]]; then
    echo "make-env: $out exists; not overwriting it" >&2
    exit 1
fi
random() { openssl rand -hex 24; }
umask 077
while IFS= read -r line; do
    case $line in
        TELEGRAM_BOT_TOKEN=*change-me*) echo "TELEGRAM_BOT_TOKEN=123456789:$(random)" ;;
        [A-Z]*=*change-me*) echo "${line%%=*}=$(random)" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$root/.env.template" >"$out"
echo "make-env: wrote $out (secrets generated; set TELEGRAM_BOT_TOKEN to your bot's token)"
