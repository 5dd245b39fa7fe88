#!/bin/sh
# A tiny stand-in for a Quantumpay node: a real background process that appends
# to a log and advances a "height" in its data directory once a second.
#
#   node.sh start  DATA_DIR          start it (does nothing if it already runs)
#   node.sh stop   DATA_DIR          stop it and wait until it is gone
#   node.sh status DATA_DIR          exit 0 while it runs, 3 when stopped (like systemctl)
#   node.sh logs   DATA_DIR [SINCE]  print its log (SINCE is accepted and ignored)
#   node.sh show   DATA_DIR          ActiveState= and NRestarts=, like `systemctl show`
#   node.sh memory DATA_DIR          MemoryCurrent= in bytes (its resident memory); 3 when stopped
#   node.sh timesync DATA_DIR        NTPSynchronized= of this machine's clock, as the kernel says
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
        # Written aside and renamed, so a reader never sees a half-written height.
        echo "$h" > "$data/height.new" && mv "$data/height.new" "$data/height"
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
  show)
    # Nothing restarts the demo node on its own, and systemd's NRestarts counts
    # only such automatic restarts: it stays 0.
    if running; then echo "ActiveState=active"; else echo "ActiveState=inactive"; fi
    echo "NRestarts=0"
    ;;
  memory)
    running || { echo "not running"; exit 3; }
    rss=$(ps -o rss= -p "$(cat "$pidfile")" | tr -d ' ')
    echo "MemoryCurrent=$((rss * 1024))"
    ;;
  timesync)
    # timedatectl where systemd runs; otherwise ask the kernel (adjtimex returns
    # TIME_ERROR, 5, while the clock is not synchronized), which is where
    # timedatectl gets its answer too.
    if timedatectl show -p NTPSynchronized 2>/dev/null; then exit 0; fi
    python3 -c 'import ctypes
buf = ctypes.create_string_buffer(512)  # struct timex, modes 0: read only
state = ctypes.CDLL(None).adjtimex(buf)
print("NTPSynchronized=" + ("no" if state in (-1, 5) else "yes"))'
    ;;
  *)
    echo "usage: $0 start|stop|status|logs|show|memory|timesync DATA_DIR" >&2
    exit 2
    ;;
esac
