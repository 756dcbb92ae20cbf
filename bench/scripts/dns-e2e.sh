#!/usr/bin/env bash
# DNS end to end at scale (bench/README.md, "Session 7: DNS end to end at
# scale"): on a COPY of a large register, add a signed forward zone (NSEC3,
# ECDSA P-256) over its named assignments and the signed ip6.arpa zone of
# one region's /32, run `cadastre serve --dns` and a Knot secondary that
# transfers both, and measure:
#   - the server's start-up (CPU, wall, RSS) until it answers the zones' SOA;
#   - Knot's AXFR of both zones (wall until Knot serves cadastre's serials);
#   - for N single `cadastre alloc --name` changes (an IPv6 /128 in REGION,
#     so an AAAA in the forward zone and a PTR in the reverse zone): the
#     wall time from the CLI's return until the server answers the new name
#     and until Knot does (after NOTIFY + IXFR), the server's CPU and
#     knotd's CPU over each change, and Knot's own time for each zone's
#     refresh (its log's "zone updated, N seconds": SOA query, IXFR and
#     applying it).
# Never run in CI: it takes minutes and gigabytes at 1M names.
#
#   bench/scripts/dns-e2e.sh SRC.db [WORKDIR]
#   DSN=postgres://... bench/scripts/dns-e2e.sh - [WORKDIR]
#
# Environment: CADASTRE (binary; default: go build into WORKDIR), CHANGES
# (default 5), REGION (default us-east), PORT/KPORT/HPORT/MPORT (DNS, Knot,
# HTTP, metrics; defaults 18453/18454/18480/18481), POLL (--dns-poll, default the server's),
# KEEP=1 keeps WORKDIR, PPROF=PORT serves Go's profiles on 127.0.0.1:PORT
# and writes WORKDIR/changes.pprof, the server's CPU profile over the
# changes, SIGN=0 leaves both zones unsigned (memory at 10M), NOREVERSE=1
# adds no reverse zone, NOKNOT=1 runs no secondary, SYNTH=1 makes the
# reverse zone synthesise the PTRs of its pools' unnamed addresses as
# ip-{addr}.syn.cloud.example (linking it to the forward zone), SPLIT=1
# serves REGION's names as a zone of their own, REGION.cloud.example,
# delegated (NS and DS) from cloud.example and transferred by Knot too: a
# change then costs Knot the IXFR of that zone, not of the whole
# cloud.example (Knot applies an IXFR in time proportional to the zone's
# size; bench/README.md, "Session 10: Knot's IXFR at 10M names"). The
# register SRC is copied, never written. DSN runs it against a PostgreSQL
# database instead (SRC is then -): a COPY the caller made (createdb -T),
# which the script writes into (zones, keys, the changes); SPLIT=1 then
# splits live after a first round of changes, in the split's two steps
# (`cadastre zone split --region REGION --stage`, then the same without
# --stage, which delegates), each measured, then runs a second round; the
# PostgreSQL backends' CPU is printed beside the server's. LIVE=1 with
# SPLIT=1 splits live on SQLite too (without it the SQLite copy is split
# before the server starts; PRESPLIT=0 leaves out the round of changes
# before it). CACHE=FILE starts the server with --dns-signature-cache FILE. STARTPROF=SECS
# (with PPROF) writes the start-up's CPU profile in pieces of SECS seconds,
# WORKDIR/startup-N.pprof, and its heap once it answers.
set -euo pipefail

src=${1:?usage: dns-e2e.sh SRC.db [WORKDIR]}
work=${2:-$(mktemp -d /tmp/dns-e2e.XXXXXX)}
mkdir -p "$work"
changes=${CHANGES:-5}
region=${REGION:-us-east}
port=${PORT:-18453}
kport=${KPORT:-18454}
hport=${HPORT:-18480}
mport=${MPORT:-18481}
zone=cloud.example
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CADASTRE:-}
if [ -z "$bin" ]; then
	bin=$work/cadastre
	(cd "$here" && go build -o "$bin" ./cmd/cadastre)
