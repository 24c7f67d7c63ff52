#!/usr/bin/env bash
# coldbench vs wrk / hey / a bare aiohttp loop, side by side against one local nginx (issue 8).
#
#   benchmarks/loadgen/run_all.sh [--quick] [--soak-minutes N] [--nginx-only]
#
# In one go: installs wrk, hey and nginx from Debian if missing (root + apt-get), creates the
# venv with `make setup` if missing, starts nginx on 127.0.0.1 (a free port, config, pid and
# logs in a temporary prefix, `return 200 "ok"`), runs compare.py (prints the table), then the
# memory soak if --soak-minutes is given, and stops nginx on every exit path.
#   --quick          shorter runs (a smoke test of the script, figures not comparable)
#   --soak-minutes N after the table, the open-loop memory soak (2,000 req/s for N minutes)
#   --nginx-only     start nginx, print its URL, wait until Ctrl-C (for running pieces by hand)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NGINX_WORKERS="${NGINX_WORKERS:-1}"  # one core for nginx, the other for the client
QUICK=()
SOAK_MINUTES=""
NGINX_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick) ;;
    --soak-minutes) SOAK_MINUTES="${2:?--soak-minutes needs a number}"; shift ;;
    --nginx-only) NGINX_ONLY=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

find_nginx() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }

install_tools() {
  local missing=()
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v hey >/dev/null 2>&1 || missing+=(hey)
  [ -n "$(find_nginx)" ] || missing+=(nginx)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: ${missing[*]} missing; install them (Debian: apt-get install ${missing[*]}) or run as root" >&2
    exit 2
  fi
  echo "installing ${missing[*]} (Debian)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # On a systemd host the package starts its own nginx on port 80 of every interface; this
  # script runs a private one on 127.0.0.1, so the packaged service is stopped again.
  if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null 2>&1 \
     && systemctl is-active --quiet nginx 2>/dev/null; then
    echo "stopping and disabling the nginx.service the package started (port 80)"
    systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_nginx_conf() {  # $1 prefix dir, $2 port
  cat >"$1/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 100000000;  # the default (1000) would close keep-alive connections mid-run
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
EOF
}

stop_nginx() {
  if [ -n "${SLEEP_PID:-}" ]; then kill "$SLEEP_PID" 2>/dev/null || true; fi
  if [ -n "${NGINX_PREFIX:-}" ] && [ -f "$NGINX_PREFIX/nginx.pid" ]; then
    kill -QUIT "$(cat "$NGINX_PREFIX/nginx.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$NGINX_PREFIX/nginx.pid" ] || break; sleep 0.1; done
  fi
  [ -n "${NGINX_PREFIX:-}" ] && rm -rf "$NGINX_PREFIX"
  NGINX_PREFIX=""
}

start_nginx() {
  NGINX_PREFIX="$(mktemp -d /tmp/coldbench-loadgen.XXXXXX)"
  chmod 755 "$NGINX_PREFIX"
  trap stop_nginx EXIT
  trap 'stop_nginx; exit 130' INT TERM
  local port; port="$(free_port)"
  write_nginx_conf "$NGINX_PREFIX" "$port"
  "$(find_nginx)" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log"
  URL="http://127.0.0.1:$port/ok"
  for _ in $(seq 50); do
    "$PY" -c "import urllib.request as u; u.urlopen('$URL', timeout=1).read()" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: nginx did not answer on $URL; see $NGINX_PREFIX/error.log" >&2
  cat "$NGINX_PREFIX/error.log" >&2 || true
  exit 1
}

cd "$REPO"
install_tools
[ -x .venv/bin/python ] || make setup
PY="$REPO/.venv/bin/python"
start_nginx
echo "nginx $("$(find_nginx)" -v 2>&1 | sed 's|.*/||') on $URL ($NGINX_WORKERS worker), $(nproc) cores"
if [ "$NGINX_ONLY" = 1 ]; then
  echo "Ctrl-C stops nginx"
  while true; do  # `wait` (not a foreground sleep) lets the INT/TERM trap run at once
    sleep 3600 & SLEEP_PID=$!
    wait "$SLEEP_PID"
  done
fi
status=0  # 1 when a goal is missed; the soak still runs
"$PY" benchmarks/loadgen/compare.py --url "$URL" "${QUICK[@]}" || status=$?
if [ -n "$SOAK_MINUTES" ]; then
  "$PY" benchmarks/loadgen/memory_soak.py --url "$URL" --minutes "$SOAK_MINUTES" || status=$?
fi
exit "$status"
