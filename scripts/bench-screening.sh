#!/usr/bin/env bash
# Order screening load benchmark (issue 4, "Speed"): the gateway's
# POST /api/v1/orders under load, with a real Redis and minFraud served
# locally, against Redis's own ceiling for the velocity script.
#
# It starts, all on loopback, in a temporary directory:
#   redis-server   private, on a free port, no persistence (appendonly no,
#                  no snapshots): the benchmark measures the gateway, not disk
#   gateway        built from this tree, on that Redis, with a storefront API
#                  key, the country database of ../shared/testdata/geo, and
#                  minFraud pointed at the stub below (loopback http)
#   loadorders     scripts/loadorders: WORKERS concurrent requests, COUNT new
#                  orders at most, DURATION at most, after WARMUP orders; it
#                  also serves the minFraud stub, which replays MaxMind's
#                  Score fixture
# and prints:
#   - the load generator's figures: orders/s, p50/p99/max latency, answers
#     by status and by decision, minFraud calls answered;
#   - Redis per order, from INFO before and after the load: commands by name
#     (INFO commandstats; a script's own commands are counted too, under
#     their names) and round trips (INFO stats total_reads_processed: one
#     read event per request or pipeline the server received);
#   - Redis's ceiling for the velocity script alone: redis-benchmark calling
#     EVALSHA with one full order's KEYS and ARGV (scripts/velocitycall),
#     identifiers and order drawn from RANDKEYS values per call;
#   - the ratio of the gateway's orders/s to that ceiling.
#
# Everything shares this machine's cores: the load generator, the minFraud
# stub, the gateway and Redis (and redis-benchmark, run after the load).
# The figures are for comparison on the same machine, not capacity.
#
# Usage: scripts/bench-screening.sh
# Environment:
#   WORKERS=8 COUNT=60000 DURATION=20s WARMUP=2000   load settings
#   RATE=0           orders/s at most (0: as fast as the gateway answers);
#                    two builds compared at one rate below both their
#                    ceilings get the same load, so their CPU per order is
#                    not skewed by one of them saturating the machine
#   CEILING_CALLS=100000 CEILING_CLIENTS=16 RANDKEYS=20000  redis-benchmark
#   LOG_LEVEL=info   the gateway's log level (info logs a line per order)
#   BENCH_GATEWAY_BIN=path a gateway binary to measure instead of building this
#                    tree's (to compare two versions with the same load)
#   KEEP=1           keep the work directory (logs)
#   BENCH_COUNTRY_DB=file  the country database (default: the shared
#                    testdata next to the checkout)
#   BENCH_PPROF=file  also take a 10 s CPU profile of the gateway under load
#                    (turns on admin_pprof) and write it to file, and the
#                    allocations of the same 10 s to file.allocs
#   IDLE=5s          after the run, the gateway's CPU while nothing is sent
#                    (a gateway at rest should use next to none)
# Bounded: the load stops after DURATION, every wait has a timeout, and the
# whole run takes about a minute plus the build.
set -euo pipefail

cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local LC_ALL=C

WORKERS="${WORKERS:-8}"
COUNT="${COUNT:-60000}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-2000}"
RATE="${RATE:-0}"
CEILING_CALLS="${CEILING_CALLS:-100000}"
CEILING_CLIENTS="${CEILING_CLIENTS:-16}"
RANDKEYS="${RANDKEYS:-20000}"
LOG_LEVEL="${LOG_LEVEL:-info}"
DB="${BENCH_COUNTRY_DB:-../shared/testdata/geo/geo-whois-asn-country.mmdb}"
MINFRAUD_ANSWER=screening/minfraud/testdata/python-score-response.json

# The gateway reads GATEWAY_* variables as configuration and refuses
# unknown ones: only the ones set below must reach it.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^GATEWAY_' || true)

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

for tool in redis-server redis-cli redis-benchmark curl go; do
	command -v "$tool" >/dev/null || die "$tool is not on PATH (apt-get install redis-server redis-tools curl)"
done
[[ -f $DB ]] || die "no country database at $DB"

