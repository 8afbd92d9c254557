#!/usr/bin/env bash
# The test command: provisions real PostgreSQL and Redis on loopback ports in a temporary
# folder, runs the whole suite against them, then the SQLite (embedded default) pass, and
# stops the servers. Extra arguments go to the PostgreSQL pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --system

work=$(mktemp -d /tmp/fashionid-test.XXXXXX)
chmod 755 "$work"
PGBIN=/usr/lib/postgresql/15/bin
as_pg() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PGPORT=$(free_port); REDISPORT=$(free_port)

cleanup() {
  as_pg "$PGBIN/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  [[ -f $work/redis.pid ]] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg" "$work/redis"
[[ $(id -u) -eq 0 ]] && chown postgres "$work/pg"
as_pg "$PGBIN/initdb -D $work/pg -U postgres -A trust -E UTF8 --no-locale" >"$work/initdb.log"
as_pg "$PGBIN/pg_ctl -D $work/pg -l $work/pg/server.log -w -o '-p $PGPORT -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200' start" >/dev/null
redis-server --port "$REDISPORT" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis/redis.log"
for _ in $(seq 50); do redis-cli -p "$REDISPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "test: PostgreSQL on 127.0.0.1:$PGPORT, Redis on 127.0.0.1:$REDISPORT"

export SECRET_KEY=test-only-secret HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DJANGO_ALLOW_ASYNC_UNSAFE=true
export FASHIONID_VAR_DIR="$work/var" TOKENIZERS_PARALLELISM=false

echo "== pass 1: PostgreSQL + Redis (whole suite)"
DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/fashionid" REDIS_URL="redis://127.0.0.1:$REDISPORT/0" \
  .venv/bin/python -m pytest -q "$@"

echo "== pass 2: embedded default (SQLite, jobs inline)"
env -u DATABASE_URL -u REDIS_URL .venv/bin/python -m pytest -q -m "sqlite"
