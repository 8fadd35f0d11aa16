#!/usr/bin/env bash
# Geo-block load benchmark: the gateway against nginx with the GeoIP2 module,
# both as geo-blocking reverse proxies in front of the same upstream, with
# the same country database and the same EEA country list, under wrk.
#
# It measures, each for DURATION with wrk (THREADS threads, CONNECTIONS
# connections, the visitor's address in X-Forwarded-For from 127.0.0.1, a
# trusted proxy for both):
#   upstream          the bare upstream (scripts/benchupstream), no proxy
#   nginx   allowed   a non-EEA visitor (GB), proxied with X-Client-Country
#   gateway allowed   the same through the gateway
#   nginx   blocked   an EEA visitor (SE), answered 451 with the same page
#   gateway blocked   the same through the gateway
# ROUNDS times, alternating which proxy goes first, and prints for each the
# best round's req/s, p99 latency and the CPU time the serving process spent
# per request, and the gateway/nginx ratios. With the defaults the whole
# script takes about two and a half minutes.
#
# Fairness: both proxies use the same database file, trust 127.0.0.1 for
# X-Forwarded-For, block the same 37 EEA codes, keep a keep-alive pool to
# the upstream, and write no access log (nginx: access_log off; gateway:
# log.access=off). nginx runs worker_processes auto (one per core), the
# gateway GOMAXPROCS = cores. nginx's 451 is the gateway's own HTML page
# (fetched once from the gateway) with the same Link and Cache-Control
# headers. Everything runs on loopback on this one machine: wrk, nginx, the
# gateway and the upstream share its cores, so the figures are for
# comparison on the same machine, not absolute capacity.
#
# Usage: scripts/bench-geoblock.sh
# Environment:
#   DURATION=10s THREADS=2 CONNECTIONS=64 WARMUP=2s   wrk settings
#   ROUNDS=2           measure everything this many times, keep the best
#   DB=path/to/country.mmdb DB_PATH="country_code"    database and the
#       geoip2 path to its country code ("country iso_code" for MaxMind's)
#   BLOCKED_IP=89.160.20.112 ALLOWED_IP=81.2.69.142   visitors (SE, GB)
#   GW_BIN=path        a gateway binary to measure instead of building one
#                      (to compare two builds on the same machine)
#   KEEP=1             keep the work dir
#
# On a Debian machine, as root, it installs what is missing (nginx,
# libnginx-mod-http-geoip2, wrk, curl) with apt-get.
set -euo pipefail

cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-2}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
DB="${DB:-../shared/testdata/geo/geo-whois-asn-country.mmdb}"
DB_PATH="${DB_PATH:-country_code}"
BLOCKED_IP="${BLOCKED_IP:-89.160.20.112}"
ALLOWED_IP="${ALLOWED_IP:-81.2.69.142}"
GEOIP2_MODULE=/usr/lib/nginx/modules/ngx_http_geoip2_module.so

