#!/usr/bin/env bash
# Allocation throughput over HTTP, an old binary against a new one, on
# SQLite and PostgreSQL, alternated (bench/README.md, "Allocation with
# tenants"). Each run: a fresh register (a SQLite file in a temporary
# directory, or a fresh PostgreSQL schema), one region us-east with the
# private blocks 10.0.0.0/8 and fd00::/48 and the pools 10.0.0.0/9 and
# fd00:0:0:1::/64, an allocate token, one `serve`, then
# `loadgen -op alloc -clients 16 -duration $DURATION [-names bench.example]`.
#
# Modes:
#   plain   an allocate token with no tenant (both binaries)
#   tenant  a token bound to tenant "bench" (suffix bench.example, quotas
#           100,000,000); a binary without `tenant` (364d89d): as plain
#   named   as tenant, each allocation named uniquely under bench.example;
#           without `tenant`: an unbound token, names unchecked
#
# Usage: bench/scripts/alloc-compare.sh OLD_BINARY NEW_BINARY
#   ROUNDS=2 STORES="sqlite postgres" MODES="plain tenant named" DURATION=10s
#   PGURL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#   SPACE=private (the blocks above) or global (44.0.0.0/8 and
#   2a0f:1000::/32 as transferred blocks, pools 44.0.0.0/9 and
#   2a0f:1000:0:1::/64: the global space's rows and its overlap rule)
#   ZONE=1: the zone bench.example (name servers outside it) is added
#   before the load, so every name check runs in a register with zones
# One line per run on stdout: round store mode binary rate p99 errors,
# and the CPU per allocation of cadastre and (PostgreSQL) of its backends.
# The order old/new alternates from one round to the next.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"

