#!/usr/bin/env bash
# Builds the `helm` CLI from the Go module proxy and caches it outside the repo, like the control
# plane binaries (build-controlplane.sh). Prints the path of the binary.
#
# REGCRED_HELM=/path/helm   use a ready binary instead (nothing is built)
# REGCRED_CACHE_DIR=/dir    cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/regcred)
# HELM_VERSION              overrides the pinned release
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-3.19.5}
log() { echo "[helm] $*" >&2; }

if [[ -n "${REGCRED_HELM:-}" ]]; then
  [[ -x "$REGCRED_HELM" ]] || { log "REGCRED_HELM=$REGCRED_HELM is not executable"; exit 1; }
  echo "$REGCRED_HELM"
  exit 0
fi

CACHE_ROOT=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred}
OUT="$CACHE_ROOT/helm/v$HELM_VERSION"
if [[ -x "$OUT/helm" ]]; then
  echo "$OUT/helm"
  exit 0
fi
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/helm.lock"
flock 9
if [[ -x "$OUT/helm" ]]; then
  echo "$OUT/helm"
  exit 0
fi
command -v go >/dev/null || { log "go is required to build helm (or set REGCRED_HELM)"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
log "cold build of helm v$HELM_VERSION from the Go module proxy (cached in $OUT)"
STAGE="$OUT.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE"
GOBIN="$STAGE" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >&2
rm -rf "$OUT"
mv "$STAGE" "$OUT"
log "built in $(( $(date +%s) - start )) s"
echo "$OUT/helm"
