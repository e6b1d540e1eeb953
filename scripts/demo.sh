#!/usr/bin/env bash
# What `docker compose up` does, with local binaries: a redis-server with AOF
# persistence and `pixelgate serve` on it. Mailpit (the compose file's demo
# ESP) is not available outside containers, so messages go to the outbox
# directory instead: every message pixelgate would hand to the ESP is written
# there as an .eml file.
#
#   scripts/demo.sh [extra serve flags]
#
# DEMO_DIR        where Redis and pixelgate keep their data, secrets
#                 included (default ./demo, ignored by git)
# PIXELGATE_BIN   a pixelgate binary to use (default: built into bin/)
# DEMO_HTTP_PORT  pixelgate's HTTP port on 127.0.0.1 (default 8080)
# DEMO_SMTP_PORT  pixelgate's SMTP relay port on 127.0.0.1 (default 2525)
# DEMO_REDIS_PORT Redis port on 127.0.0.1 (default: the first free from
#                 6380; REDIS_PORT is read too)
#
# `make demo DEMO_HTTP_PORT=8081 DEMO_SMTP_PORT=2526` sets them from make.
# Extra serve flags come last and win, e.g. --http-addr 127.0.0.1:0.
#
# Ctrl-C (or SIGTERM) stops pixelgate, then Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v redis-server >/dev/null || { echo "demo: redis-server not found (apt-get install redis-server)" >&2; exit 1; }
command -v redis-cli >/dev/null || { echo "demo: redis-cli not found (apt-get install redis-tools)" >&2; exit 1; }

demo=${DEMO_DIR:-./demo}
mkdir -p "$demo/redis" "$demo/pixelgate"
chmod 700 "$demo" "$demo/redis" "$demo/pixelgate"
demo=$(cd "$demo" && pwd)

bin=${PIXELGATE_BIN:-}
if [ -z "$bin" ]; then
  echo "demo: building bin/pixelgate"
  go build -o bin/pixelgate ./cmd/pixelgate
  bin=$PWD/bin/pixelgate
fi

# A free loopback port: nothing answers a TCP connection on it.
port=${DEMO_REDIS_PORT:-${REDIS_PORT:-}}
if [ -z "$port" ]; then
  port=6380
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
fi

redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
  --dir "$demo/redis" --appendonly yes --appendfsync everysec \
  --save "3600 1 300 100 60 10000" --daemonize no --logfile "$demo/redis/redis.log" &
redis_pid=$!
serve_pid=
stop() {
  trap - INT TERM EXIT
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  redis-cli -p "$port" shutdown >/dev/null 2>&1 || kill -TERM "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  echo "demo: stopped; data kept in $demo"
}
trap stop INT TERM EXIT

for _ in $(seq 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null || { echo "demo: redis-server did not start; see $demo/redis/redis.log" >&2; exit 1; }
echo "demo: redis-server on 127.0.0.1:$port (AOF in $demo/redis)"
echo "demo: outbox (what the ESP would receive): $demo/pixelgate/outbox"

http_port=${DEMO_HTTP_PORT:-8080}
smtp_port=${DEMO_SMTP_PORT:-2525}
for p in "$http_port" "$smtp_port" "$port"; do
  case $p in
    ''|*[!0-9]*) echo "demo: port \"$p\" is not a number" >&2; exit 2 ;;
  esac
done

# The public URL (base of pixel, consent and setup links) names the same
# HTTP port.
"$bin" serve --redis-url "redis://127.0.0.1:$port/0" --data-dir "$demo/pixelgate" \
  --http-addr "127.0.0.1:$http_port" --public-url "http://127.0.0.1:$http_port" \
  --smtp-addr "127.0.0.1:$smtp_port" "$@" &
serve_pid=$!
wait "$serve_pid"
