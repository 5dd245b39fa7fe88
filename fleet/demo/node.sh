#!/bin/sh
# A tiny stand-in for a Quantumpay node: a real background process that appends
# to a log and advances a "height" in its data directory once a second.
#
#   node.sh start  DATA_DIR          start it (does nothing if it already runs)
#   node.sh stop   DATA_DIR          stop it and wait until it is gone
#   node.sh status DATA_DIR          exit 0 while it runs, 3 when stopped (like systemctl)
#   node.sh logs   DATA_DIR [SINCE]  print its log (SINCE is accepted and ignored)
#
# The log and pid file live next to DATA_DIR, as a journal would live outside
# the node's state.
set -eu
action=$1
data=$2
home=$(dirname "$data")
pidfile=$home/node.pid
log=$home/node.log

# Alive and not a zombie waiting for init to reap it.
alive() {
  kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"
}

running() {
  [ -f "$pidfile" ] && alive "$(cat "$pidfile")"
}

case $action in
  start)
    mkdir -p "$data"
    if running; then echo "already running (pid $(cat "$pidfile"))"; exit 0; fi
    [ -f "$data/height" ] || echo 0 > "$data/height"
    nohup sh -c '
      data=$1; log=$2
      # Sleep in the background and wait for it, so SIGTERM is handled at once.
      trap '"'"'kill $s 2>/dev/null; exit 0'"'"' TERM
      while :; do
        h=$(( $(cat "$data/height") + 1 ))
        echo "$h" > "$data/height"
        echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) quantumpay-node: imported block height=$h" >> "$log"
        sleep 1 & s=$!
        wait $s
      done' demo-node "$data" "$log" >/dev/null 2>&1 &
    echo $! > "$pidfile"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) quantumpay-node: started pid $!" >> "$log"
    echo "started (pid $!)"
    ;;
  stop)
    if running; then
      pid=$(cat "$pidfile")
      kill "$pid"
      i=0
      while alive "$pid" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
      echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) quantumpay-node: stopped by operator" >> "$log"
      echo "stopped (pid $pid)"
    else
      echo "not running"
    fi
    ;;
  status)
    if running; then echo "active"; exit 0; else echo "inactive"; exit 3; fi
    ;;
  logs)
    cat "$log"
    ;;
  *)
    echo "usage: $0 start|stop|status|logs DATA_DIR" >&2
    exit 2
    ;;
esac