fi
db=$work/r.db
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = "" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
# cpu PID: user+system CPU seconds of a process so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{printf "RSS %d MB (peak %d MB)", r/1024, h/1024}' "/proc/$1/status"; }
serial() { kdig +short +time=2 +retry=0 @"$1" -p "$2" "$3" SOA 2>/dev/null | awk '{print $3}' || true; }
say() { printf '%s\n' "$*"; }
# heap: the server's Go heap (metrics) and the live heap after its last
# collection (gctrace in serve.log).
heap() {
	say "   heap: $(curl -s "http://127.0.0.1:$mport/metrics" | awk '/^go_memstats_heap_(inuse|alloc)_bytes /{printf "%s %d MB  ", $1, $2/1048576}')live after the last GC $(grep -o '[0-9]*->[0-9]*->[0-9]* MB' "$work/serve.log" | tail -1)"
}

dsn=${DSN:-}
if [ -n "$dsn" ]; then
	say "== PostgreSQL $dsn ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	c() { "$bin" --postgres "$dsn" "$@"; }
	# PostgreSQL wants the sealing key given (every replica needs it).
	[ -n "${CADASTRE_TOKEN_KEY:-}" ] || export CADASTRE_TOKEN_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	sql() { psql "$dsn" -Atc "$1" 2>/dev/null || true; }
	dbname=$(sql "SELECT current_database()")
else
	say "== copy $src -> $db ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	cp "$src" "$db"
	[ -f "$src-wal" ] && cp "$src-wal" "$db-wal"
	c() { "$bin" --db "$db" "$@"; }
	sql() { sqlite3 -readonly "$db" "$1" 2>/dev/null || true; }
