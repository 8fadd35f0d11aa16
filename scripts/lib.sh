# shellcheck shell=bash
# Shared by scripts/test.sh and the benchmark scripts: source it, don't run
# it. Each helper is what every one of them needs to run servers on loopback
# and leave nothing behind.

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf '==> FAIL: %s\n' "$*" >&2
	exit 1
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# stop_pids PID...: SIGTERM, then a bounded wait (10 s) before SIGKILL, so a
# server that ignores SIGTERM cannot hold the script open.
stop_pids() {
	local pid
	for pid in "$@"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# show_logs LINES FILE...: the last lines of each file that exists, for a
# failed run.
show_logs() {
	local lines=$1 f
	shift
	for f in "$@"; do
		[[ -f $f ]] || continue
		printf '==> last lines of %s:\n' "$f" >&2
		tail -n "$lines" "$f" >&2 || true
	done
}

# wait_until SECONDS PID NAME COMMAND...: runs COMMAND until it succeeds; 1
# (with a log line) when the server PID dies first or SECONDS pass.
wait_until() {
	local seconds=$1 pid=$2 name=$3
	shift 3
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || {
			log "$name exited before it was ready"
			return 1
		}
		((SECONDS < deadline)) || {
			log "$name was not ready within ${seconds}s"
			return 1
		}
		sleep 0.1
	done
}
