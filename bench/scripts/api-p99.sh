#!/bin/bash
# usage: api-p99.sh BIN DB [PORT]
#        PG=DSN api-p99.sh BIN - [PORT]     (a PostgreSQL register)
#
# p50/p99/max latency and the server's CPU per request of each kind of API
# read and web page at scale (issue 16: <= 10 ms p99 at 10M assignments;
# web pages p95 < 100 ms). DB must be a COPY of a register (cadastre demo
# --scale N): the script creates a read token in it and, when it holds no
# assignment tags, tags it as scale-tag.sh does.
#
# Path files are drawn from the register with a seed (SEED, default 1):
# the same register and seed give the same files. `serve` runs on loopback
# under `nice -n $SERVE_NICE` (default -10 as root, so the machine's load
# does not stand between it and a core; 0 otherwise); loadgen (build it:
# go build -o loadgen ./cmd/loadgen, or LOADGEN=path) runs at the default
# priority with CLIENTS (4) clients for DUR (8s) per kind. Server CPU per
# request is read from /proc/PID/stat (10 ms ticks). Web pages first get a
# cold pass (the first view of a few of their paths, one at a time, with
# curl) and are then loaded warm. The whole run takes 3-4 minutes.
#
# Output: one line per kind,
#   kind  requests  errors  p50  p99  max  server-cpu-ms/req  loadavg
# then serve's Go heap and peak RSS. With PG=DSN (postgres://...; DB is
# then ignored, give -) the register is that PostgreSQL database, which
# must be a COPY too (createdb -T); the lines add the CPU per request of
# the database's backends (PostgreSQL 15's process titles name it; read
# from /proc every 0.2 s and kept per PID: loadgen cancels its requests in
# flight at the end of a kind and serve's pool closes those connections,
# so a backend's last 0.2 s is not seen: a lower bound) and, from
# pg_stat_database, the buffers (shared hit + read) and tuples (returned
# + fetched) per request (flushed by the backends at most once a second:
# about a second of one kind may be counted in the next). Environment:
# SEED, DUR, CLIENTS,
# KINDS (space-separated subset), KEEP=1 (keep the path files in $D),
# SERVE_NICE, LOADGEN, LOADGEN_NICE (default 0; -10 as well tells the
# client's own waits for a core apart from the server's on a loaded machine).
set -u -o pipefail
BIN=$(readlink -f "$1"); DB=$2; PORT=${3:-18080}; PP=$((PORT+1))
SEED=${SEED:-1}; DUR=${DUR:-8s}; CLIENTS=${CLIENTS:-4}
LG=${LOADGEN:-loadgen}
if [ -z "${SERVE_NICE:-}" ]; then SERVE_NICE=0; [ "$(id -u)" = 0 ] && SERVE_NICE=-10; fi
D=$(mktemp -d /tmp/api-p99.XXXXXX)
command -v "$LG" >/dev/null || { echo "no loadgen: go build -o loadgen ./cmd/loadgen and put it on PATH, or set LOADGEN" >&2; exit 2; }
if [ -n "${PG:-}" ]; then
  Q() { psql "$PG" -X -q -A -t -F'|' -v ON_ERROR_STOP=1 -c "$1"; }
  DB=$PG; STORE=(--postgres "$PG")
  # every replica needs the token key: this run's, unless one is given
  export CADASTRE_TOKEN_KEY=${CADASTRE_TOKEN_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
  PGDB=$(Q "SELECT current_database()") || { echo "$PG: cannot connect" >&2; exit 2; }
  # an assignment's family is its prefix's (migration 00064 dropped the column)
  AFAM="family(a.prefix)"
  APFX="a.prefix::text"
else
  AFAM="a.family"
  APFX="a.family || ':' || hex(a.first) || ':' || a.bits"
  Q() { sqlite3 -readonly -batch -noheader "$DB" "$1"; }
  [ -f "$DB" ] || { echo "$DB: no such register" >&2; exit 2; }
  STORE=(--db "$DB")
fi

# Deterministic samples: the n-th of N is the first row at or after
# 1 + (n * 2654435761 + SEED * 40503) % MAX (a multiplicative hash: spread
# over the whole ID range, the same every run).
MAX=$(Q "SELECT MAX(id) FROM assignments")
N=${N:-2000}
pick="WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < $N),
  s(id) AS (SELECT DISTINCT (SELECT id FROM assignments WHERE id >= 1 + (n * 2654435761 + $SEED * 40503) % $MAX ORDER BY id LIMIT 1) FROM r)"
Q "$pick SELECT s.id FROM s WHERE s.id IS NOT NULL ORDER BY s.id" > $D/ids
ids=$(paste -sd, $D/ids)
# An address of an assignment: its first address from the stored bytes
# (the prefix text is not stored, migration 00033).
if [ -n "${PG:-}" ]; then
  Q "SELECT host(a.prefix) FROM assignments a WHERE a.id IN ($ids) AND a.state <> 'released' ORDER BY a.id" > $D/addrs
else Q "SELECT a.family, hex(a.first), a.bits FROM assignments a WHERE a.id IN ($ids) AND a.state <> 'released'" |
  awk -F'|' '{h=$2; if ($1==4) { printf "%d.%d.%d.%d\n", strtonum("0x" substr(h,1,2)), strtonum("0x" substr(h,3,2)), strtonum("0x" substr(h,5,2)), strtonum("0x" substr(h,7,2)) }
    else { s=""; for (i=0;i<8;i++) s = s (i?":":"") tolower(substr(h, 4*i+1, 4)); print s } }' > $D/addrs