old=${1:?usage: alloc-compare.sh OLD_BINARY NEW_BINARY}
new=${2:?usage: alloc-compare.sh OLD_BINARY NEW_BINARY}
rounds=${ROUNDS:-2}
stores=${STORES:-sqlite postgres}
modes=${MODES:-plain tenant named}
duration=${DURATION:-10s}
pgurl=${PGURL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
port=${PORT:-18201}
space=${SPACE:-private}
zone=${ZONE:-}

tmp=$(mktemp -d)
server=
schema=
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	if [ -n "$schema" ]; then psql -q "$pgurl" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/loadgen" ./cmd/loadgen
export CADASTRE_TOKEN_KEY=$(printf '5a%.0s' $(seq 32))

# run ROUND STORE MODE LABEL BINARY: one fresh register, one serve, one loadgen.
run() {
	local round=$1 store=$2 mode=$3 label=$4 bin=$5 db
	local -a at
	if [ "$store" = sqlite ]; then
		db=$tmp/r.db
		rm -f "$db" "$db"-* "$db".key
		at=(--db "$db")
	else
		schema=bench_$$_$RANDOM
		psql -q "$pgurl" -c "CREATE SCHEMA $schema" >/dev/null
		at=(--postgres "$pgurl&search_path=$schema")
	fi
	"$bin" "${at[@]}" region add us-east --country US >/dev/null
	if [ "$space" = global ]; then
		"$bin" "${at[@]}" block add 44.0.0.0/8 --source transfer >/dev/null
		"$bin" "${at[@]}" block add 2a0f:1000::/32 --source transfer >/dev/null
		"$bin" "${at[@]}" pool add 44.0.0.0/9 --region us-east >/dev/null
		"$bin" "${at[@]}" pool add 2a0f:1000:0:1::/64 --region us-east >/dev/null
	else
		"$bin" "${at[@]}" block add 10.0.0.0/8 --source private >/dev/null
		"$bin" "${at[@]}" block add fd00::/48 --source private >/dev/null
		"$bin" "${at[@]}" pool add 10.0.0.0/9 --region us-east >/dev/null
		"$bin" "${at[@]}" pool add fd00:0:0:1::/64 --region us-east >/dev/null
	fi
	local -a tok=(token create --scope allocate --json) names=()
	if [ "$mode" != plain ] && "$bin" tenant --help >/dev/null 2>&1; then
		"$bin" "${at[@]}" tenant add bench --names bench.example --max-ipv4 100000000 --max-ipv6 100000000 >/dev/null
		tok+=(--tenant bench)
	fi
	[ "$mode" = named ] && names=(-names bench.example)
	if [ -n "$zone" ]; then
		"$bin" "${at[@]}" zone add bench.example --ns ns1.dns.invalid --ns ns2.dns.invalid >/dev/null
	fi
	local token
	token=$("$bin" "${at[@]}" "${tok[@]}" | jq -r .secret)
	local -a serve=(serve --listen "127.0.0.1:$port" --drain 0s)
	if "$bin" serve --help 2>&1 | grep -q -- --metrics-listen; then serve+=(--metrics-listen off); fi
	"$bin" "${at[@]}" "${serve[@]}" 2>"$tmp/serve.log" &
	server=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break
		sleep 0.1
	done
	local io0 cpu0 io1 cpu1 be0= be1=
	[ "$store" = postgres ] && be0=$(backendticks)
	io0=$(syscw "$server") cpu0=$(cputicks "$server")
	"$tmp/loadgen" -url "http://127.0.0.1:$port" -token "$token" -region us-east -op alloc -clients 16 -duration "$duration" "${names[@]}" >"$tmp/out"
	io1=$(syscw "$server") cpu1=$(cputicks "$server")
	[ "$store" = postgres ] && be1=$(backendticks)
	kill "$server"; wait "$server" 2>/dev/null || true
	server=
	if [ -n "$schema" ]; then psql -q "$pgurl" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null; schema=; fi
	local rate p99 errs ok
	rate=$(sed -n 's/^throughput=[0-9]* req\/s (ok \([0-9]*\)\/s)/\1/p' "$tmp/out")
	p99=$(sed -n 's/.* p99=\([^ ]*\) .*/\1/p' "$tmp/out")
	errs=$(sed -n 's/.* errors=\([0-9]*\) .*/\1/p' "$tmp/out")
	ok=$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' "$tmp/out")
	# Steadier than the rate on a busy machine: the server's write system
	# calls (one per HTTP answer, one per PostgreSQL round trip) and its
	# CPU time, per allocation.
	# The PostgreSQL backends' CPU (every client backend of the
	# database, from /proc), per allocation: "-" for SQLite.
	local be=-
	[ "$store" = postgres ] && be=$(backenddiff "$be0" "$be1" "$ok")
	printf '%s\t%s\t%s\t%s\t%s/s\tp99 %s\terrors %s\twrites/alloc %s\tcpu µs/alloc %s\tbackends µs/alloc %s\t%s\n' "$round" "$store" "$mode" "$label" "$rate" "$p99" "$errs" \
		"$(awk -v a="$io0" -v b="$io1" -v n="$ok" 'BEGIN { printf "%.2f", (b - a) / (n ? n : 1) }')" \
		"$(awk -v a="$cpu0" -v b="$cpu1" -v n="$ok" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (b - a) * 1e6 / hz / (n ? n : 1) }')" \
		"$be" "$(date -u +%H:%M:%S)"
}

# syscw PID: the write system calls the process made so far.
syscw() { sed -n 's/^syscw: //p' "/proc/$1/io"; }
# cputicks PID: its user and system time so far, in clock ticks.
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# backendticks: "PID:ticks" for every client backend of the database
# (but psql's own), read from /proc (the server runs on this machine).
backendticks() {
	local pid
	for pid in $(psql -qAt "$pgurl" -c "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"); do
		[ -r "/proc/$pid/stat" ] && printf '%s:%s ' "$pid" "$(cputicks "$pid")"
	done
}
# backenddiff BEFORE AFTER N: µs of backend CPU per allocation between two
# backendticks (a backend absent before counts from zero; one gone after,
# which the pool closed during the run, is lost: rare, and low).
backenddiff() {
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		k = split(a, xs, " "); for (i = 1; i <= k; i++) { split(xs[i], f, ":"); before[f[1]] = f[2] }
		k = split(b, xs, " "); for (i = 1; i <= k; i++) { split(xs[i], f, ":"); t += f[2] - before[f[1]] }
		printf "%.0f", t * 1e6 / hz / (n ? n : 1) }'
}

printf 'round\tstore\tmode\tbinary\trate (ok)\tp99\terrors\twrites/alloc\tcpu/alloc\tUTC\n'
for round in $(seq "$rounds"); do
	for store in $stores; do
		for mode in $modes; do
			if [ $((round % 2)) = 1 ]; then
				run "$round" "$store" "$mode" old "$old"
				run "$round" "$store" "$mode" new "$new"
			else
				run "$round" "$store" "$mode" new "$new"
				run "$round" "$store" "$mode" old "$old"
			fi
		done
	done
done
