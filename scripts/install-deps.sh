#!/usr/bin/env bash
# Install what `make demo` (./scripts/install-deps.sh demo), `make test` (... test) or
# `make bench` (... bench) needs, and only what is missing: quiet and quick when everything is
# already there.
#   demo:  MariaDB server + client (Debian packages), uv (from PyPI)
#   test:  the same, plus sysbench, libmariadb-dev + pkg-config + a C compiler (mysqlclient
#          builds from source), openssl and tmux (used by the client tests), haproxy (the
#          bench smoke test runs the benchmark end to end) and chromium (the dashboard's
#          browser test drives Debian's chromium with Playwright; no browser download),
#          etcd-server + etcd-client (the cluster tests start a 3-member etcd on loopback),
#          keepalived (the floating VIP test runs it in network namespaces)
#   bench: the same as test (sysbench and haproxy are what the benchmark drives); matplotlib
#          comes with the Python dev dependencies from uv.lock
set -euo pipefail

mode=${1:-demo}
case "$mode" in
  demo|test|bench) ;;
  *) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac

say() { echo "install-deps: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
have_mariadbd() { have mariadbd || [ -x /usr/sbin/mariadbd ]; }

missing=()
have_mariadbd || missing+=(mariadb-server)
have mariadb || missing+=(mariadb-client)
have mariadb-install-db || [[ " ${missing[*]} " == *" mariadb-server "* ]] || missing+=(mariadb-server)
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  have sysbench || missing+=(sysbench)
  have pkg-config || missing+=(pkg-config)
  { have pkg-config && pkg-config --exists libmariadb; } || missing+=(libmariadb-dev)
  have gcc || missing+=(build-essential)
  have openssl || missing+=(openssl)
  have tmux || missing+=(tmux)
  have haproxy || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  have chromium || [ -x /usr/bin/chromium ] || missing+=(chromium)
  have etcd || missing+=(etcd-server)
  have etcdctl || missing+=(etcd-client)
  have keepalived || [ -x /usr/sbin/keepalived ] || missing+=(keepalived)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif have sudo; then sudo=(sudo); else
    say "missing Debian packages: ${missing[*]}; install them as root:"
    say "  apt-get install -y ${missing[*]}"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "installing ${missing[*]}"
  # Refresh the package lists only when one of the packages is not known yet.
  for pkg in "${missing[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      "${sudo[@]}" apt-get update -qq
      break
    fi
  done
  # Keep the packages from starting system-wide mariadb/etcd/keepalived services: the tests run
  # their own.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# uv (the Python project manager) from PyPI when it is not on PATH yet.
if ! "$(dirname "$0")/uv" --version >/dev/null 2>&1; then
  say "installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages uv
fi
