#!/bin/sh
# bench/geofeed_verifier.sh: `cadastre geofeed check` against MaxMind's
# mm-geofeed-verifier on the same generated 1,000,000-line feed, wall time
# and peak RSS of each (/usr/bin/time). The verifier is built from the Go
# module proxy into .cache/bin (never committed); it compares each row
# with an MMDB, for which the git-ignored .cache/geodata database is used
# (scripts/fetch-geodata). Figures: bench/README.md, "Geofeed checker".
#
#   sh bench/geofeed_verifier.sh [LINES]
set -eu
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
VERIFIER=github.com/maxmind/mm-geofeed-verifier/v3
VERSION=v3.1.0
OUT=.cache/bench-geofeed
mkdir -p "$OUT" .cache/bin
FMT='%e s wall, %U s user, %S s sys, %M KB peak RSS'

go run ./bench/geofeedgen -lines "$LINES" -o "$OUT/feed.csv"
go build -o "$OUT/cadastre" ./cmd/cadastre
echo "== cadastre geofeed check ($LINES lines)"
/usr/bin/time -o "$OUT/cadastre.time" -f "$FMT" "$OUT/cadastre" --db "$OUT/check.db" geofeed check "$OUT/feed.csv" >"$OUT/cadastre.out" 2>&1 || true
tail -n 1 "$OUT/cadastre.out"
cat "$OUT/cadastre.time"

echo "== mm-geofeed-verifier $VERSION ($LINES lines)"
if [ ! -x .cache/bin/mm-geofeed-verifier ]; then
	if ! GOBIN="$PWD/.cache/bin" go install "$VERIFIER@$VERSION"; then
		echo "mm-geofeed-verifier could not be built from the module proxy: no comparison" >&2
		exit 1
	fi
fi
DB=.cache/geodata/geolite2-country.mmdb
/usr/bin/time -o "$OUT/verifier.time" -f "$FMT" .cache/bin/mm-geofeed-verifier -gf "$OUT/feed.csv" -db "$DB" >"$OUT/verifier.out" 2>&1 || true
tail -n 5 "$OUT/verifier.out"
cat "$OUT/verifier.time"
