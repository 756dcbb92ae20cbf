#!/usr/bin/env bash
# The signed DNS start-up alone (bench/README.md, "Session 10: signed DNS
# start-up"): the server's CPU, wall time, peak RSS and the garbage
# collector's share of the CPU from `cadastre serve --dns` to the first
# answer of both zones, on a fresh copy of a prepared register each run.
#
#   bench/scripts/dns-startup.sh prep SRC.db OUT.db     # once: a copy of SRC with the
#       # signed (NSEC3, ECDSA P-256) forward zone cloud.example over its named
#       # assignments and us-east's signed ip6.arpa zone, as dns-e2e.sh adds them
#   bench/scripts/dns-startup.sh run BIN OUT.db PORT TAG  # one start-up of binary BIN
#
# run prints one line: TAG, the server's user+system CPU (/proc) at the
# first answer, wall, peak RSS, the load average before and after, and
# the CPU profile's total and its GC part (runtime.gcBgMarkWorker,
# gcAssistAlloc, bgsweep...), from 15 s profiles taken from the start to
# just after the first answer (--pprof on PORT+3; HTTP on PORT+1,
# metrics on PORT+2). gctrace's "ms cpu" is not used: it counts the
# time a collector's thread held a P, which under load is mostly waiting.
# Alternate the binaries compared, several rounds each. PREP (the
# prepared register) is copied, never written; its .key file goes with it.
# CACHE=FILE starts the server with --dns-signature-cache FILE (kept
# between runs: the first run writes it, the next find their signatures
# there); the line then ends with the signatures found and written, from
# the server's log. PROFDIR=DIR keeps the start-up's CPU profiles there
# (DIR/TAG-N.pprof).
set -euo pipefail
cmd=${1:?usage: dns-startup.sh prep SRC OUT | run BIN PREP PORT TAG}
shift
if [ "$cmd" = prep ]; then
	src=${1:?}; db=${2:?}; bin=${CADASTRE:-cadastre}; zone=cloud.example; region=${REGION:-us-east}
	cp "$src" "$db"
	if [ -f "$src-wal" ]; then cp "$src-wal" "$db-wal"; fi
	c() { "$bin" --db "$db" "$@"; }
	v6=$(c pool list --region "$region" | awk '!found && $1 ~ /:.*\/(32|4[0-8])$/ {print $1; found=1}')
	c zone add "$zone" --ns ns1.$zone --ns-addr ns1.$zone=192.0.2.53 >/dev/null
	c zone sign "$zone" >/dev/null
	c zone add --kind reverse --prefix "${v6:?no IPv6 pool of $region}" --ns ns1.$zone - >/dev/null
	c zone sign "$v6" >/dev/null
	c zone list
	exit 0
fi
bin=${1:?}; prep=${2:?}; port=${3:?}; tag=${4:?}
run=$(mktemp -d /tmp/dns-startup.XXXXXX)
cp "$prep" "$run/r.db"
cp "$prep.key" "$run/r.db.key"
rz=$("$bin" --db "$run/r.db" zone list | awk '!found && /ip6\.arpa/ {print $1; found=1}')
pport=$((port + 3))
load0=$(cut -d' ' -f1 /proc/loadavg)
t0=$(date +%s.%N)
nice -n "${NICE:-10}" "$bin" --db "$run/r.db" serve --listen 127.0.0.1:$((port + 1)) --metrics-listen 127.0.0.1:$((port + 2)) \
	--dns 127.0.0.1:$port --pprof 127.0.0.1:$pport ${CACHE:+--dns-signature-cache "$CACHE"} >"$run/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$run"' EXIT
(
	i=0
	while kill -0 $pid 2>/dev/null && [ ! -f "$run/done" ]; do
		curl -s -o "$run/prof-$i" "http://127.0.0.1:$pport/debug/pprof/profile?seconds=15" || sleep 0.1
		i=$((i + 1))
	done
) &
ppid=$!
ser() { kdig +short +time=2 +retry=0 @127.0.0.1 -p "$port" "$1" SOA 2>/dev/null | awk '{print $3}' || true; }
while :; do
	kill -0 $pid 2>/dev/null || { tail -5 "$run/serve.log"; exit 1; }
	a=$(ser cloud.example.)
	b=$(ser "$rz")
	[ -n "$a" ] && [ -n "$b" ] && break
	sleep 0.2
done
t1=$(date +%s.%N)
cpu=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' /proc/$pid/stat)
hwm=$(awk '/^VmHWM/{printf "%d", $2/1024}' /proc/$pid/status)
touch "$run/done"
wait $ppid || true
profs=$(find "$run" -name 'prof-*' -size +0 | sort)
if [ -n "${PROFDIR:-}" ]; then
	mkdir -p "$PROFDIR"
	for f in $profs; do cp "$f" "$PROFDIR/$tag-${f##*prof-}.pprof"; done
fi
# shellcheck disable=SC2086
tot=$(go tool pprof -top $profs 2>/dev/null | awk '/^Showing nodes/ {for (i = 1; i <= NF; i++) if ($i == "of") {print $(i+1); exit}}')
# shellcheck disable=SC2086
gc=$(go tool pprof -top -nodecount=100000 -focus 'runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep|bgscavenge|gcStart|markroot)' $profs 2>/dev/null |
	awk '/^Showing nodes/ {print $5; exit}' | tr -d ,)
printf '%s cpu %s s wall %.1f s peakRSS %s MB load %s-%s profile %s GC %s\n' "$tag" "$cpu" "$(echo "$t1 - $t0" | bc)" "$hwm" \
	"$load0" "$(cut -d' ' -f1 /proc/loadavg)" "$tot" "$gc"
if [ -n "${CACHE:-}" ]; then
	# The cache is written after the first build is published: wait for it
	# (at most 20 min) before the server is stopped.
	for _ in $(seq 1200); do
		grep -q 'signature cache \(not \)\?written' "$run/serve.log" && break
		sleep 1
	done
	grep 'signature cache' "$run/serve.log" || true
fi
