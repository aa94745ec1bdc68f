#!/usr/bin/env bash
# browser-test.sh [SCRIPT] — runs a browser test of e2e/browser in headless Chromium:
# book.mjs (the default: a person books through tgsim's chat page) or webapp.mjs (the web app
# and the Mini App; see its header for its environment).
#
# Needs a running tgsim with the bot polling it (e.g. the dev compose profile), Chromium
# (Debian: apt-get install chromium) and Node.js >= 20 with npm. Installs e2e/browser's
# pinned playwright-core from the npm registry when needed (no browser download), then runs
# e2e/browser/book.mjs, which sends /start and /book and presses the bot's inline buttons until
# it says "Booked", and saves a screenshot to $ARTIFACT_DIR/tgsim-booking.png.
# (Without an emoji font, e.g. Debian's fonts-noto-color-emoji, the bot's emoji show as boxes
# in the screenshot; the test does not care.)
#
# Environment (passed through to book.mjs):
#   TGSIM_URL     tgsim's base URL (default http://127.0.0.1:8090)
#   BOT_TOKEN     the bot's token (default: the one tgsim puts in its page, --default-token)
#   TG_USER       the Telegram user id to pick on the page (default: the first one)
#   ARTIFACT_DIR  screenshots (default target/artifacts, relative to the repository root)
#   CHROMIUM      the Chromium binary (default /usr/bin/chromium)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dir=e2e/browser

fail() { echo "browser-test: $*" >&2; exit 1; }

export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] \
    || fail "no Chromium at $CHROMIUM: install it (Debian: apt-get install chromium) or set CHROMIUM to its binary"
command -v node >/dev/null || fail "node is not installed (Node.js >= 20 needed; Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || fail "npm is not installed (Debian: apt-get install npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || fail "node $(node --version) is too old: playwright-core needs Node.js >= 20"

# (Re)install when node_modules is missing or older than the lockfile. npm keeps its own
# record of what it installed in node_modules/.package-lock.json.
if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    echo "browser-test: npm ci in $dir"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

script=${1:-book.mjs}
[[ -f $dir/$script ]] || fail "no $dir/$script"
exec node "$dir/$script"
