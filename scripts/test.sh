#!/usr/bin/env bash
# The project's test command (`make test`, and CI through .ci/run).
#
# On a fresh Debian machine, as root, it installs what is missing (redis-server
# and php-cli from Debian; the MinIO server with `go install`, cached in
# GOBIN), starts a private Redis and a private MinIO on free loopback ports
# with temporary data directories, exports their addresses and the php binary
# for the tests (GATEWAY_TEST_*, read by internal/testenv), checks formatting,
# runs go vet and go test -race, and stops the servers on exit, whatever
# happened.
#
# Usage: scripts/test.sh [go test flags] [packages]
#   scripts/test.sh                              # every package (./...)
#   scripts/test.sh ./internal/...               # only these packages
#   scripts/test.sh -run 'TestTestenv' ./internal/testenv
#   make test ARGS="-run TestX ./kyc/..."
# Arguments that start with "./" or "../", or are ".", are packages (gofmt and
# go vet get those too); every other argument goes to go test as it is.
#
# Environment:
#   GATEWAY_TEST_KEEP_LOGS=1  keep the servers' temporary directory (logs, data)
#   MINIO_VERSION             module version of github.com/minio/minio to install
#   MAILPIT_VERSION           module version of github.com/axllent/mailpit to install
set -euo pipefail

cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