fi
# pfx turns $APFX into a prefix's text: PostgreSQL's cidr text as it is,
# SQLite's family:HEX:bits (the prefix text is not stored) spelled out.
pfx() {
  case $1 in
  4:*:*) local h=${1#4:}; local b=${h#*:}; h=${h%%:*}
    printf '%d.%d.%d.%d/%s' "0x${h:0:2}" "0x${h:2:2}" "0x${h:4:2}" "0x${h:6:2}" "$b";;
  6:*:*) local h=${1#6:}; local b=${h#*:} s= i; h=${h%%:*}
    for ((i=0; i<8; i++)); do s+=${s:+:}${h:4*i:4}; done; printf '%s/%s' "${s,,}" "$b";;
  *) printf '%s' "$1";;
  esac
}
cursor() { printf 'a%s' "$1" | base64 | tr '+/' '-_' | tr -d '=\n'; }
qe() { local s=$1 o= c i; for ((i=0; i<${#s}; i++)); do c=${s:i:1}; case $c in [a-zA-Z0-9.~_-]) o+=$c;; *) o+=$(printf '%%%02X' "'$c");; esac; done; printf '%s' "$o"; }

# Tags for the tag searches (scale-tag.sh), when the register has none.
if [ "$(Q "SELECT COUNT(*) FROM (SELECT 1 FROM tags WHERE kind = 'assignment' AND key = 'env' LIMIT 1) x")" = 0 ]; then
  echo "tagging the register (env=e0..e9 on one live assignment in 100, rare=yes on 3)"
  if [ -n "${PG:-}" ]; then # scale-tag.sh's rows, then the planner's statistics of them
    Q "INSERT INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'env', 'e' || (id/100 % 10) FROM assignments WHERE id % 100 = 0 AND state = 'assigned' ON CONFLICT DO NOTHING" >/dev/null
    Q "INSERT INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'rare', 'yes' FROM assignments WHERE state = 'assigned' AND id > (SELECT MAX(id) - 1000 FROM assignments) ORDER BY id LIMIT 3 ON CONFLICT DO NOTHING" >/dev/null
    Q "ANALYZE tags" >/dev/null
  else
    bash "$(dirname "$0")/scale-tag.sh" "$DB" >/dev/null
  fi
fi

# API kinds.
sed 's|^|/v1/assignments/|' $D/ids | head -1000 > $D/api-get
sed 's|^|/v1/assignments?contains=|' $D/addrs | head -1000 > $D/api-get-address
Q "SELECT '/v1/assignments?name=' || name FROM assignments WHERE id IN ($ids) AND name <> '' AND state <> 'released'" > $D/api-name
Q "SELECT '/v1/assignments?resource=' || resource FROM assignments WHERE id IN ($ids) AND resource <> ''" > $D/api-resource
Q "SELECT DISTINCT '/v1/assignments?tag=env%3D' || value || '&limit=100' FROM tags WHERE kind = 'assignment' AND key = 'env'
   UNION ALL SELECT '/v1/assignments?tag=rare%3Dyes&limit=100'" > $D/api-tag
Q "SELECT '/v1/assignments?region=' || name || '&state=assigned&limit=100' FROM regions
   UNION ALL SELECT '/v1/assignments?region=' || name || '&family=4&limit=100' FROM regions
   UNION ALL SELECT '/v1/assignments?region=' || name || '&family=6&state=assigned&limit=100' FROM regions" > $D/api-region
Q "SELECT '/v1/assignments?region=' || name || '&state=quarantined&limit=100' FROM regions
   UNION ALL SELECT '/v1/assignments?region=' || name || '&state=released&limit=100' FROM regions" > $D/api-region-past
Q "SELECT '/v1/assignments?state=' || s || '&limit=100' FROM (SELECT 'quarantined' AS s UNION ALL SELECT 'released') x
   UNION ALL SELECT '/v1/assignments?family=' || f || '&state=quarantined&limit=100' FROM (SELECT 4 AS f UNION ALL SELECT 6) y" > $D/api-state
Q "SELECT DISTINCT '/v1/assignments?tenant=' || tenant || '&limit=100' FROM assignments WHERE id IN ($ids) AND tenant <> ''" > $D/api-tenant
# Pages deep in the register: the page after a sampled assignment, alone,
# in its region (with a state and a family), of its tenant, of its tag.
: > $D/api-cursor
# A region's page is in address order: its cursor is PREFIX,ID (issue 16).
Q "SELECT a.id, r.name, a.tenant, $AFAM, $APFX FROM assignments a JOIN pools p ON p.id = a.pool_id JOIN regions r ON r.id = p.region_id
   WHERE a.id IN ($ids) ORDER BY a.id LIMIT 400" |
while IFS='|' read -r id region tenant fam at; do
  c=$(cursor "$id")
  echo "/v1/assignments?cursor=$c&limit=100"
  echo "/v1/assignments?region=$region&state=assigned&family=$fam&cursor=$(cursor "$(pfx "$at"),$id")&limit=100"
  [ -n "$tenant" ] && echo "/v1/assignments?tenant=$(qe "$tenant")&cursor=$c&limit=100"
  echo "/v1/assignments?tag=env%3De$((id/100 % 10))&cursor=$c&limit=100"
done > $D/api-cursor

# Web pages (a signed-in session).
Q "SELECT '/region/' || name FROM regions" > $D/web-region
echo /tree > $D/web-tree
Q "SELECT '/tree/block/' || id FROM blocks ORDER BY (id * 2654435761 + $SEED) % 1000003 LIMIT 200" > $D/web-block
Q "SELECT DISTINCT '/tree/pool/' || pool_id FROM assignments WHERE id IN ($ids) LIMIT 300" > $D/web-pool
# a pool's page after one of its assignments (in address order: PREFIX,ID)
Q "SELECT a.pool_id, a.id, $APFX FROM assignments a WHERE a.id IN ($ids) LIMIT 300" |
while IFS='|' read -r pool id at; do echo "/tree/pool/$pool?after=$(qe "$(pfx "$at"),$id")"; done > $D/web-pool-deep
Q "SELECT '/assignments?region=' || name || '&family=4&state=assigned' FROM regions
   UNION ALL SELECT '/assignments?region=' || name || '&state=quarantined' FROM regions
   UNION ALL SELECT '/assignments?region=' || name || '&state=released' FROM regions
   UNION ALL SELECT '/assignments'" > $D/web-assignments
Q "SELECT DISTINCT '/assignments?tenant=' || tenant FROM assignments WHERE id IN ($ids) AND tenant <> ''" > $D/web-tenant
sed 's|^|/assignment/|' $D/ids | head -1000 > $D/web-assignment
sed 's|^|/ip/|' $D/addrs | head -1000 > $D/web-address
{ Q "SELECT name FROM assignments WHERE id IN ($ids) AND name <> '' AND state <> 'released' LIMIT 300"
  Q "SELECT resource FROM assignments WHERE id IN ($ids) AND resource <> '' LIMIT 300"
  Q "SELECT DISTINCT tenant FROM assignments WHERE id IN ($ids) AND tenant <> '' LIMIT 300"; } |
  while read -r q; do echo "/search?q=$(qe "$q")"; done > $D/web-search
echo / > $D/web-overview
for f in $D/api-* $D/web-*; do sed -i 's/ /%20/g' "$f"; done
echo "register ${PGDB:-$DB}: max id $MAX, seed $SEED; paths in $D: $(wc -l $D/api-* $D/web-* | awk '$2 != "total" {sub(".*/", "", $2); printf "%s=%d ", $2, $1}')"

TOK=$("$BIN" "${STORE[@]}" token create --scope read --name "api-p99-$$" --json | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')
[ -n "$TOK" ] || { echo "no token" >&2; exit 1; }
nice -n "$SERVE_NICE" "$BIN" "${STORE[@]}" serve --listen 127.0.0.1:$PORT --metrics-listen off --pprof 127.0.0.1:$PP 2>$D/serve.log &
SP=$!
SMP=
trap 'kill $SP $SMP 2>/dev/null; wait $SP 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf $D' EXIT
t0=$(date +%s.%N)
for i in $(seq 1 600); do curl -sf 127.0.0.1:$PORT/livez >/dev/null && break; kill -0 $SP 2>/dev/null || { cat $D/serve.log; exit 1; }; sleep 0.5; done
echo "serve (nice $SERVE_NICE) listening after $(echo "$(date +%s.%N) - $t0" | bc) s"
# Sign in: the form's CSRF cookie, then the token; the session cookie is what the pages take.
curl -s -c $D/jar -o /dev/null 127.0.0.1:$PORT/signin
PRE=$(awk '$6 == "cadastre_signin" {print $7}' $D/jar)
curl -s -b $D/jar -c $D/jar -o /dev/null --data-urlencode "csrf=$PRE" --data-urlencode "token=$TOK" 127.0.0.1:$PORT/signin
SID=$(awk '$6 == "cadastre_session" {print $7}' $D/jar)
[ -n "$SID" ] || { echo "web sign-in failed" >&2; exit 1; }

TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$SP/stat; }
# PostgreSQL: "pid ticks" of the register's backends and of their parallel
# workers (whose titles name the leader's PID, not the database).
pgticks() {
  local b w
  b=$(pgrep -f "^postgres: [0-9]+/[a-z]+: [^ ]+ $PGDB " | tr '\n' ' ')
  w=$(for p in $(pgrep -f "parallel worker for PID"); do
        l=$(sed 's/.*for PID \([0-9]*\).*/\1/' /proc/$p/cmdline 2>/dev/null | tr -d '\0')
        case " $b " in *" $l "*) echo $p;; esac; done)
  for p in $b $w; do awk -v p=$p '{print p, $14+$15}' /proc/$p/stat 2>/dev/null; done
}
# pg_stat_database's buffers and tuples of the register.
pgblocks() { Q "SELECT blks_hit + blks_read, tup_returned + tup_fetched FROM pg_stat_database WHERE datname = current_database()" | tr '|' ' '; }
heap() { curl -s "127.0.0.1:$PP/debug/pprof/heap?gc=1&debug=1" | grep -E '^# (HeapAlloc|HeapInuse|Sys) ' | tr '\n' ' '; }
echo "heap at start: $(heap)"
KINDS=${KINDS:-"api-get api-get-address api-name api-resource api-tag api-region api-region-past api-state api-tenant api-cursor web-overview web-region web-tree web-block web-pool web-pool-deep web-assignments web-tenant web-assignment web-address web-search"}
# First views: a few paths of each web kind once, one at a time (the memos
# of counts and charts are empty; the region pages' first view of the day).
for k in $KINDS; do
  case $k in web-*) ;; *) continue;; esac
  c0=$(cpu)
  ts=$(head -3 $D/$k | while read -r p; do curl -s -o /dev/null -w '%{http_code}:%{time_total} ' -b "cadastre_session=$SID" "127.0.0.1:$PORT$p"; done)
  c1=$(cpu)
  printf '%-18s first view (3 paths): %s| server cpu %d ms\n' "$k" "$ts" $(( (c1-c0)*1000/TCK ))
done
if [ -n "${PG:-}" ]; then
  printf '%-18s %8s %6s %9s %9s %9s %12s %11s %11s %11s  %s\n' kind requests errors p50 p99 max cpu-ms/req pg-cpu-ms/r pg-bufs/req pg-tups/req loadavg
else
  printf '%-18s %8s %6s %9s %9s %9s %12s  %s\n' kind requests errors p50 p99 max cpu-ms/req loadavg
fi
for k in $KINDS; do
  [ -s $D/$k ] || { echo "$k: no paths drawn"; continue; }
  if [ -n "${PG:-}" ]; then
    pgticks > $D/pg0; read -r b0 u0 < <(pgblocks)
    (while :; do pgticks; sleep 0.2; done) > $D/pgs 2>/dev/null &
    SMP=$!
  fi
  c0=$(cpu)
  out=$(nice -n "${LOADGEN_NICE:-0}" "$LG" -url http://127.0.0.1:$PORT -token "$TOK" -cookie "cadastre_session=$SID" -op paths -paths $D/$k -clients $CLIENTS -duration $DUR 2>&1)
  c1=$(cpu)
  if [ -n "${PG:-}" ]; then
    pgticks >> $D/pgs; kill $SMP 2>/dev/null; wait $SMP 2>/dev/null; SMP=
    # each backend's last reading less its reading before the kind (0 if new)
    pgt=$(awk 'NR == FNR { s[$1] = $2; next } { l[$1] = $2 } END { t = 0; for (p in l) t += l[p] - (p in s ? s[p] : 0); print t }' $D/pg0 $D/pgs)
    sleep 1.2; read -r b1 u1 < <(pgblocks)
  fi
  n=$(echo "$out" | sed -n 's/^requests=\([0-9]*\).*/\1/p'); e=$(echo "$out" | sed -n 's/.* errors=\([0-9]*\).*/\1/p')
  read -r p50 p99 mx < <(echo "$out" | sed -n 's/^latency p50=\([^ ]*\) p90=[^ ]* p99=\([^ ]*\) max=\([^ ]*\).*/\1 \2 \3/p')
  if [ -z "$n" ] || [ "$n" = 0 ]; then echo "$k: $out"; continue; fi
  if [ -n "${PG:-}" ]; then
    printf '%-18s %8s %6s %9s %9s %9s %12.2f %11.2f %11.0f %11.0f  %s\n' "$k" "$n" "${e:-?}" "${p50:-?}" "${p99:-?}" "${mx:-?}" \
      "$(echo "($c1-$c0)*1000/$TCK/$n" | bc -l)" "$(echo "$pgt*1000/$TCK/$n" | bc -l)" \
      "$(echo "($b1-$b0)/$n" | bc -l)" "$(echo "($u1-$u0)/$n" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  else
    printf '%-18s %8s %6s %9s %9s %9s %12.2f  %s\n' "$k" "$n" "${e:-?}" "${p50:-?}" "${p99:-?}" "${mx:-?}" \
      "$(echo "($c1-$c0)*1000/$TCK/$n" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  fi
  [ "${e:-0}" = 0 ] || echo "$out" | grep '^error' | sed "s/^/  $k /"
done
echo "heap after: $(heap)"
echo "serve: $(grep VmHWM /proc/$SP/status | tr -s ' ')"
