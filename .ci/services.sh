# Start throwaway PostgreSQL and Redis servers on loopback; sourced by .ci/run and bench/run.sh.
# Sets DATABASE_URL_PG and REDIS_URL; `services_stop` (installed as an EXIT trap) stops both.

PG_BIN=${QPGOV_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${QPGOV_CI_PG_PORT:-54329}
REDIS_PORT=${QPGOV_CI_REDIS_PORT:-63799}
SERVICES_DIR=$(mktemp -d /tmp/qpgov-services.XXXXXX)
chmod 755 "$SERVICES_DIR"

services_install() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  [ -x "$PG_BIN/initdb" ] || need+=(postgresql)
  need+=("$@")
  local missing=()
  for pkg in "${need[@]}"; do
    case $pkg in
      redis-server|postgresql) missing+=("$pkg") ;;
      *) dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg") ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

services_stop() {
  set +e
  [ -f "$SERVICES_DIR/redis.pid" ] && kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null
  [ -d "$SERVICES_DIR/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg" -m fast -w stop >/dev/null 2>&1
  rm -rf "$SERVICES_DIR"
}

services_start() {
  trap services_stop EXIT
  echo "== starting PostgreSQL on 127.0.0.1:$PG_PORT"
  mkdir -p "$SERVICES_DIR/pg" && chown postgres: "$SERVICES_DIR/pg"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$SERVICES_DIR/pg" -U qpgov --auth=trust -E UTF8 >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg" -l "$SERVICES_DIR/pg/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $SERVICES_DIR/pg -c fsync=off -c max_connections=200" start >/dev/null
  runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U qpgov qpgov

  echo "== starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

  DATABASE_URL_PG="postgres://qpgov@127.0.0.1:$PG_PORT/qpgov"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  export QPGOV_PG_BIN="$PG_BIN" QPGOV_PG_DATA="$SERVICES_DIR/pg"
}