# The release that is known to build with the project's Go (1.26.8); @latest
# may one day need a newer toolchain.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
# mailpit, the test SMTP server: v1.33.1 builds with Go 1.26.8.
MAILPIT_VERSION="${MAILPIT_VERSION:-v1.33.1}"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------
pkgs=()
test_flags=()
for arg in "$@"; do
	case "$arg" in
	. | ./* | ../*) pkgs+=("$arg") ;;
	*) test_flags+=("$arg") ;;
	esac
done
if ((${#pkgs[@]} == 0)); then
	pkgs=(./...)
fi

# ---------------------------------------------------------------------------
# Installing what is missing. Each tool has one function; add a new one (say
# install_chromium) next to these and call it from install_all.
# ---------------------------------------------------------------------------
apt_updated=
apt_install() {
	local sudo=
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
		sudo=sudo
	fi
	if [[ -z $apt_updated ]]; then
		log "apt-get update"
		$sudo apt-get update -qq
		apt_updated=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

gobin() {
	local dir
	dir="$(go env GOBIN)"
	if [[ -z $dir ]]; then
		dir="$(go env GOPATH)"
		dir="${dir%%:*}/bin"
	fi
	printf '%s\n' "$dir"
}

install_go_check() {
	command -v go >/dev/null || die "go is not on PATH (Go 1.26 is needed)"
}

install_curl() {
	command -v curl >/dev/null || apt_install curl ca-certificates
}

install_redis() {
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		apt_install redis-server
	fi
	REDIS_SERVER="$(command -v redis-server)"
}

# PHP's own form parser is the test oracle of checkout interception: the
# gateway tests run PHP's built-in web server as the storefront.
install_php() {
	command -v php >/dev/null || apt_install php-cli
	GATEWAY_TEST_PHP="$(command -v php)"
	export GATEWAY_TEST_PHP
}

# MaxMind's official Node.js minFraud client, which screening's minFraud
# request test runs (with Debian's nodejs) to validate the requests the
# gateway builds. Pinned, installed once into a cache directory.
MINFRAUD_NODE_VERSION="${MINFRAUD_NODE_VERSION:-6.1.0}"
install_node() {
	command -v node >/dev/null || apt_install nodejs
	command -v npm >/dev/null || apt_install npm
	local dir="${XDG_CACHE_HOME:-$HOME/.cache}/gateway-test/minfraud-api-node-$MINFRAUD_NODE_VERSION"
	if [[ ! -f $dir/node_modules/@maxmind/minfraud-api-node/package.json ]]; then
		log "npm install @maxmind/minfraud-api-node@$MINFRAUD_NODE_VERSION into $dir, once"
		mkdir -p "$dir"
		(cd "$dir" && npm install --no-audit --no-fund --silent --prefix "$dir" "@maxmind/minfraud-api-node@$MINFRAUD_NODE_VERSION" >/dev/null) ||
			die "npm install of @maxmind/minfraud-api-node failed"
	fi
	GATEWAY_TEST_NODE="$(command -v node)"
	GATEWAY_TEST_MINFRAUD_NODE="$dir"
	export GATEWAY_TEST_NODE GATEWAY_TEST_MINFRAUD_NODE
}

install_minio() {
	MINIO_SERVER="$(gobin)/minio"
	if [[ ! -x $MINIO_SERVER ]]; then
		log "building the MinIO server ($MINIO_VERSION) into $(gobin): this takes several minutes, once"
		go install "github.com/minio/minio@$MINIO_VERSION"
	fi
	[[ -x $MINIO_SERVER ]] || die "go install of minio left no $MINIO_SERVER"
}

# mailpit is the real SMTP server of the mail tests; its JSON API reads back
# what arrived. Its web UI assets are not in the Go module; SMTP and the API
# need none.
install_mailpit() {
	MAILPIT_SERVER="$(gobin)/mailpit"
	if [[ ! -x $MAILPIT_SERVER ]]; then
		log "building mailpit ($MAILPIT_VERSION) into $(gobin), once"
		go install "github.com/axllent/mailpit@$MAILPIT_VERSION"
	fi
	[[ -x $MAILPIT_SERVER ]] || die "go install of mailpit left no $MAILPIT_SERVER"
}

# Chromium drives the console's browser tests (gateway/console_browser_test.go).
install_chromium() {
	local bin
	bin="$(command -v chromium || true)"
	if [[ -z $bin ]]; then
		apt_install chromium
		bin="$(command -v chromium)"
	fi
	GATEWAY_TEST_CHROMIUM="$bin"
	export GATEWAY_TEST_CHROMIUM
}

install_all() {
	install_go_check
	install_curl
	install_redis
	install_php
	install_node
	install_minio
	install_mailpit
	install_chromium
}

# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------
WORK=
PIDS=()
SERVER_LOGS=()

cleanup() {
	local status=$?
	stop_pids "${PIDS[@]}"
	if ((status != 0)); then
		show_logs 30 "${SERVER_LOGS[@]}"
	fi
	if [[ -n $WORK ]]; then
		if [[ -n ${GATEWAY_TEST_KEEP_LOGS:-} ]]; then
			log "kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	if ((status != 0)); then
		printf '==> FAILED (exit status %d)\n' "$status" >&2
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FREEPORT=
# free_ports N prints N distinct ports that are free on 127.0.0.1 right now.
free_ports() {
	"$FREEPORT" -n "$1"
}


# start_with_retries NAME TRY runs TRY ATTEMPT up to three times, because a
# port found free can be taken before the server binds it. TRY starts one
# instance, exports its addresses and returns 0 once it answers; on failure
# it stops what it started, sets TRY_LOG to the log to show, and returns 1.
TRY_LOG=
start_with_retries() {
	local name=$1 try=$2 attempt
	for attempt in 1 2 3; do
		if "$try" "$attempt"; then
			return 0
		fi
		log "$name attempt $attempt failed; log: $TRY_LOG"
		tail -n 5 "$TRY_LOG" >&2 || true
	done
	die "could not start $name"
}

try_redis() {
	local port dir pid
	port="$(free_ports 1)"
	dir="$WORK/redis-$1"
	TRY_LOG="$dir.log"
	mkdir -p "$dir"
	SERVER_LOGS+=("$TRY_LOG")
	"$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --dir "$dir" \
		--appendonly yes --save '' --daemonize no --logfile '' >"$TRY_LOG" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	if ! wait_until 30 "$pid" redis-server redis-cli -h 127.0.0.1 -p "$port" ping; then
		kill "$pid" 2>/dev/null || true
		return 1
	fi
	export GATEWAY_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
	export GATEWAY_TEST_REDIS_SERVER="$REDIS_SERVER"
	log "redis-server ready on 127.0.0.1:$port (pid $pid)"
}

# try_redis_cluster starts a real three-node Redis Cluster (three
# primaries, no replicas) on free loopback ports and exports their
# addresses, comma-separated, as GATEWAY_TEST_REDIS_CLUSTER_ADDRS: the
# lifecycle tests run on it as well as on the standalone server.
try_redis_cluster() {
	local port dir logf pid addrs=() pids=() ok n
	TRY_LOG="$WORK/cluster-$1.create.log"
	for port in $(free_ports 3); do
		dir="$WORK/cluster-$1-$port"
		logf="$dir.log"
		mkdir -p "$dir"
		SERVER_LOGS+=("$logf")
		"$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --dir "$dir" \
			--cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
			--appendonly no --save '' --daemonize no --logfile '' >"$logf" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		pids+=("$pid")
		if ! wait_until 30 "$pid" redis-server redis-cli -h 127.0.0.1 -p "$port" ping; then
			TRY_LOG="$logf"
			kill "${pids[@]}" 2>/dev/null || true
			return 1
		fi
		addrs+=("127.0.0.1:$port")
	done
	if redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$TRY_LOG" 2>&1; then
		# The cluster is usable when every node says so.
		for n in $(seq 1 100); do
			ok=1
			for a in "${addrs[@]}"; do
				redis-cli -h "${a%:*}" -p "${a#*:}" cluster info | grep -q 'cluster_state:ok' || ok=
			done
			if [[ -n $ok ]]; then
				GATEWAY_TEST_REDIS_CLUSTER_ADDRS="$(IFS=,; echo "${addrs[*]}")"
				export GATEWAY_TEST_REDIS_CLUSTER_ADDRS
				log "redis cluster ready on $GATEWAY_TEST_REDIS_CLUSTER_ADDRS"
				return 0
			fi
			sleep 0.1
		done
	fi
	kill "${pids[@]}" 2>/dev/null || true
	return 1
}

MINIO_USER=
MINIO_PASSWORD=
try_minio() {
	local ports port console dir pid
	ports="$(free_ports 2)"
	port="$(sed -n 1p <<<"$ports")"
	console="$(sed -n 2p <<<"$ports")"
	dir="$WORK/minio-$1"
	TRY_LOG="$dir.log"
	mkdir -p "$dir"
	SERVER_LOGS+=("$TRY_LOG")
	# A KMS key makes MinIO offer SSE-S3, so the KYC documents' encryption
	# is tested (issue 10); the gateway also works against a server without.
	MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD" \
		MINIO_KMS_SECRET_KEY="gateway-test-key:$(head -c 32 /dev/urandom | base64)" \
		MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
		"$MINIO_SERVER" server "$dir/data" --quiet \
		--address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
		>"$TRY_LOG" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	if ! wait_until 60 "$pid" minio curl -fsS "http://127.0.0.1:$port/minio/health/live"; then
		kill "$pid" 2>/dev/null || true
		return 1
	fi
	export GATEWAY_TEST_S3_ENDPOINT="127.0.0.1:$port"
	export GATEWAY_TEST_S3_ACCESS_KEY="$MINIO_USER"
	export GATEWAY_TEST_S3_SECRET_KEY="$MINIO_PASSWORD"
	export GATEWAY_TEST_MINIO_SERVER="$MINIO_SERVER"
	log "minio ready on 127.0.0.1:$port (pid $pid)"
}

try_mailpit() {
	local ports port api dir pid
	ports="$(free_ports 2)"
	port="$(sed -n 1p <<<"$ports")"
	api="$(sed -n 2p <<<"$ports")"
	dir="$WORK/mailpit-$1"
	TRY_LOG="$dir.log"
	mkdir -p "$dir"
	SERVER_LOGS+=("$TRY_LOG")
	# --max 0: keep every message (the default prunes past 500, which a
	# full run of the mail tests could reach).
	"$MAILPIT_SERVER" --disable-version-check \
		--smtp "127.0.0.1:$port" --listen "127.0.0.1:$api" \
		--database "$dir/mailpit.db" --max 0 >"$TRY_LOG" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	if ! wait_until 30 "$pid" mailpit curl -fsS "http://127.0.0.1:$api/api/v1/info"; then
		kill "$pid" 2>/dev/null || true
		return 1
	fi
	export GATEWAY_TEST_SMTP_URL="smtp://127.0.0.1:$port"
	export GATEWAY_TEST_MAILPIT_API="http://127.0.0.1:$api"
	export GATEWAY_TEST_MAILPIT="$MAILPIT_SERVER"
	log "mailpit ready: SMTP 127.0.0.1:$port, API 127.0.0.1:$api (pid $pid)"
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
started=$SECONDS
log "installing what is missing"
install_all

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gateway-test.XXXXXX")"
log "building the free-port finder"
go build -o "$WORK/freeport" ./internal/testenv/cmd/freeport
FREEPORT="$WORK/freeport"

log "starting servers (work dir $WORK)"
MINIO_USER="test-$(random_hex 6)"
MINIO_PASSWORD="$(random_hex 20)"
start_with_retries redis-server try_redis
start_with_retries "redis cluster" try_redis_cluster
start_with_retries minio try_minio
start_with_retries mailpit try_mailpit

log "gofmt -l ${pkgs[*]}"
mapfile -t dirs < <(go list -e -f '{{.Dir}}' "${pkgs[@]}")
unformatted=""
for d in "${dirs[@]}"; do
	shopt -s nullglob
	files=("$d"/*.go)
	shopt -u nullglob
	if ((${#files[@]} == 0)); then
		continue
	fi
	out="$(gofmt -l "${files[@]}")" || die "gofmt could not parse the files in $d"
	if [[ -n $out ]]; then
		unformatted+="$out"$'\n'
	fi
done
if [[ -n $unformatted ]]; then
	printf '%s' "$unformatted" >&2
	die "gofmt: the files above need formatting (run make fmt)"
fi

log "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

log "go test -race -count=1 ${test_flags[*]} ${pkgs[*]}"
go test -race -count=1 "${test_flags[@]}" "${pkgs[@]}"

log "all checks passed in $((SECONDS - started))s"
