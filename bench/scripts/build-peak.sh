#!/bin/bash
# usage: build-peak.sh DIR TAG CMD...
#
# Runs CMD under /usr/bin/time and samples, every 0.5 s, du -sb DIR and the bytes of deleted files
# the process holds open (SQLite's sort files in $SQLITE_TMPDIR, $TMPDIR or /var/tmp); prints the
# peaks, CPU, peak RSS and the load (issue 16: the disk a demo --scale or import build needs).
dir=$1; tag=$2; shift 2
/usr/bin/time -f '%U user %S sys %M KB %e wall' -o $dir/$tag.time "$@" > $dir/$tag.out 2> $dir/$tag.err &
tp=$!
sleep 0.2
p=$(pgrep -P $tp | head -1)
pdu=0; ptmp=0; psum=0
while kill -0 $tp 2>/dev/null; do
  d=$(du -sb --exclude='*.out' --exclude='*.err' --exclude='*.time' "$dir" 2>/dev/null | cut -f1)
  t=$(find /proc/$p/fd -lname '*(deleted)' -printf '%p\n' 2>/dev/null | xargs -r stat -L -c %s 2>/dev/null | awk '{s+=$1} END{print s+0}')
  [ -n "$d" ] && [ "$d" -gt "$pdu" ] && pdu=$d
  [ -n "$t" ] && [ "$t" -gt "$ptmp" ] && ptmp=$t
  [ -n "$d" ] && [ -n "$t" ] && [ $((d+t)) -gt "$psum" ] && psum=$((d+t))
  sleep 0.5
done
wait $tp; rc=$?
echo "$tag rc=$rc peak_dir=$pdu peak_tmp=$ptmp peak_dir+tmp=$psum final=$(du -sb --exclude='*.out' --exclude='*.err' --exclude='*.time' "$dir" | cut -f1) $(tail -1 $dir/$tag.time) load=$(cut -d' ' -f1-3 /proc/loadavg)"
