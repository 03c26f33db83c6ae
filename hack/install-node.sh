#!/usr/bin/env bash
# Installs the pinned Node.js release (hack/node-release.env) into the cache and prints its bin folder:
#   ${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/regcred}/node-<version>/bin/node
# The Makefile puts that folder first on PATH for every recipe, so builds, tests, benchmarks, the demo
# and every `node` they start run on it. The binary is the npm registry's node-linux-<arch> package
# (the official build), fetched with the machine's own npm (`npm pack`, which checks the registry's
# integrity) and checked again against the integrity recorded in hack/node-release.env. Needs only
# npm and the Node.js it runs on (any version npm supports), tar and flock.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=node-release.env
source "$ROOT/hack/node-release.env"

log() { echo "[node] $*" >&2; }

case "$(uname -m)" in
  x86_64) ARCH=x64 INTEGRITY=$NODE_INTEGRITY_X64 ;;
  aarch64 | arm64) ARCH=arm64 INTEGRITY=$NODE_INTEGRITY_ARM64 ;;
  *) log "no pinned Node.js build for $(uname -m)"; exit 1 ;;
esac

CACHE_ROOT=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred}
OUT="$CACHE_ROOT/node-$NODE_VERSION"
installed() { [[ -x "$OUT/bin/node" && "$("$OUT/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; }
if installed; then
  echo "$OUT/bin"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
# One installer at a time; the check is repeated under the lock.
exec 9>"$CACHE_ROOT/node.lock"
flock 9
if installed; then
  echo "$OUT/bin"
  exit 0
fi

command -v npm >/dev/null || { log "npm is required to fetch Node.js $NODE_VERSION (Debian: apt-get install nodejs npm)"; exit 1; }
PKG="node-linux-$ARCH@$NODE_VERSION"
log "installing Node.js $NODE_VERSION ($PKG from the npm registry) into $OUT (first run only; cached after)"
TMP=$(mktemp -d "$CACHE_ROOT/node-$NODE_VERSION.partial.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent --no-audit --no-fund "$PKG" >/dev/null)
TGZ="$TMP/node-linux-$ARCH-$NODE_VERSION.tgz"
[[ -f "$TGZ" ]] || { log "npm pack $PKG wrote no $TGZ"; exit 1; }
# The integrity npm checked came from the registry; this one is the repository's own record.
ACTUAL="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$TGZ")"
if [[ "$ACTUAL" != "$INTEGRITY" ]]; then
  log "$PKG: integrity $ACTUAL, expected $INTEGRITY (hack/node-release.env)"
  exit 1
fi
mkdir "$TMP/node"
tar -xzf "$TGZ" -C "$TMP/node" --strip-components=1 --no-same-owner
[[ "$("$TMP/node/bin/node" --version)" == "v$NODE_VERSION" ]] || { log "$PKG holds no working Node.js $NODE_VERSION"; exit 1; }
rm -rf "$OUT"
mv "$TMP/node" "$OUT"
log "Node.js $NODE_VERSION ready: $OUT/bin/node"
echo "$OUT/bin"
