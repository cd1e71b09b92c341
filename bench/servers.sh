# Shared by bench/run and bench/scale: starting and stopping one server of the bench app, and
# finding Bun. Expects TARGET (the release directory) and LOGS (a log folder) to be set.

SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 30); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

# Installs bench/bun's packages and sets BUN to a working bun binary, or exits.
find_bun() {
  echo "== bun (npm ci in bench/bun)"
  (cd bench/bun && npm ci --no-audit --no-fund --loglevel=error)
  # The bun package's postinstall puts the native binary behind .bin/bun; if install scripts did not
  # run, the platform package still holds it.
  for candidate in bench/bun/node_modules/.bin/bun \
    bench/bun/node_modules/@oven/bun-linux-x64/bin/bun \
    bench/bun/node_modules/@oven/bun-linux-x64-baseline/bin/bun; do
    if [[ -x "$candidate" ]] && "$candidate" --version >/dev/null 2>&1; then
      BUN=$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")
      break
    fi
  done
  [[ -n "$BUN" ]] || { echo "no working bun binary in bench/bun/node_modules" >&2; exit 1; }
  echo "bun $("$BUN" --version) at $BUN"
}

# Starts server $1 on port $2; sets SERVER_PID, or returns 1 with the log's tail on stderr.
start_server() {
  local name=$1 port=$2 log=$LOGS/$1-$2.log
  case "$name" in
    zocket | zocket-msgpack) PORT=$port RUST_LOG=warn "$TARGET/examples/bench_server" >"$log" 2>&1 & ;;
    zocket-1t) PORT=$port BENCH_THREADS=1 RUST_LOG=warn "$TARGET/examples/bench_server" >"$log" 2>&1 & ;;
    zocket-prev) PORT=$port RUST_LOG=warn "${PREV_BENCH_SERVER:?set PREV_BENCH_SERVER to the bench_server of another build}" >"$log" 2>&1 & ;;
    bun) PORT=$port "$BUN" bench/bun/server.ts >"$log" 2>&1 & ;;
    tungstenite) PORT=$port "$TARGET/bench-tungstenite" >"$log" 2>&1 & ;;
    *) echo "unknown server $name" >&2; return 1 ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q "^listening on ws://127.0.0.1:$port" "$log" 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $name did not start on port $port:" >&2
  tail -5 "$log" >&2
  stop_server
  return 1
}

