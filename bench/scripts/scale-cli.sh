#!/bin/bash
# usage: scale-cli.sh BIN DB TAG
# report (twice), geofeed export and the audit against two MMDBs (twice) on
# the register DB (a COPY: the MMDB sources are added to it), CPU and peak
# RSS of each; the MMDBs come from scripts/setup's cache (GEODATA).
BIN=$1; DB=$2; TAG=$3; G=${GEODATA:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/geodata}
T='%U user %S sys %M KB %e wall'
$BIN --db $DB geo source list | grep -q geolite2 || { $BIN --db $DB geo source add geolite2 --mmdb $G/geolite2-country.mmdb; $BIN --db $DB geo source add whois --mmdb $G/geo-whois-asn-country.mmdb; }
for i in 1 2; do
echo "== $TAG report $i $(uptime)"; nice /usr/bin/time -f "$T" $BIN --db $DB report > /tmp/s10-$TAG-report.txt
done
echo "== $TAG geofeed $(uptime)"; nice /usr/bin/time -f "$T" $BIN --db $DB geofeed export -o /tmp/s10-$TAG-geofeed.csv
for i in 1 2; do
echo "== $TAG audit $i $(uptime)"; nice /usr/bin/time -f "$T" $BIN --db $DB audit --format json > /tmp/s10-$TAG-audit.json; echo "exit $?"
done
