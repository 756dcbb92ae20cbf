#!/bin/sh
# update.sh regenerates iso3166/iso3166.tsv, the data embedded by package
# iso3166, from a pinned Debian iso-codes package and scripts/iso3166/patches.tsv.
#
# Usage (from anywhere in the repository; needs apt-get, dpkg-deb, sha256sum, go):
#   scripts/iso3166/update.sh                 fetch the pinned .deb from Debian
#   scripts/iso3166/update.sh FILE.deb        use a .deb you already have (checked against the pin)
#
# It uses a private apt state directory, so the machine's apt sources are not
# touched and no root is needed for the download. The build itself never runs
# this: the generated file is committed.
#
# To move to a newer iso-codes: set ISO_CODES_VERSION, SUITE and the SHA256
# that `apt-cache show iso-codes=VERSION` reports for it, run this script, and
# fix every patch line the generator then rejects (a change that upstream now
# carries itself). Review the diff of iso3166/iso3166.tsv before committing.
set -eu

ISO_CODES_VERSION=4.20.1-1
# Debian suite that carries ISO_CODES_VERSION (sid at the time of pinning;
# 4.18.0-1 is in trixie). Old versions leave sid; snapshot.debian.org keeps them.
SUITE=sid
SHA256=b0403a0c7f2694116d361591c97b47b32fd31fed03f17178d15f15969de8cd91

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

deb="$work/iso-codes_${ISO_CODES_VERSION}_all.deb"
if [ $# -ge 1 ]; then
	cp "$1" "$deb"
else
	mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
		>"$work/apt/sources.list"
	set -- -o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
		-o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" \
		-o Dir::State::Status=/dev/null -o APT::Sandbox::User=root \
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
	apt-get "$@" -q update >/dev/null
	(cd "$work" && apt-get "$@" -q download "iso-codes=$ISO_CODES_VERSION" >/dev/null)
fi

echo "$SHA256  $deb" | sha256sum -c --quiet -
dpkg-deb -x "$deb" "$work/x"

cd "$root"
go run scripts/iso3166/generate.go \
	-src "$work/x/usr/share/iso-codes/json" \
	-source "Debian iso-codes $ISO_CODES_VERSION" \
	-patches scripts/iso3166/patches.tsv \
	-out iso3166/iso3166.tsv