# The EEA, as geoblock's alias of that name: the 27 EU states, the EU
# territories with their own codes (AX GF GP MQ RE YT MF) and IS, LI, NO.
EEA=(AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK AX GF GP MQ RE YT MF IS LI NO)

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# ---------------------------------------------------------------------------
# Installing what is missing
# ---------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || missing+=(nginx)
[[ -f $GEOIP2_MODULE ]] || missing+=(libnginx-mod-http-geoip2)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl ca-certificates)
if ((${#missing[@]} > 0)); then
	sudo=
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]}"
		sudo=sudo
	fi
	log "apt-get update"
	$sudo apt-get update -qq
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The Debian package may start a system nginx on port 80; this script
	# uses its own instance and leaves that one alone.
fi
command -v go >/dev/null || die "go is not on PATH"
[[ -f $DB ]] || die "no database at $DB"

# ---------------------------------------------------------------------------
# Work directory, processes, cleanup
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-geoblock.XXXXXX")"
# nginx workers run as an unprivileged user; they read the 451 page here.
chmod 755 "$WORK"
PIDS=()
cleanup() {
	local status=$?
	stop_pids "${PIDS[@]}"
	if ((status != 0)); then
		show_logs 20 "$WORK"/*.log "$WORK"/nginx/error.log
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

log "building the gateway, the upstream and the port finder (work dir $WORK)"
if [[ -n ${GW_BIN:-} ]]; then
	cp "$GW_BIN" "$WORK/gateway"
else
	go build -o "$WORK/gateway" ./cmd/gateway
fi
go build -o "$WORK/benchupstream" ./scripts/benchupstream
go build -o "$WORK/freeport" ./internal/testenv/cmd/freeport
cp "$DB" "$WORK/country.mmdb"
chmod 644 "$WORK/country.mmdb"

mapfile -t ports < <("$WORK/freeport" -n 4)
UP_PORT=${ports[0]} NGINX_PORT=${ports[1]} GW_PORT=${ports[2]} GW_ADMIN_PORT=${ports[3]}

log "starting the upstream on 127.0.0.1:$UP_PORT"
"$WORK/benchupstream" -listen "127.0.0.1:$UP_PORT" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_until 10 "$UP_PID" upstream curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/" || die "upstream did not start"

log "starting the gateway on 127.0.0.1:$GW_PORT"
GATEWAY_LISTEN="127.0.0.1:$GW_PORT" \
	GATEWAY_ADMIN_LISTEN="127.0.0.1:$GW_ADMIN_PORT" \
	GATEWAY_UPSTREAM="http://127.0.0.1:$UP_PORT" \
	GATEWAY_TRUSTED_PROXIES=127.0.0.1 \
	GATEWAY_GEOIP_COUNTRY_DB="$WORK/country.mmdb" \
	GATEWAY_GEOBLOCK_COUNTRIES=EEA \
	GATEWAY_LOG_ACCESS=off \
	GATEWAY_LOG_LEVEL=warn \
	GATEWAY_DATA_DIR="$WORK/data" \
	"$WORK/gateway" serve >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_until 30 "$GW_PID" gateway curl -s -o /dev/null "http://127.0.0.1:$GW_ADMIN_PORT/readyz" || die "gateway did not start"

# nginx answers 451 with the gateway's own page, so both send the same bytes.
mkdir -p "$WORK/www" "$WORK/nginx"
curl -s -o "$WORK/www/_451.html" -H "X-Forwarded-For: $BLOCKED_IP" "http://127.0.0.1:$GW_PORT/"
chmod 755 "$WORK/www"
chmod 644 "$WORK/www/_451.html"

{
	for c in "${EEA[@]}"; do printf '        %s 1;\n' "$c"; done
} >"$WORK/nginx/eea.map"

cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
load_module $GEOIP2_MODULE;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;

    # The client address is the rightmost untrusted hop of X-Forwarded-For,
    # as in the gateway with trusted_proxies = [127.0.0.1].
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;

    # default= and source= must come before the data path, or every lookup
    # silently misses.
    geoip2 $WORK/country.mmdb {
        \$geoip2_data_country_code default=-- source=\$remote_addr $DB_PATH;
    }

    map \$geoip2_data_country_code \$geo_blocked {
        default 0;
        include $WORK/nginx/eea.map;
    }

    upstream shop {
        server 127.0.0.1:$UP_PORT;
        keepalive 256;
    }

    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;

        error_page 451 /_451.html;
        location = /_451.html {
            internal;
            root $WORK/www;
            default_type "text/html; charset=utf-8";
            add_header Link '</_gateway/blocked>; rel="blocked-by"' always;
            add_header Cache-Control no-store always;
            add_header Vary Accept always;
            add_header X-Content-Type-Options nosniff always;
        }

        location / {
            if (\$geo_blocked) {
                return 451;
            }
            proxy_pass http://shop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Client-Country \$geoip2_data_country_code;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF

log "starting nginx on 127.0.0.1:$NGINX_PORT"
nginx -t -q -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_until 10 "$NGINX_PID" nginx curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" || die "nginx did not start"

# ---------------------------------------------------------------------------
# Check that both proxies decide the same way before measuring anything: a
# geoip2 block with a wrong path or argument order misses every lookup and
# would make nginx look fast by blocking nobody.
# ---------------------------------------------------------------------------
check() { # check NAME URL IP WANT_STATUS WANT_COUNTRY
	local name=$1 url=$2 ip=$3 want_status=$4 want_country=$5 out status country
	out="$(curl -s -o /dev/null -D - -H "X-Forwarded-For: $ip" "$url")"
	status="$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<<"$out")"
	country="$(tr -d '\r' <<<"$out" | sed -n 's/^[Xx]-[Ss]een-[Cc]ountry: //p')"
	[[ $status == "$want_status" ]] || die "$name: $ip got status $status, want $want_status"
	[[ $country == "$want_country" ]] || die "$name: $ip: upstream saw country '$country', want '$want_country'"
	if [[ $want_status == 451 ]]; then
		grep -qi '^link: </_gateway/blocked>; rel="blocked-by"' <<<"$out" || die "$name: 451 without the Link header"
	fi
}
allowed_cc="$(curl -s -o /dev/null -D - -H "X-Forwarded-For: $ALLOWED_IP" "http://127.0.0.1:$GW_PORT/" |
	tr -d '\r' | sed -n 's/^[Xx]-[Ss]een-[Cc]ountry: //p')"
[[ -n $allowed_cc ]] || die "the gateway found no country for $ALLOWED_IP in $DB"
check nginx "http://127.0.0.1:$NGINX_PORT/" "$ALLOWED_IP" 200 "$allowed_cc"
check gateway "http://127.0.0.1:$GW_PORT/" "$ALLOWED_IP" 200 "$allowed_cc"
check nginx "http://127.0.0.1:$NGINX_PORT/" "$BLOCKED_IP" 451 ""
check gateway "http://127.0.0.1:$GW_PORT/" "$BLOCKED_IP" 451 ""
log "both proxies block $BLOCKED_IP and pass $ALLOWED_IP ($allowed_cc)"

# ---------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------
for kind in blocked allowed; do
	ip=$BLOCKED_IP
	[[ $kind == allowed ]] && ip=$ALLOWED_IP
	printf 'wrk.headers["X-Forwarded-For"] = "%s"\n' "$ip" >"$WORK/$kind.lua"
done

# to_ms converts wrk's latency (850.00us, 1.23ms, 2.00s, 1.50m) to ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n
	}'
}

# cpu_ticks PID: user + system CPU time of PID and its children processes
# (nginx's workers), in clock ticks. The CPU a server spends per request
# depends much less on what else the machine is doing than req/s does.
cpu_ticks() {
	local total=0 p t
	for p in "$1" $(pgrep -P "$1" || true); do
		# Fields after the command name (which is in parentheses):
		# utime and stime are the 12th and 13th.
		t="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')" || t=0
		total=$((total + ${t:-0}))
	done
	printf '%s\n' "$total"
}
CLK_TCK="$(getconf CLK_TCK)"

declare -A RPS P99 CPU
# run NAME PID URL KIND ROUND: warm up, measure, and check the answers were
# the expected kind (all 2xx for allowed, none 2xx for blocked). PID is the
# server whose CPU time per request is reported. Of the rounds, the one with
# the most req/s is kept for NAME (its p99 and CPU with it): other work on
# the machine can only slow a run down, so the best run is the one it
# disturbed least.
run() {
	local name=$1 pid=$2 url=$3 kind=$4 round=$5 out non2xx requests errors t0 t1 rps p99 cpu
	wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$WORK/$kind.lua" "$url" >/dev/null
	t0="$(cpu_ticks "$pid")"
	out="$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -s "$WORK/$kind.lua" "$url")"
	t1="$(cpu_ticks "$pid")"
	printf '%s\n' "$out" >"$WORK/wrk-$name-$round.txt"
	rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
	p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
	requests="$(awk '/requests in/ {print $1}' <<<"$out")"
	cpu="$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')"
	non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
	errors="$(awk '/Socket errors:/ {print}' <<<"$out")"
	non2xx=${non2xx:-0}
	[[ -z $errors ]] || log "$name: $errors"
	if [[ $kind == allowed && $non2xx != 0 ]]; then
		die "$name: $non2xx of $requests answers were not 2xx"
	fi
	if [[ $kind == blocked && $non2xx != "$requests" ]]; then
		die "$name: only $non2xx of $requests answers were blocked"
	fi
	log "$(printf 'round %s  %-16s %9s req/s  p99 %8s ms  CPU %6s us/req' "$round" "$name" "$rps" "$p99" "$cpu")"
	if [[ -z ${RPS[$name]:-} ]] || ((rps > RPS[$name])); then
		RPS[$name]=$rps P99[$name]=$p99 CPU[$name]=$cpu
	fi
}

log "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per run (after $WARMUP warm-up), $ROUNDS rounds"
for ((round = 1; round <= ROUNDS; round++)); do
	# Alternate who goes first, so neither always runs on a machine the
	# other has just warmed up (or a neighbour has just started loading).
	servers=(nginx gateway)
	((round % 2 == 1)) || servers=(gateway nginx)
	run upstream "$UP_PID" "http://127.0.0.1:$UP_PORT/" allowed "$round"
	for kind in allowed blocked; do
		for srv in "${servers[@]}"; do
			if [[ $srv == nginx ]]; then
				run "nginx-$kind" "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/" "$kind" "$round"
			else
				run "gateway-$kind" "$GW_PID" "http://127.0.0.1:$GW_PORT/" "$kind" "$round"
			fi
		done
	done
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
cores="$(nproc)"
printf '\nGeo-block benchmark: %s cores, wrk -t%s -c%s -d%s, best of %s rounds, database %s\n\n' \
	"$cores" "$THREADS" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$(basename "$DB")"
row() { printf '| %-8s | %-8s | %10s | %10s | %14s |\n' "$@"; }
row path server 'req/s' 'p99 ms' 'CPU us/req'
row --- --- ---: ---: ---:
row allowed nginx "${RPS[nginx-allowed]}" "${P99[nginx-allowed]}" "${CPU[nginx-allowed]}"
row allowed gateway "${RPS[gateway-allowed]}" "${P99[gateway-allowed]}" "${CPU[gateway-allowed]}"
row blocked nginx "${RPS[nginx-blocked]}" "${P99[nginx-blocked]}" "${CPU[nginx-blocked]}"
row blocked gateway "${RPS[gateway-blocked]}" "${P99[gateway-blocked]}" "${CPU[gateway-blocked]}"
row - upstream "${RPS[upstream]}" "${P99[upstream]}" "${CPU[upstream]}"
printf '\n'
ra="$(ratio "${RPS[gateway-allowed]}" "${RPS[nginx-allowed]}")"
rb="$(ratio "${RPS[gateway-blocked]}" "${RPS[nginx-blocked]}")"
printf 'gateway/nginx throughput: allowed %sx (target >= 0.6), blocked %sx (target >= 0.5)\n' "$ra" "$rb"
printf 'p99 gateway vs nginx: allowed %s vs %s ms, blocked %s vs %s ms (target: no worse)\n' \
	"${P99[gateway-allowed]}" "${P99[nginx-allowed]}" "${P99[gateway-blocked]}" "${P99[nginx-blocked]}"
printf 'CPU per request, gateway/nginx: allowed %sx, blocked %sx (the proxy process only; lower is better)\n' \
	"$(ratio "${CPU[gateway-allowed]}" "${CPU[nginx-allowed]}")" "$(ratio "${CPU[gateway-blocked]}" "${CPU[nginx-blocked]}")"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
