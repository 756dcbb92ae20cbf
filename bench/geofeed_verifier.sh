#!/bin/sh
# bench/geofeed_verifier.sh: `cadastre geofeed check` against MaxMind's
# mm-geofeed-verifier on the same generated 1,000,000-line feed, wall time
# and peak RSS of each (/usr/bin/time). The verifier is built from the Go
# module proxy into .cache/bin (never committed); it compares each row
# with an MMDB, for which the git-ignored .cache/geodata database is used
# (scripts/fetch-geodata). Figures: bench/README.md, "Geofeed checker".
# When the module proxy refuses the verifier, a verifier built elsewhere
# (outside this repository) is used instead: pass its path as the second
# argument or in MM_GEOFEED_VERIFIER; RUNS sets how many alternating runs
# of each tool are timed (default 1).
#
#   sh bench/geofeed_verifier.sh [LINES [VERIFIER_BINARY]]
#   MM_GEOFEED_VERIFIER=/path/to/mm-geofeed-verifier RUNS=3 sh bench/geofeed_verifier.sh
set -eu
BIN=${2:-${MM_GEOFEED_VERIFIER:-}}
case "$BIN" in
"" | /*) ;;
*) BIN="$PWD/$BIN" ;; # relative to where the script was started, before the cd below
esac
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
RUNS=${RUNS:-1}
VERIFIER=github.com/maxmind/mm-geofeed-verifier/v3
VERSION=v3.1.0
OUT=.cache/bench-geofeed
mkdir -p "$OUT" .cache/bin
FMT='%e s wall, %U s user, %S s sys, %M KB peak RSS'

go run ./bench/geofeedgen -lines "$LINES" -o "$OUT/feed.csv"
go build -o "$OUT/cadastre" ./cmd/cadastre
if [ -n "$BIN" ]; then
	# A verifier given by path: its version is whatever it was built from.
	if [ ! -x "$BIN" ]; then
		echo "mm-geofeed-verifier binary $BIN is not an executable file" >&2
		exit 2
	fi
	VERSION="(given binary $BIN)"
else
	BIN=.cache/bin/mm-geofeed-verifier
	if [ ! -x "$BIN" ]; then
		if ! GOBIN="$PWD/.cache/bin" go install "$VERIFIER@$VERSION"; then
			echo "mm-geofeed-verifier could not be built from the module proxy: no comparison" >&2
			echo "(build it elsewhere and pass its path: sh $0 $LINES /path/to/mm-geofeed-verifier)" >&2
			exit 1
		fi
	fi
fi
DB=.cache/geodata/geolite2-country.mmdb

# The two tools alternate so that a change in the machine's load falls on
# both; user+sys CPU is the steadier figure on a shared machine.
i=1
while [ "$i" -le "$RUNS" ]; do
	echo "== run $i: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "== cadastre geofeed check ($LINES lines)"
	/usr/bin/time -o "$OUT/cadastre.time" -f "$FMT" "$OUT/cadastre" --db "$OUT/check.db" geofeed check "$OUT/feed.csv" >"$OUT/cadastre.out" 2>&1 || true
	tail -n 1 "$OUT/cadastre.out"
	cat "$OUT/cadastre.time"

	echo "== mm-geofeed-verifier $VERSION ($LINES lines)"
	/usr/bin/time -o "$OUT/verifier.time" -f "$FMT" "$BIN" -gf "$OUT/feed.csv" -db "$DB" >"$OUT/verifier.out" 2>&1 || true
	tail -n 5 "$OUT/verifier.out"
	cat "$OUT/verifier.time"
	i=$((i + 1))
done
