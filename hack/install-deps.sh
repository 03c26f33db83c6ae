#!/usr/bin/env bash
# Installs what the tests need and a fresh machine may lack. Idempotent: checks before it installs.
#   hack/install-deps.sh            the pinned Node.js (hack/install-node.sh) and the Debian packages the
#                                   tests use (openssl, flock, python3-venv, docker-registry, skopeo)
#   hack/install-deps.sh kubectl    also kubectl (the benchmarks)
# Node packages come from `npm ci`; the control-plane binaries from test/harness/build-controlplane.sh.
set -euo pipefail

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v flock >/dev/null || need_apt+=(util-linux)
command -v python3 >/dev/null || need_apt+=(python3)
# The ecr provider's tests install moto (PyPI) into a venv: Debian ships ensurepip in python3-venv.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
# The registry end-to-end tests: a real registry (CNCF distribution) and skopeo as its client.
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v skopeo >/dev/null || need_apt+=(skopeo)
for extra in "$@"; do
  case "$extra" in
    kubectl) command -v kubectl >/dev/null || need_apt+=(kubernetes-client) ;;
    *) need_apt+=("$extra") ;;
  esac
done

if ((${#need_apt[@]})); then
  echo "[deps] installing Debian packages: ${need_apt[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "[deps] Go is required to build the test control plane (or set REGCRED_TEST_BINARIES)" >&2; exit 1; }
# Any Node.js with npm fetches the pinned release; everything else runs on that one (the Makefile's PATH).
command -v npm >/dev/null || { echo "[deps] npm (and a Node.js it runs on) is required to fetch the pinned Node.js" >&2; exit 1; }
bash "$(dirname "$0")/install-node.sh" >/dev/null