fi
# pgcpu: the CPU seconds of every PostgreSQL backend of the database, so
# far (the live ones; a backend that ended is not counted).
pgcpu() {
	[ -n "$dsn" ] || { echo 0; return; }
	local t=0 p
	for p in $(psql "$dsn" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$dbname'" 2>/dev/null); do
		# A backend may end between the list and its read.
		t=$(awk -v t="$t" -v h="$(getconf CLK_TCK)" '{printf "%.2f", t + ($14+$15)/h}' "/proc/$p/stat" 2>/dev/null || echo "$t")
	done
	echo "$t"
}

# pgrows: the database's rows read (tup_returned + tup_fetched), blocks
# (hit + read) and commits so far, from pg_stat_database; and FILE, if
# given, gets each table's scans and rows read (pg_stat_user_tables).
# Backends report them at the end of a transaction, an idle one within a
# second: the caller waits that long first.
pgrows() {
	[ -n "$dsn" ] || { echo "0 0 0"; return; }
	[ -z "${1:-}" ] || sql "SELECT relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY relname" >"$1"
	sql "SELECT tup_returned + tup_fetched, blks_hit + blks_read, xact_commit FROM pg_stat_database WHERE datname = current_database()" | tr '|' ' '
}
rowsdiff() { awk -v a="$1" -v b="$2" 'BEGIN{split(a, x, " "); split(b, y, " "); printf "rows %d, blocks %d, commits %d", y[1]-x[1], y[2]-x[2], y[3]-x[3]}'; }
nround=0

# The reverse zone: REGION's IPv6 /32 (the block the region's /128s come from).
v6=$(sql "SELECT b.prefix FROM blocks b WHERE b.prefix LIKE '%:%/32' AND EXISTS (SELECT 1 FROM pools p JOIN regions r ON r.id = p.region_id WHERE r.name = '$region' AND p.block_id = b.id) LIMIT 1")
if [ -z "$v6" ]; then
	v6=$(c pool list --region "$region" 2>/dev/null | awk '!found && $0 ~ /:/ {for (i=1;i<=NF;i++) if ($i ~ /:.*\/(32|4[0-8])$/) {print $i; found=1; break}}')
fi
: "${v6:?no IPv6 /32 of $region found}"
tenant=$(sql "SELECT name FROM tenants LIMIT 1")
say "   reverse prefix $v6, tenant ${tenant:-none}"

t0=$(now)
c zone add "$zone" --ns ns1.$zone --ns-addr ns1.$zone=192.0.2.53 --allow-transfer 127.0.0.1/32 --notify 127.0.0.1:$kport >/dev/null
[ "${SIGN:-1}" = 0 ] || c zone sign "$zone" >/dev/null
rzone=""
if [ -z "${NOREVERSE:-}" ]; then
	synth=()
	[ -n "${SYNTH:-}" ] && synth=(--synthesize "ip-{addr}.syn.$zone")
	c zone add --kind reverse --prefix "$v6" "${synth[@]}" --ns ns1.$zone --allow-transfer 127.0.0.1/32 --notify 127.0.0.1:$kport - >/dev/null
	[ "${SIGN:-1}" = 0 ] || c zone sign "$v6" >/dev/null
	rzone=$(c zone list 2>/dev/null | awk '!found && /ip6\.arpa/ {print $1; found=1}')
fi
szone=""
livesplit=""
if [ -n "${SPLIT:-}" ] && { [ -n "$dsn" ] || [ -n "${LIVE:-}" ]; }; then
	# With a DSN (or LIVE=1 on SQLite) the split is made live, in its
	# two steps, after a first round of changes in the one zone (see
	# below).
	livesplit=$region.$zone
elif [ -n "${SPLIT:-}" ]; then
	szone=$region.$zone
	c zone add "$szone" --ns ns1.$zone --allow-transfer 127.0.0.1/32 --notify 127.0.0.1:$kport >/dev/null
	c record add "$zone" "$region" NS "ns1.$zone." >/dev/null
	if [ "${SIGN:-1}" != 0 ]; then
		c zone sign "$szone" >/dev/null
		ds=$(c zone ds "$szone" | awk '{for (i = 1; i <= NF; i++) if ($i == "DS") {print $(i+1), $(i+2), $(i+3), $(i+4); exit}}')
		c record add "$zone" "$region" DS "$ds" >/dev/null
	fi
fi
say "   zones added and signed in $(since "$t0") s wall: $zone, $rzone${szone:+, $szone}"

say "== serve --dns 127.0.0.1:$port ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
pollflag=()
[ -n "${POLL:-}" ] && pollflag=(--dns-poll "$POLL")
[ -n "${PPROF:-}" ] && pollflag+=(--pprof "127.0.0.1:$PPROF")
[ -n "${CACHE:-}" ] && pollflag+=(--dns-signature-cache "$CACHE")
t0=$(now)
# gctrace: the heap live after each collection (the third figure of
# "A->B->C MB") is in serve.log.
storeflag=(--db "$db")
[ -n "$dsn" ] && storeflag=(--postgres "$dsn")
GODEBUG=gctrace=1 "$bin" "${storeflag[@]}" serve --listen 127.0.0.1:$hport --metrics-listen 127.0.0.1:$mport --dns 127.0.0.1:$port "${pollflag[@]}" >"$work/serve.log" 2>&1 &
spid=$!
pids+=("$spid")
sprof=""
if [ -n "${PPROF:-}" ] && [ -n "${STARTPROF:-}" ]; then
	# The start-up's CPU profile, in pieces of STARTPROF seconds (one
	# profile at a time: each waits for the last), until it answers.
	(
		n=0
		until [ -e "$work/started" ]; do
			n=$((n + 1))
			curl -s -o "$work/startup-$n.pprof" "http://127.0.0.1:$PPROF/debug/pprof/profile?seconds=$STARTPROF" || sleep 1
		done
	) &
	sprof=$!
fi
for _ in $(seq 1 36000); do
	s1=$(serial 127.0.0.1 $port $zone)
	s2=x
	[ -n "$rzone" ] && s2=$(serial 127.0.0.1 $port "$rzone")
	s3=x
	[ -n "$szone" ] && s3=$(serial 127.0.0.1 $port "$szone")
	[ -n "$s1" ] && [ -n "$s2" ] && [ -n "$s3" ] && break
	kill -0 "$spid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
	sleep 0.2
done
say "   first answer after $(since "$t0") s wall, server CPU $(cpu $spid) s, $(rss $spid); serials $s1 $s2${szone:+ $s3}${dsn:+; PostgreSQL backends CPU now $(pgcpu) s}"
heap
if [ -n "$sprof" ]; then
	touch "$work/started"
	curl -s -o "$work/startup-heap.pprof" "http://127.0.0.1:$PPROF/debug/pprof/heap"
	wait "$sprof" || true
	say "   start-up CPU profiles: $work/startup-*.pprof (go tool pprof -top $bin $work/startup-[0-9]*.pprof), heap $work/startup-heap.pprof"
fi
echo "   zone loads logged: $(grep -c 'dns zone loaded' "$work/serve.log" || true)"

kdir=$work/knot
mkdir -p "$kdir"
touch "$kdir/knot.log"
kpid=""
if [ -z "${NOKNOT:-}" ]; then
say "== knotd on 127.0.0.1:$kport, AXFR of the zones"
# background-workers is Knot's default (one per processor): a change's
# forward and reverse IXFRs are applied side by side, not one after the
# other (with 1 worker the forward zone waited for the reverse zone's
# refresh in most changes).
cat >"$kdir/knot.conf" <<EOF
server:
    rundir: "$kdir"
    listen: 127.0.0.1@$kport
database:
    storage: "$kdir"
log:
  - target: "$kdir/knot.log"
    any: info
remote:
  - id: cadastre
    address: 127.0.0.1@$port
acl:
  - id: notify-plain
    address: 127.0.0.1
    action: notify
template:
  - id: default
    master: cadastre
    acl: [notify-plain]
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    journal-max-usage: 4G
    semantic-checks: off
zone:
  - domain: "$zone"
EOF
for z in $rzone $szone; do printf '  - domain: "%s"\n' "$z" >>"$kdir/knot.conf"; done
knotc -c "$kdir/knot.conf" conf-check >/dev/null
t0=$(now)
knotd -c "$kdir/knot.conf" >"$kdir/knotd.out" 2>&1 &
kpid=$!
pids+=("$kpid")
for _ in $(seq 1 36000); do
	[ "$(serial 127.0.0.1 $kport $zone)" = "$s1" ] && { [ -z "$rzone" ] || [ "$(serial 127.0.0.1 $kport "$rzone")" = "$s2" ]; } &&
		{ [ -z "$szone" ] || [ "$(serial 127.0.0.1 $kport "$szone")" = "$s3" ]; } && break
	kill -0 "$kpid" 2>/dev/null || { cat "$kdir/knot.log"; exit 1; }
	sleep 0.2
done
say "   Knot serves the serials after $(since "$t0") s wall; knotd CPU $(cpu $kpid) s, $(rss $kpid); server CPU now $(cpu $spid) s"
grep 'AXFR, incoming' "$kdir/knot.log" | grep -E 'finished|started' | sed 's/^/   knot: /' || true

fi

say "== $changes single named assignments in $region ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
idle0=$(cpu $spid)
sleep 10
idle1=$(cpu $spid)
say "   idle server CPU over 10 s: $(awk -v a="$idle0" -v b="$idle1" 'BEGIN{printf "%.2f", b-a}') s"
tflag=()
[ -n "$tenant" ] && tflag=(--tenant "$tenant")
prof=""
if [ -n "${PPROF:-}" ]; then
	curl -s -o "$work/changes.pprof" "http://127.0.0.1:$PPROF/debug/pprof/profile?seconds=${PROFSECS:-120}" &
	prof=$!
fi
# round: CHANGES single named assignments, each measured.
round() {
nround=$((nround + 1))
for i in $(seq 1 "$changes"); do
	name=e2e-$(date +%s%N | tail -c 9)-$i.$region.$zone
	ixfr0=$(grep -c 'IXFR, incoming.*finished' "$kdir/knot.log" || true)
	upd0=$(grep -c 'zone updated' "$kdir/knot.log" || true)
	k0=""
	[ -n "$kpid" ] && k0=$(cpu $kpid)
	c0=$(cpu $spid)
	p0=$(pgcpu)
	r0=$(pgrows "$work/tables-$nround-$i-0.txt")
	a0=$(now)
	addr=$(c alloc --region "$region" --family 6 --name "$name" "${tflag[@]}" --json | sed -n 's/.*"prefix": *"\([^"/]*\)\/128".*/\1/p' | head -1)
	t0=$(now)
	cli=$(awk -v a="$a0" -v b="$t0" 'BEGIN{printf "%.3f", b-a}')
	ts="" tk=""
	for _ in $(seq 1 3000); do
		if [ -z "$ts" ] && [ -n "$(kdig +short +time=1 +retry=0 @127.0.0.1 -p $port "$name" AAAA 2>/dev/null || true)" ]; then ts=$(since "$t0"); fi
		if [ -z "$tk" ] && [ -n "$kpid" ] && [ -n "$(kdig +short +time=1 +retry=0 @127.0.0.1 -p $kport "$name" AAAA 2>/dev/null || true)" ]; then tk=$(since "$t0"); fi
		[ -n "$ts" ] && { [ -n "$tk" ] || [ -z "$kpid" ]; } && break
		sleep 0.02
	done
	c1=$(cpu $spid)
	p1=$(pgcpu)
	kinfo=""
	if [ -n "$kpid" ]; then
		# knotd's CPU once both IXFRs (the name's zone and the reverse
		# zone) are applied, and Knot's time for each zone's refresh.
		for _ in $(seq 1 200); do
			[ "$(grep -c 'zone updated' "$kdir/knot.log" || true)" -ge $((upd0 + ${rzone:+1} + 1)) ] && break
			sleep 0.05
		done
		sleep 0.2
		kinfo="; knotd CPU $(awk -v a="$k0" -v b="$(cpu $kpid)" 'BEGIN{printf "%.2f", b-a}') s; Knot's refreshes: $(tail -n +"$((upd0 + 1))" <(grep 'zone updated' "$kdir/knot.log") | sed -n 's/.*\[\([^]]*\)\].*zone updated, \([0-9.]*\) seconds.*/\1 \2 s/p' | paste -sd, - | sed "s/,/, /g")"
	fi
	r1=""
	if [ -n "$dsn" ]; then
		sleep 1.2 # the idle backends report their counts
		r1="; database: $(rowsdiff "$r0" "$(pgrows "$work/tables-$nround-$i-1.txt")") (the CLI's, the server's and Knot's transfers)"
	fi
	ptr=""
	[ -n "$addr" ] && [ -n "$kpid" ] && ptr=$(kdig +short @127.0.0.1 -p $kport -x "$addr" 2>/dev/null | head -1 || true)
	ixfr1=$(grep -c 'IXFR, incoming.*finished' "$kdir/knot.log" || true)
	say "   $i: alloc CLI ${cli} s; server answers after ${ts:-never} s, Knot after ${tk:-never} s; server CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.3f", b-a}') s${dsn:+, backends $(awk -v a="$p0" -v b="$p1" 'BEGIN{printf "%.3f", b-a}') s}; Knot IXFRs +$((ixfr1 - ixfr0))$kinfo; Knot PTR ${ptr:-none}$r1"
done
}
# PRESPLIT=0 leaves out the round in the one zone before a live split.
[ -n "$livesplit" ] && [ "${PRESPLIT:-1}" = 0 ] || round
if [ -n "$livesplit" ]; then
	# The split in its two steps (authdns/manage/split.go), each measured:
	# 1. `zone split --stage`: the child is written staged; the server
	#    builds and serves it (the parent keeps the names), Knot learns it
	#    here as its catalog would tell it and transfers it;
	# 2. `zone split` again: the child is delegated (NS, DS into the
	#    parent, the names out of it); the server rebuilds the parent and
	#    Knot applies its IXFR.
	say "== zone split $zone --region $region --stage, live ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	szone=$livesplit
	c0=$(cpu $spid) p0=$(pgcpu) k0=""
	[ -n "$kpid" ] && k0=$(cpu $kpid)
	ts=$(now)
	/usr/bin/time -f '%U %S %M' -o "$work/split.time" "$bin" "${storeflag[@]}" zone split "$zone" --region "$region" --stage | sed 's/^/   /'
	say "   CLI: $(since "$ts") s wall, CPU $(awk '{printf "%.2f s, peak RSS %d MB", $1+$2, $3/1024}' "$work/split.time"), backends $(awk -v a="$p0" -v b="$(pgcpu)" 'BEGIN{printf "%.2f", b-a}') s (until the CLI returned)"
	ts2=$(now) tsrv="" tkn="" kadded=""
	for _ in $(seq 1 36000); do
		[ -z "$tsrv" ] && [ -n "$(serial 127.0.0.1 $port "$szone")" ] && tsrv=$(since "$ts2")
		if [ -n "$tsrv" ] && [ -n "$kpid" ] && [ -z "$kadded" ]; then
			# Knot learns the child here as its catalog would tell it
			# (a zone configured before it exists is answered SERVFAIL).
			printf '  - domain: "%s"\n' "$szone" >>"$kdir/knot.conf"
			knotc -c "$kdir/knot.conf" reload >/dev/null
			kadded=1
		fi
		if [ -n "$tsrv" ] && [ -n "$kpid" ] && [ -z "$tkn" ] && [ "$(serial 127.0.0.1 $kport "$szone")" = "$(serial 127.0.0.1 $port "$szone")" ]; then tkn=$(since "$ts2"); fi
		[ -n "$tsrv" ] && { [ -n "$tkn" ] || [ -z "$kpid" ]; } && break
		sleep 0.2
	done
	say "   server serves the staged $szone after ${tsrv:-never} s, Knot serves it after ${tkn:-never} s; server CPU $(awk -v a="$c0" -v b="$(cpu $spid)" 'BEGIN{printf "%.2f", b-a}') s, backends $(awk -v a="$p0" -v b="$(pgcpu)" 'BEGIN{printf "%.2f", b-a}') s${kpid:+, knotd $(awk -v a="$k0" -v b="$(cpu $kpid)" 'BEGIN{printf "%.2f", b-a}') s}; $(rss $spid)"
	say "== zone split $zone --region $region (delegate), live ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	sp0=$(serial 127.0.0.1 $port $zone)
	c0=$(cpu $spid) p0=$(pgcpu) k0=""
	[ -n "$kpid" ] && k0=$(cpu $kpid)
	ts=$(now)
	/usr/bin/time -f '%U %S %M' -o "$work/split2.time" "$bin" "${storeflag[@]}" zone split "$zone" --region "$region" | sed 's/^/   /'
	say "   CLI: $(since "$ts") s wall, CPU $(awk '{printf "%.2f s, peak RSS %d MB", $1+$2, $3/1024}' "$work/split2.time"), backends $(awk -v a="$p0" -v b="$(pgcpu)" 'BEGIN{printf "%.2f", b-a}') s (until the CLI returned)"
	ts2=$(now) tsrv="" tkn=""
	for _ in $(seq 1 36000); do
		sp=$(serial 127.0.0.1 $port $zone)
		[ -z "$tsrv" ] && [ -n "$sp" ] && [ "$sp" != "$sp0" ] && tsrv=$(since "$ts2")
		if [ -n "$tsrv" ] && [ -n "$kpid" ] && [ -z "$tkn" ] && [ "$(serial 127.0.0.1 $kport $zone)" = "$sp" ]; then tkn=$(since "$ts2"); fi
		[ -n "$tsrv" ] && { [ -n "$tkn" ] || [ -z "$kpid" ]; } && break
		sleep 0.2
	done
	say "   server serves the delegating $zone after ${tsrv:-never} s, Knot its IXFR after ${tkn:-never} s; server CPU $(awk -v a="$c0" -v b="$(cpu $spid)" 'BEGIN{printf "%.2f", b-a}') s, backends $(awk -v a="$p0" -v b="$(pgcpu)" 'BEGIN{printf "%.2f", b-a}') s${kpid:+, knotd $(awk -v a="$k0" -v b="$(cpu $kpid)" 'BEGIN{printf "%.2f", b-a}') s}; $(rss $spid)"
	grep 'zone updated' "$kdir/knot.log" | tail -n 3 | sed 's/^/   knot: /' || true
	say "== $changes single named assignments in $region, split ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	round
fi
say "   after the changes: server CPU $(cpu $spid) s, $(rss $spid)${kpid:+; knotd $(rss $kpid)}"
heap
if [ -n "$prof" ]; then
	wait "$prof" || true
	say "   CPU profile: $work/changes.pprof (go tool pprof -top $bin $work/changes.pprof)"
fi
grep -E 'zone loaded|full|delta' "$work/serve.log" | tail -n $((2 * changes + 2)) | sed 's/^/   serve: /' | cut -c1-240 || true
say "== done ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
