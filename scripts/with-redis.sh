#!/usr/bin/env bash
# Runs a command with a Redis to talk to: the one at LATCHKEY__REDIS__URL (default
# redis://127.0.0.1:6379) when it answers, else a throw-away redis-server on a free port,
# stopped when the command ends. Used by `make test` so the tests pass on a machine
# whose only Redis is the redis-server binary.
set -euo pipefail

url="${LATCHKEY__REDIS__URL:-redis://127.0.0.1:6379}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$port" = "$hostport" ] && port=6379

answers() { # $1 host, $2 port: a PING gets a PONG (in a subshell, so that the
  # redirections of a failed connection do not outlive the probe)
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf 'PING\r\n' >&3
    reply=""
    read -r -t 2 reply <&3 || true
    [[ "$reply" == +PONG* ]]
  ) 2>/dev/null
}

if answers "$host" "$port"; then
  exec "$@"
fi

command -v redis-server >/dev/null || {
  echo "no Redis answers at $url and redis-server is not installed (apt-get install redis-server)" >&2
  exit 2
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 16379)
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do answers 127.0.0.1 "$port" && break; sleep 0.1; done
echo "with-redis: no Redis at $url; using a redis-server of our own on port $port" >&2
LATCHKEY__REDIS__URL="redis://127.0.0.1:$port" "$@"
