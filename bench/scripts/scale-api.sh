#!/bin/bash
# usage: s10-api.sh BIN DB TAG PORT
# Runs serve on DB, then loadgen per category of GET paths; prints p50/p99,
# server CPU per request, load average, and serve's Go heap.
set -u
BIN=$1; DB=$2; TAG=$3; PORT=$4; PP=$((PORT+1)); D=/tmp/s10-paths-$TAG; mkdir -p $D
LG=${LOADGEN:-loadgen}
Q() { sqlite3 -readonly "$DB" "$1"; }
MAX=$(Q "SELECT MAX(id) FROM assignments")
# Random IDs drawn in Go-free SQL: 2,000 of them.
Q "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 2000) SELECT '/v1/assignments/' || (1 + abs(random()) % $MAX) FROM r" > $D/get
Q "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 6000) SELECT DISTINCT (SELECT id FROM assignments WHERE id >= 1 + abs(random()) % $MAX + 0*n ORDER BY id LIMIT 1) FROM r" > $D/ids
Q "SELECT '/v1/assignments?name=' || name FROM assignments WHERE id IN ($(paste -sd, $D/ids)) AND name <> '' AND state <> 'released' LIMIT 2000" > $D/name
Q "SELECT '/v1/assignments?resource=' || resource FROM assignments WHERE id IN ($(paste -sd, $D/ids)) AND resource <> '' LIMIT 2000" > $D/resource
Q "SELECT '/v1/assignments?region=' || name || '&state=assigned&limit=100' FROM regions UNION ALL SELECT '/v1/assignments?region=' || name || '&family=4&limit=100' FROM regions" > $D/list-region
Q "SELECT '/v1/assignments?region=' || name || '&state=quarantined&limit=100' FROM regions UNION ALL SELECT '/v1/assignments?region=' || name || '&state=released&limit=100' FROM regions" > $D/list-region-past
Q "SELECT '/v1/assignments?tenant=' || name || '&limit=100' FROM tenants ORDER BY random() LIMIT 60" > $D/list-tenant
printf '/v1/assignments?state=quarantined&limit=100\n/v1/assignments?state=released&limit=100\n/v1/assignments?family=4&state=quarantined&limit=100\n' > $D/list-state
Q "SELECT DISTINCT '/v1/assignments?tag=env%3D' || value || '&limit=100' FROM tags WHERE kind='assignment' AND key='env'" > $D/tag
echo '/v1/assignments?tag=rare%3Dyes&limit=100' >> $D/tag
wc -l $D/* | tr '\n' ' '; echo
TOK=$($BIN --db $DB token create --scope read --name loadgen-$TAG-$$ --json | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')
[ -n "$TOK" ] || { echo "no token"; exit 1; }
nice $BIN --db $DB serve --listen 127.0.0.1:$PORT --metrics-listen off --pprof 127.0.0.1:$PP 2>/tmp/s10-serve-$TAG.log &
SP=$!
for i in $(seq 1 300); do curl -sf 127.0.0.1:$PORT/livez >/dev/null && break; sleep 1; done
cpu() { awk '{print $14+$15}' /proc/$SP/stat; }
TCK=$(getconf CLK_TCK)
heap() { curl -s "127.0.0.1:$PP/debug/pprof/heap?gc=1&debug=1" | grep -E '^# (HeapAlloc|HeapInuse|Sys) ' | tr '\n' ' '; echo; }
echo "heap at start: $(heap)"
for c in ${CATS:-get name resource list-region list-region-past list-tenant list-state tag}; do
  c0=$(cpu)
  out=$($LG -url http://127.0.0.1:$PORT -token $TOK -op paths -paths $D/$c -clients 4 -duration ${DUR:-15s} 2>&1)
  c1=$(cpu)
  n=$(echo "$out" | sed -n "s/^requests=\([0-9]*\).*/\1/p")
  echo "== $TAG $c | $(echo "$out" | grep -E "^(latency|requests|error)" | tr '\n' ' ') | server cpu $(( (c1-c0)*1000/TCK )) ms for ${n:-?} req | $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "heap after: $(heap)"
echo "rss: $(grep VmHWM /proc/$SP/status)"
kill $SP; wait $SP 2>/dev/null
