#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go module proxy, the way
# controller-runtime's envtest expects to find them, and caches them outside the repo.
#
#   test/harness/build-controlplane.sh            # prints the folder holding the binaries
#
# REGCRED_TEST_BINARIES=/dir  use ready binaries from /dir instead (nothing is built)
# REGCRED_CACHE_DIR=/dir      cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/regcred)
# KUBE_VERSION / ETCD_VERSION override the pinned releases.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging modules (k8s.io/api,
# k8s.io/client-go, ...) with ./staging paths. A wrapper module replaces each of them with the
# published v0.<minor>.<patch> of the same release instead.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}

log() { echo "[controlplane] $*" >&2; }

if [[ -n "${REGCRED_TEST_BINARIES:-}" ]]; then
  for b in etcd kube-apiserver kube-controller-manager; do
    [[ -x "$REGCRED_TEST_BINARIES/$b" ]] || { log "REGCRED_TEST_BINARIES=$REGCRED_TEST_BINARIES has no executable $b"; exit 1; }
  done
  echo "$REGCRED_TEST_BINARIES"
  exit 0
fi

CACHE_ROOT=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred}
OUT="$CACHE_ROOT/controlplane/k8s-v$KUBE_VERSION-etcd-v$ETCD_VERSION"
if [[ -x "$OUT/etcd" && -x "$OUT/kube-apiserver" && -x "$OUT/kube-controller-manager" ]]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
# One build at a time: parallel test files would otherwise all start a cold build.
exec 9>"$CACHE_ROOT/controlplane.lock"
flock 9
if [[ -x "$OUT/etcd" && -x "$OUT/kube-apiserver" && -x "$OUT/kube-controller-manager" ]]; then
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || { log "go is required to build the test control plane (or set REGCRED_TEST_BINARIES)"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
STAGE="$OUT.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE"
start=$(date +%s)

log "cold build of kube-apiserver and kube-controller-manager v$KUBE_VERSION and etcd v$ETCD_VERSION from the Go module proxy"
log "this takes several minutes on a small machine; binaries are cached in $OUT"

# --- kubernetes ---
W="$STAGE/src-kubernetes"
mkdir -p "$W"
(
  cd "$W"
  go mod init local/controlplane >/dev/null 2>&1
  GOMOD=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | python3 -c 'import sys,json;print(json.load(sys.stdin)["GoMod"])')
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$GOMOD")
  [[ -n "$staging" ]] || { log "found no staging replaces in $GOMOD"; exit 1; }
  for m in $staging; do
    go mod edit -replace="$m=$m@v0.${KUBE_VERSION#1.}"
  done
  cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
EOF
  log "resolving k8s.io/kubernetes@v$KUBE_VERSION modules"
  go get "k8s.io/kubernetes@v$KUBE_VERSION" >/dev/null 2>&1 || go get "k8s.io/kubernetes@v$KUBE_VERSION"
  MINOR=$(echo "$KUBE_VERSION" | cut -d. -f2)
  LD="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
  LD="$LD -X k8s.io/component-base/version.gitMinor=$MINOR -X k8s.io/client-go/pkg/version.gitVersion=v$KUBE_VERSION"
  LD="$LD -X k8s.io/component-base/version.gitTreeState=clean"
  for b in kube-apiserver kube-controller-manager; do
    log "building $b (go build)"
    go build -trimpath -tags selinux,notest -ldflags "$LD" -o "$STAGE/$b" "k8s.io/kubernetes/cmd/$b"
  done
)

# --- etcd --- (server/v3 has replace directives of its own, so it needs a wrapper module too)
W="$STAGE/src-etcd"
mkdir -p "$W"
(
  cd "$W"
  go mod init local/etcd >/dev/null 2>&1
  log "building etcd v$ETCD_VERSION"
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3
)

rm -rf "$STAGE/src-kubernetes" "$STAGE/src-etcd"
rm -rf "$OUT"
mv "$STAGE" "$OUT"
log "built in $(( $(date +%s) - start ))s: $OUT"
echo "$OUT"
