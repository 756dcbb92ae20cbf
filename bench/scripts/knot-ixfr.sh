#!/usr/bin/env bash
# Knot's cost of one IXFR by zone size, without cadastre (bench/README.md,
# "Session 10: Knot's IXFR at 10M names"): a Knot primary loads a zone of
# N AAAA names (signed by Knot, NSEC3 and ECDSA P-256, unless SIGN=0), a
# Knot secondary takes it by AXFR, then CHANGES single-name changes are
# made on the primary (knotc zone-begin/zone-set/zone-commit; the primary
# signs them and NOTIFYs). For each: when the secondary answers the new
# name, knotd's CPU over the change (/proc) and the secondary's own time
# for the refresh (its log's "zone updated, N seconds").
#
#   bench/scripts/knot-ixfr.sh N [WORKDIR]
#
# Environment: SIGN (default 1), CHANGES (default 3), PPORT/SPORT (primary
# and secondary ports; defaults 18455/18456), SECONDARY_CONF (options of
# the secondary's zone template, one a line, each replacing the script's
# own: "journal-content: none"), KEEP=1 keeps WORKDIR.
set -euo pipefail
n=${1:?usage: knot-ixfr.sh N [WORKDIR]}
work=${2:-$(mktemp -d /tmp/knot-ixfr.XXXXXX)}
changes=${CHANGES:-3}
pport=${PPORT:-18455}
sport=${SPORT:-18456}
z=big.example
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = "" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{printf "%d MB", $2/1024}' "/proc/$1/status"; }
serial() { kdig +short +time=2 +retry=0 @127.0.0.1 -p "$1" "$2" SOA 2>/dev/null | awk '{print $3}' || true; }
say() { printf '%s\n' "$*"; }

mkdir -p "$work/p" "$work/s"
awk -v n="$n" -v z="$z" 'BEGIN{
	print "$ORIGIN " z "."; print "$TTL 300"
	print "@ SOA ns1 hostmaster 1 3600 600 1209600 300"
	print "@ NS ns1"; print "ns1 A 192.0.2.53"
	for (i = 0; i < n; i++) printf "vm%07d.us-east AAAA 2001:db8::%x:%x\n", i, int(i / 65536), i % 65536
}' >"$work/p/$z.zone"
signing=off
[ "${SIGN:-1}" = 0 ] || signing=on
cat >"$work/p/knot.conf" <<EOC
server:
    rundir: "$work/p"
    listen: 127.0.0.1@$pport
database:
    storage: "$work/p"
log:
  - target: "$work/p/knot.log"
    any: info
remote:
  - id: secondary
    address: 127.0.0.1@$sport
acl:
  - id: transfer
    address: 127.0.0.1
    action: transfer
policy:
  - id: p256
    algorithm: ecdsap256sha256
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
    single-type-signing: on
template:
  - id: default
    storage: "$work/p"
    file: "%s.zone"
    zonefile-sync: -1
    dnssec-signing: $signing
    dnssec-policy: p256
    notify: secondary
    acl: [transfer]
zone:
  - domain: $z
EOC
# tmpl: the secondary's zone template as bench/scripts/dns-e2e.sh
# configures it for cadastre, each option SECONDARY_CONF names replaced.
tmpl() {
	printf '%s\n' "zonefile-sync: -1" "zonefile-load: none" "journal-content: changes" \
		"journal-max-usage: 4G" "semantic-checks: off" "${SECONDARY_CONF:-}" |
		awk '/^$/ {next} {k = $1; if (k in v) {v[k] = $0} else {o[++n] = k; v[k] = $0}} END {for (i = 1; i <= n; i++) print "    " v[o[i]]}'
}
# The secondary as bench/scripts/dns-e2e.sh configures it for cadastre.
cat >"$work/s/knot.conf" <<EOC
server:
    rundir: "$work/s"
    listen: 127.0.0.1@$sport
database:
    storage: "$work/s"
log:
  - target: "$work/s/knot.log"
    any: info
remote:
  - id: primary
    address: 127.0.0.1@$pport
acl:
  - id: notify
    address: 127.0.0.1
    action: notify
template:
  - id: default
    master: primary
    acl: [notify]
$(tmpl)
zone:
  - domain: $z
EOC
knotc -c "$work/p/knot.conf" conf-check >/dev/null
knotc -c "$work/s/knot.conf" conf-check >/dev/null

say "== primary: $n names, signing $signing ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
t0=$(now)
knotd -c "$work/p/knot.conf" >"$work/p/out" 2>&1 &
ppid=$!
pids+=("$ppid")
until [ -n "$(serial "$pport" $z)" ]; do
	kill -0 "$ppid" || { cat "$work/p/knot.log"; exit 1; }
	sleep 0.5
done
# A signing primary serves the unsigned zone's serial first: wait for the
# signed one (serial 2).
[ "$signing" = off ] || until [ "$(serial "$pport" $z)" != 1 ]; do sleep 0.5; done
s0=$(serial "$pport" $z)
say "   serving serial $s0 after $(since "$t0") s wall, knotd CPU $(cpu $ppid) s, $(rss $ppid)"

t0=$(now)
knotd -c "$work/s/knot.conf" >"$work/s/out" 2>&1 &
spid=$!
pids+=("$spid")
until [ "$(serial "$sport" $z)" = "$s0" ]; do
	kill -0 "$spid" || { cat "$work/s/knot.log"; exit 1; }
	sleep 0.2
done
say "== secondary: AXFR in $(since "$t0") s wall, knotd CPU $(cpu $spid) s, $(rss $spid)"
sleep 2
pc=(knotc -c "$work/p/knot.conf")
for i in $(seq 1 "$changes"); do
	name=ixfr-$(date +%s%N | tail -c 9)-$i.us-east
	u0=$(grep -c 'zone updated' "$work/s/knot.log" || true)
	k0=$(cpu "$spid")
	"${pc[@]}" zone-begin $z >/dev/null
	"${pc[@]}" zone-set $z "$name" 300 AAAA "2001:db8:ffff::$i" >/dev/null
	"${pc[@]}" zone-commit $z >/dev/null
	t0=$(now)
	until [ -n "$(kdig +short +time=1 +retry=0 @127.0.0.1 -p "$sport" "$name.$z" AAAA 2>/dev/null || true)" ]; do sleep 0.01; done
	tk=$(since "$t0")
	until [ "$(grep -c 'zone updated' "$work/s/knot.log" || true)" -gt "$u0" ]; do sleep 0.05; done
	sleep 0.5
	say "   $i: the secondary answers ${tk} s after the primary's commit; secondary knotd CPU $(awk -v a="$k0" -v b="$(cpu "$spid")" 'BEGIN{printf "%.2f", b-a}') s; its log: $(grep 'zone updated' "$work/s/knot.log" | tail -1 | grep -o 'zone updated, [0-9.]* seconds')"
	sleep 1
done
say "== done ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
