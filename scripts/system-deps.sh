#!/usr/bin/env bash
# Installs the system packages the test suite's real servers and consumers need (Prometheus,
# Redis, wrk for the benchmarks, headless Chromium and a font to check every HTML report,
# PostgreSQL for the shared audit store's tests), from the distribution's packages, when they
# are missing.
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v redis-server >/dev/null || need+=(redis-server)
command -v wrk >/dev/null || need+=(wrk)
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
# Debian keeps the server's binaries off PATH, under /usr/lib/postgresql/<major>/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-deps: install ${need[*]} with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
