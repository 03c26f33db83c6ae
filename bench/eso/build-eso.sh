#!/usr/bin/env bash
# Builds External Secrets Operator's controller from the Go module proxy, for the benchmark that
# runs the same scenarios with it (docs/benchmarks.md), and caches the binary outside the repo.
#
#   bench/eso/build-eso.sh        # prints the path of the binary
#
# ESO_VERSION overrides the pinned release; REGCRED_CACHE_DIR the cache root. ESO's go.mod replaces
# one module (sprig): a wrapper module repeats that replace and builds ESO's main package.
set -euo pipefail

ESO_VERSION=${ESO_VERSION:-0.16.2}
CACHE_ROOT=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred}
OUT="$CACHE_ROOT/eso/v$ESO_VERSION"
BIN="$OUT/external-secrets"
log() { echo "[eso] $*" >&2; }

if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/eso.lock"
flock 9
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

command -v go >/dev/null || { log "go is required to build External Secrets Operator"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
STAGE="$OUT.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE/src"
start=$(date +%s)
log "building External Secrets Operator v$ESO_VERSION from the Go module proxy (several minutes; cached in $OUT)"
(
  cd "$STAGE/src"
  go mod init local/eso >/dev/null 2>&1
  go mod edit -replace github.com/Masterminds/sprig/v3=github.com/external-secrets/sprig/v3@v3.3.0
  go get "github.com/external-secrets/external-secrets@v$ESO_VERSION" >/dev/null 2>&1
  go build -trimpath -ldflags='-s -w' -o "$STAGE/external-secrets" github.com/external-secrets/external-secrets
  # Its CRDs, for the test cluster (bundled into one file by the release).
  dir=$(go list -m -f '{{.Dir}}' github.com/external-secrets/external-secrets)
  cp "$dir/deploy/crds/bundle.yaml" "$STAGE/crds.yaml"
)
rm -rf "$STAGE/src"
rm -rf "$OUT"
mv "$STAGE" "$OUT"
log "built in $(( $(date +%s) - start )) s"
echo "$BIN"
