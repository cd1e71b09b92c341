# Sourced by bench/scale: one broadcast to more connections than one process may open files, over
# several nodes of the bench app on one Redis. Each node gets at most PER_NODE connections from a
# generator process of its own (a process has the same limit): the first node's generator shouts
# once every other one holds its connections and listens (`zocket-bench --listen`). Delays are
# timed from the shout's timestamp on the wall clock, which all the processes share. Expects GEN,
# TARGET, LOGS, RAW and PER_NODE.

CLUSTER_PIDS=()
stop_cluster() {
  local pid
  for pid in "${CLUSTER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${CLUSTER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  CLUSTER_PIDS=()
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status"; } # pid field
sum() { local total=0 x; for x in "$@"; do total=$((total + x)); done; echo "$total"; }

# Waits until file $1 contains $2, while process $3 lives (up to 900 s); 1 if it did not.
wait_for_line() {
  local _
  for _ in $(seq 9000); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Connects $1 clients over ceil($1 / PER_NODE) nodes, sends one broadcast to all, appends a line to
# RAW (label "zocket, nodes on Redis").
scale_cluster() {
  local n=$1 nodes dir redis_port i share gen_pid
  local urls=() pids=() gens=()
  if ! command -v redis-server >/dev/null; then
    echo "skipping $n connections over nodes: no redis-server" >&2
    return 0
  fi
  nodes=$(((n + PER_NODE - 1) / PER_NODE))
  dir=$LOGS/scale-cluster-$n
  rm -rf "$dir" && mkdir -p "$dir"
  echo "== $n connections over $nodes nodes of one app on one Redis"
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$dir/redis.log" 2>&1 &
  local redis_pid=$!
  CLUSTER_PIDS+=("$redis_pid")
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done
  for i in $(seq "$nodes"); do
    PORT=0 REDIS_URL="redis://127.0.0.1:$redis_port" RUST_LOG=warn "$TARGET/examples/bench_server" \
      >"$dir/node-$i.out" 2>"$dir/node-$i.log" &
    CLUSTER_PIDS+=($!) pids+=($!)
    wait_for_line "$dir/node-$i.out" "^listening on" "$!" || { echo "   node $i did not start" >&2; stop_cluster; return 0; }
    urls+=("$(sed -n 's/^listening on \(ws:.*\)$/\1\//p' "$dir/node-$i.out")")
  done
  until [[ "$(redis-cli -p "$redis_port" pubsub numsub zocket:all | tail -1)" == "$nodes" ]]; do sleep 0.1; done
  local rss_before=() rss_after=() peak=() cpu_before=() cpu_after=()
  for i in "${pids[@]}"; do rss_before+=("$(status_kib "$i" VmRSS)"); done
  local began
  began=$(date +%s.%N)
  # Listeners first (nodes 2..), each ready before the next starts; then the shouter on node 1.
  for i in $(seq "$nodes" -1 1); do
    share=$((n / nodes + (i <= n % nodes ? 1 : 0)))
    # Held 10 s after the shout: no process closes its connections before all have heard it.
    local role=(--listen --drain 600 --settle 1 --hold 10)
    ((i == 1)) && role=(--fanout --drain 600 --settle 3 --hold 10)
    "$GEN" --url "${urls[i - 1]}" --scenario idle --clients "$share" "${role[@]}" --concurrency 500 \
      --pid "${pids[i - 1]}" --label "zocket node $i" --delays "$dir/delays-$i" \
      >"$dir/gen-$i.json" 2>"$dir/gen-$i.err" &
    gen_pid=$!
    CLUSTER_PIDS+=("$gen_pid") gens+=("$gen_pid")
    local ready="idle: listening"
    ((i == 1)) && ready="idle: holding"
    if ! wait_for_line "$dir/gen-$i.err" "$ready" "$gen_pid"; then
      echo "   generator $i failed: $(tail -1 "$dir/gen-$i.err")" >&2
      stop_cluster
      return 0
    fi
  done
  # Every connection is open; the shouter waits its settle time, then shouts.
  local setup_s
  setup_s=$(python3 -c "import time; print(round(time.time() - $began, 2))")
  for i in "${pids[@]}"; do
    rss_after+=("$(status_kib "$i" VmRSS)")
    cpu_before+=("$(cpu_ticks "$i")")
  done
  cpu_before+=("$(cpu_ticks "$redis_pid")")
  # The broadcast's CPU: until every generator heard it (each then closes its connections, and
  # reports the CPU its node took for that).
  local heard=0
  for _ in $(seq 6000); do
    heard=$( (grep -l "idle: heard" "$dir"/gen-*.err 2>/dev/null || true) | wc -l)
    ((heard == nodes)) && break
    sleep 0.1
  done
  for i in "${pids[@]}"; do
    cpu_after+=("$(cpu_ticks "$i")")
    peak+=("$(status_kib "$i" VmHWM)")
  done
  cpu_after+=("$(cpu_ticks "$redis_pid")")
  local failed=0
  for gen_pid in "${gens[@]}"; do wait "$gen_pid" || failed=1; done
  stop_cluster
  if ((failed)); then
    echo "   a generator failed: $(tail -qn1 "$dir"/gen-*.err | sort -u | head -3)" >&2
    return 0
  fi
  python3 - "$RAW" "$dir" "$n" "$nodes" "$setup_s" "$(sum "${rss_before[@]}")" "$(sum "${rss_after[@]}")" \
    "$(sum "${peak[@]}")" "$(sum "${cpu_before[@]:0:nodes}")" "$(sum "${cpu_after[@]:0:nodes}")" \
    "${cpu_before[nodes]}" "${cpu_after[nodes]}" "$(getconf CLK_TCK)" <<'PY'
import glob, json, os, sys
raw, d, n, nodes, setup_s, rss0, rss1, peak, cpu0, cpu1, r0, r1, tck = sys.argv[1:]
n, nodes, tck = int(n), int(nodes), int(tck)
reports = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, "gen-*.json")))]
delays = sorted(float(x) for p in glob.glob(os.path.join(d, "delays-*")) for x in open(p) if x.strip())
lost = sum(r["fanout"]["lost"] for r in reports)
at = lambda q: round(delays[round((len(delays) - 1) * q)], 3) if delays else 0.0
connections = sum(r["connections"] for r in reports)
row = {
    "label": "zocket, nodes on one Redis", "server": "zocket-cluster", "nodes": nodes, "count": n,
    "connections": connections, "setup_s": float(setup_s),
    "mem_per_conn_kib": (int(rss1) - int(rss0)) / connections,
    "server_rss_after_kib": int(rss1), "server_peak_rss_kib": int(peak),
    "fanout": {"delivered": len(delays), "lost": lost, "p50_ms": at(0.5), "p99_ms": at(0.99),
               "last_ms": at(1.0), "server_cpu_s": round((int(cpu1) - int(cpu0)) / tck, 2),
               "close_cpu_s": round(sum(r["fanout"].get("close_cpu_s") or 0 for r in reports), 2)},
    "redis_cpu_s": round((int(r1) - int(r0)) / tck, 2),
}
open(raw, "a").write(json.dumps(row) + "\n")
f = row["fanout"]
print(f"   {connections} connections on {nodes} nodes in {row['setup_s']:.1f} s, "
      f"{row['mem_per_conn_kib']:.2f} KiB each, peak RSS {int(peak) / 1024:.0f} MiB (nodes summed); one broadcast: "
      f"last delivery after {f['last_ms']:.0f} ms (p50 {f['p50_ms']:.0f} ms), {f['server_cpu_s']} node CPU-s "
      f"+ {row['redis_cpu_s']} Redis CPU-s, lost {f['lost']}; closing them: {f['close_cpu_s']} node CPU-s")
PY
}