# ---------------------------------------------------------------------------
# Work directory, processes, cleanup
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-screening.XXXXXX")"
PIDS=()
cleanup() {
	local status=$?
	stop_pids "${PIDS[@]}"
	if ((status != 0)); then
		show_logs 20 "$WORK"/*.log
	fi
	if [[ -n ${KEEP:-} ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building the gateway and the benchmark tools (work dir $WORK)"
if [[ -n ${BENCH_GATEWAY_BIN:-} ]]; then
	cp "$BENCH_GATEWAY_BIN" "$WORK/gateway"
else
	go build -o "$WORK/gateway" ./cmd/gateway
fi
go build -o "$WORK/loadorders" ./scripts/loadorders
go build -o "$WORK/velocitycall" ./scripts/velocitycall
go build -o "$WORK/freeport" ./internal/testenv/cmd/freeport

mapfile -t ports < <("$WORK/freeport" -n 4)
REDIS_PORT=${ports[0]} GW_PORT=${ports[1]} GW_ADMIN_PORT=${ports[2]} STUB_PORT=${ports[3]}
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

log "starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" \
	--save '' --appendonly no --daemonize no --logfile '' >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_until 15 "$REDIS_PID" redis-server rcli ping || die "redis-server did not start"

API_KEY="bench-$(random_hex 24)"
KEY_HASH="$(printf '%s' "$API_KEY" | "$WORK/gateway" hash-key)"

log "starting the gateway on 127.0.0.1:$GW_PORT (admin $GW_ADMIN_PORT), minFraud at 127.0.0.1:$STUB_PORT"
GATEWAY_LISTEN="127.0.0.1:$GW_PORT" \
	GATEWAY_ADMIN_LISTEN="127.0.0.1:$GW_ADMIN_PORT" \
	GATEWAY_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
	GATEWAY_AUTH_API_KEYS="[{\"name\": \"bench\", \"key_hash\": \"$KEY_HASH\"}]" \
	GATEWAY_SCREENING_HASH_KEY="$(random_hex 32)" \
	GATEWAY_MINFRAUD_ACCOUNT_ID=123456 \
	GATEWAY_MINFRAUD_LICENSE_KEY="$(random_hex 8)" \
	GATEWAY_MINFRAUD_ENDPOINT="http://127.0.0.1:$STUB_PORT" \
	GATEWAY_GEOIP_COUNTRY_DB="$DB" \
	GATEWAY_LOG_ACCESS=off \
	GATEWAY_LOG_LEVEL="$LOG_LEVEL" \
	GATEWAY_DATA_DIR="$WORK/data" \
	GATEWAY_ADMIN_PPROF="$([[ -n ${BENCH_PPROF:-} ]] && echo true || echo false)" \
	"$WORK/gateway" serve >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_until 30 "$GW_PID" gateway curl -fsS "http://127.0.0.1:$GW_ADMIN_PORT/readyz" || die "gateway did not start"

# io_stats: "reads writes", the read and write events Redis processed.
io_stats() {
	rcli info stats | tr -d '\r' | awk -F: '$1 == "total_reads_processed" { r = $2 } $1 == "total_writes_processed" { w = $2 } END { print r, w }'
}
# commandstats: "name calls usec" lines, sorted by name.
commandstats() {
	rcli info commandstats | tr -d '\r' |
		sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p' | sort
}

# The stub must answer from the first order, warm-up included: loadorders
# serves it, and the gateway only calls it per order.
# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# go_stats: "mallocs bytes", the Go heap allocations of the gateway since
# it started (its /metrics, which every build has).
go_stats() {
	curl -fsS "http://127.0.0.1:$GW_ADMIN_PORT/metrics" |
		awk '$1 == "go_memstats_mallocs_total" { m = $2 } $1 == "go_memstats_alloc_bytes_total" { b = $2 } END { printf "%.0f %.0f\n", m, b }'
}
# log_stats: "lines bytes" of the gateway's log so far.
log_stats() { echo "$(wc -l <"$WORK/gateway.log") $(wc -c <"$WORK/gateway.log")"; }

commandstats >"$WORK/stats.before"
read -r reads_before writes_before < <(io_stats)
read -r mallocs_before abytes_before < <(go_stats)
read -r lines_before lbytes_before < <(log_stats)
gw_cpu_before=$(cpu_ticks "$GW_PID")
redis_cpu_before=$(cpu_ticks "$REDIS_PID")
# The warm-up's commands are subtracted below: loadorders runs it first, so
# the counts before it are taken here and the warm-up is measured apart.
log "load: $WORKERS workers, at most $COUNT orders in at most $DURATION after $WARMUP warm-up orders"
if [[ -n ${BENCH_PPROF:-} ]]; then
	# A 10 s CPU profile of the gateway under the load that follows.
	curl -fsS -o "$BENCH_PPROF" "http://127.0.0.1:$GW_ADMIN_PORT/debug/pprof/profile?seconds=10" &
	PROF_PID=$!
	# And the allocations of the same 10 s (a delta of the heap profile).
	curl -fsS -o "$BENCH_PPROF.allocs" "http://127.0.0.1:$GW_ADMIN_PORT/debug/pprof/allocs?seconds=10" &
	APROF_PID=$!
fi
LOADORDERS_API_KEY="$API_KEY" "$WORK/loadorders" \
	-url "http://127.0.0.1:$GW_ADMIN_PORT" -workers "$WORKERS" -n "$COUNT" -duration "$DURATION" \
	-rate "$RATE" -warmup "$WARMUP" -minfraud-listen "127.0.0.1:$STUB_PORT" -minfraud-response "$MINFRAUD_ANSWER" \
	| tee "$WORK/load.out"
if [[ -n ${PROF_PID:-} ]]; then
	wait "$PROF_PID" && log "CPU profile written to $BENCH_PPROF (go tool pprof -top $WORK/gateway $BENCH_PPROF)"
	wait "$APROF_PID" && log "allocation profile written to $BENCH_PPROF.allocs (go tool pprof -sample_index=alloc_objects -top ...)"
fi
read -r reads_after writes_after < <(io_stats)
gw_cpu_after=$(cpu_ticks "$GW_PID")
redis_cpu_after=$(cpu_ticks "$REDIS_PID")
commandstats >"$WORK/stats.after"
# The relay moves each order's event and audit entry after the answer; a
# relay that falls behind leaves part of the orders' cost outside the
# window above. So the CPU is read again once every shard's pending stream
# is empty (60 s at most; Redis's counts above are not affected). The
# streams are `...}:work` since the one-entry format, `...}:pending`
# before it (and in a base build measured with BENCH_GATEWAY_BIN).
pending_left() {
	local n=0 k
	while read -r k; do
		n=$((n + $(rcli XLEN "$k")))
	done < <(rcli --scan --pattern '*}:pending' && rcli --scan --pattern '*}:work')
	echo "$n"
}
drain_start=$SECONDS
while (($(pending_left) > 0 && SECONDS - drain_start < 60)); do sleep 0.2; done
left=$(pending_left)
drain_secs=$((SECONDS - drain_start))
gw_cpu_drained=$(cpu_ticks "$GW_PID")
redis_cpu_drained=$(cpu_ticks "$REDIS_PID")
read -r mallocs_drained abytes_drained < <(go_stats)
read -r lines_drained lbytes_drained < <(log_stats)

result="$(grep '^RESULT ' "$WORK/load.out")" || die "loadorders printed no RESULT line"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
orders=$(field orders)
rps=$(field rps)
p99=$(field p99_ms)
errors=$(field errors)
mf_calls=$(field minfraud_calls)
measured=$((orders + WARMUP)) # Redis saw the warm-up too
((orders > 0)) || die "no order was answered"

echo
echo "Redis per order (INFO, over $measured orders: the $WARMUP warm-up and $orders measured):"
printf '  %-18s %9s %9s %12s\n' command calls per-order 'us/order'
join "$WORK/stats.before" "$WORK/stats.after" -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 |
	awk -v n="$measured" '$4 - $2 > 0 && $1 != "info" {
		printf "  %-18s %9d %9.2f %12.2f\n", $1, $4 - $2, ($4 - $2) / n, ($5 - $3) / n
	}'
echo "  (evalsha, eval, hmget, get, and multi, exec, hgetall when the blocklist's"
echo "  ranges are loaded, are sent by the gateway; the others run inside its two"
echo "  scripts, whose time is in evalsha's)"
# Inside the window: the closing of the first redis-cli connection and the
# request of the second (two reads), the reply to the first (one write).
trips=$(awk -v a="$reads_after" -v b="$reads_before" -v n="$measured" 'BEGIN { printf "%.2f", (a - b - 2) / n }')
wtrips=$(awk -v a="$writes_after" -v b="$writes_before" -v n="$measured" 'BEGIN { printf "%.2f", (a - b - 1) / n }')
echo "  round trips        $trips   (read events per order: requests or pipelines received)"
echo "                     $wtrips   (write events per order: replies sent)"
echo
echo "CPU per order (warm-up included for the gateway and Redis):"
awk -v g=$((gw_cpu_after - gw_cpu_before)) -v r=$((redis_cpu_after - redis_cpu_before)) -v t="$TICK" -v n="$measured" \
	'BEGIN { printf "  gateway            %6.0f us\n  redis-server       %6.0f us\n", g / t / n * 1e6, r / t / n * 1e6 }'
echo "  loadorders + stub  $(field cpu_us_per_order) us (measured orders only)"
echo "CPU per order, the relay's backlog included (drained in ${drain_secs}s, $left entries left):"
awk -v g=$((gw_cpu_drained - gw_cpu_before)) -v r=$((redis_cpu_drained - redis_cpu_before)) -v t="$TICK" -v n="$measured" \
	'BEGIN { printf "  gateway            %6.0f us\n  redis-server       %6.0f us\n", g / t / n * 1e6, r / t / n * 1e6 }'
echo "Go allocations and log per order, the relay's backlog included (warm-up included):"
awk -v m=$((mallocs_drained - mallocs_before)) -v b=$((abytes_drained - abytes_before)) \
	-v l=$((lines_drained - lines_before)) -v lb=$((lbytes_drained - lbytes_before)) -v n="$measured" \
	'BEGIN { printf "  allocations        %6.0f (%.0f bytes)\n  log lines          %6.2f (%.0f bytes)\n", m / n, b / n, l / n, lb / n }'

# The gateway at rest: nothing sent, the relay drained, only its
# background workers (relay, outbox consumers, expiry, leases) running.
IDLE="${IDLE:-5s}"
idle_secs=${IDLE%s}
idle_before=$(cpu_ticks "$GW_PID")
idle_reads_before=$(io_stats)
sleep "$idle_secs"
idle_after=$(cpu_ticks "$GW_PID")
idle_reads_after=$(io_stats)
awk -v c=$((idle_after - idle_before)) -v t="$TICK" -v s="$idle_secs" -v a="${idle_reads_after%% *}" -v b="${idle_reads_before%% *}" \
	'BEGIN { printf "Idle gateway over %ss: %.1f%% of a core, %.0f Redis requests/s (round trips)\n", s, c / t / s * 100, (a - b - 2) / s }'

# ---------------------------------------------------------------------------
# Redis's ceiling for the velocity script alone
# ---------------------------------------------------------------------------
mapfile -t call < <("$WORK/velocitycall")
sha="$(rcli -x script load <screening/velocity/script.lua)"
[[ $sha == "${call[0]}" ]] || die "SCRIPT LOAD gave $sha, velocitycall expects ${call[0]}"
log "ceiling: redis-benchmark -c $CEILING_CLIENTS -n $CEILING_CALLS -r $RANDKEYS EVALSHA (one order, $((call[3])) keys)"
ceil_before="$(commandstats | awk '$1 == "evalsha" { print $2, $3 }')"
bench_out="$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CEILING_CLIENTS" -n "$CEILING_CALLS" \
	-r "$RANDKEYS" -q "${call[@]:1}" 2>&1 | tr '\r' '\n' | grep -E 'requests per second' | tail -n 1)"
ceiling="$(sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' <<<"$bench_out")"
[[ -n $ceiling ]] || die "redis-benchmark printed no rate: $bench_out"
ceil_after="$(commandstats | awk '$1 == "evalsha" { print $2, $3 }')"
usec=$(awk -v b="$ceil_before" -v a="$ceil_after" 'BEGIN { split(b, x, " "); split(a, y, " "); printf "%.1f", (y[2] - x[2]) / (y[1] - x[1]) }')

echo
echo "Velocity script alone: $ceiling scripts/s (redis-benchmark, $CEILING_CLIENTS clients, $(sed -n 's/.*\(p50=[0-9.]* msec\).*/\1/p' <<<"$bench_out"))"
echo "  server time per call: $usec us (INFO commandstats over the redis-benchmark run)"
echo
ratio=$(awk -v a="$rps" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')
echo "SUMMARY orders_per_s=$rps p99_ms=$p99 errors=$errors minfraud_calls=$mf_calls round_trips_per_order=$trips script_ceiling_per_s=$ceiling ratio=$ratio"
echo "  gateway orders/s / script ceiling = $ratio (target 0.5), p99 $p99 ms (target 5), $rps orders/s (target 5000)"
