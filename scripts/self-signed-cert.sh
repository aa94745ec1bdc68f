#!/usr/bin/env bash
# self-signed-cert.sh [DIR] [HOST] — writes DIR/tls.crt and DIR/tls.key (default nginx/certs,
# localhost): a self-signed pair to try the production stack locally. Replace it with a real
# certificate (e.g. from Let's Encrypt) before serving the internet. An existing pair is kept.
set -euo pipefail

dir=${1:-"$(cd "$(dirname "$0")/.." && pwd)/nginx/certs"}
host=${2:-localhost}
mkdir -p "$dir"
if [[ -s $dir/tls.crt && -s $dir/tls.key ]]; then
    echo "self-signed-cert: $dir already has tls.crt and tls.key; keeping them"
    exit 0
fi
openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" \
    -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" 2>/dev/null
# nginx runs as uid 101 inside its container and must read the key; nobody else may.
chmod 0644 "$dir/tls.crt"
chmod 0600 "$dir/tls.key"
if [[ $(id -u) == 0 ]]; then
    chown 101:101 "$dir/tls.key"
else
    # Without root the key cannot be given to uid 101: readable by all, and said so.
    chmod 0644 "$dir/tls.key"
    echo "self-signed-cert: warning: $dir/tls.key is world-readable (not run as root);" \
        "make it nginx's alone with: sudo chown 101:101 $dir/tls.key && sudo chmod 0600 $dir/tls.key" >&2
fi
echo "self-signed-cert: wrote $dir/tls.crt and $dir/tls.key for $host (valid 365 days)"
