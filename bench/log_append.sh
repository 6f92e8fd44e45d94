#!/usr/bin/env bash
# bench/log_append.sh - durable append throughput of log/ (bench/log_append.c) next to the
# disk's own limits measured by dd in the same run. Results: bench/RESULTS.md "Log append".
#
#   bench/log_append.sh [--build DIR] [--data DIR] [--records N] [--runs N]
#
# --build: a configured build tree with the log_append target (default build/);
# --data: a scratch directory on the disk to measure (default DIR/benchdata; wiped).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build DATA= RECORDS=1000000 RUNS=3
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --records) RECORDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--data DIR] [--records N] [--runs N]" >&2; exit 2 ;;
    esac
done
DATA=${DATA:-$BUILD/benchdata}
cmake --build "$BUILD" --target log_append -j2 >/dev/null
BIN=$BUILD/bench/log_append
rm -rf "$DATA" && mkdir -p "$DATA"
trap 'rm -rf "$DATA"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# dd of zeros flatters this (virtio) disk: the host writes zero blocks faster than data. The
# fair limit is dd of the log's own bytes: the segments of an uncompressed log (about 1.1 GB),
# read from the page cache.
"$BIN" "$DATA/src" --records 2000000 --codec none --flush os --txn 100000 >/dev/null 2>&1
cat "$DATA"/src/*/*.log > "$DATA/real"
rm -rf "$DATA/src"
echo "# disk limits (dd, 1 GiB; MB/s)"
for mode in direct fdatasync data_fdatasync; do
    vals=""
    for _ in $(seq "$RUNS"); do
        rm -f "$DATA/dd"
        if [ $mode = direct ]; then
            out=$(dd if=/dev/zero of="$DATA/dd" bs=1M count=1024 oflag=direct 2>&1)
        elif [ $mode = fdatasync ]; then
            out=$(dd if=/dev/zero of="$DATA/dd" bs=1M count=1024 conv=fdatasync 2>&1)
        else
            cat "$DATA/real" >/dev/null
            out=$(dd if="$DATA/real" of="$DATA/dd" bs=1M count=1024 conv=fdatasync 2>&1)
        fi
        bytes=$(echo "$out" | awk '/bytes/ {print $1}')
        secs=$(echo "$out" | awk '/bytes/ {for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) print $(i-1)}' | tr -d ,)
        vals="$vals $(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.0f", b/1e6/s}')"
    done
    echo "dd_$mode MB/s: $vals (median $(echo $vals | tr ' ' '\n' | median))"
    rm -f "$DATA/dd"
done
rm -f "$DATA/real"

echo "# log_append ($RECORDS records of 541 bytes; median of $RUNS runs by records/s)"
run() {
    local lines=""
    for _ in $(seq "$RUNS"); do
        rm -rf "$DATA/log"
        lines="$lines$("$BIN" "$DATA/log" --records "$RECORDS" "$@" 2>/dev/null)"$'\n'
    done
    echo -n "$lines" | awk '{for (i=1;i<=NF;i++) if ($i ~ /^records_per_s=/) {split($i,a,"="); print a[2], $0}}' \
        | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}' | cut -d' ' -f2-
}
for codec in none lz4 zstd; do
    run --codec "$codec" --flush commit --txn 1000
done
for codec in none lz4 zstd; do
    run --codec "$codec" --flush commit --txn 10000
done
for codec in none lz4 zstd; do
    run --codec "$codec" --flush interval --interval-ms 100 --txn 100
done
run --codec lz4 --flush commit --txn 100
for prealloc in none zero fallocate; do
    run --codec none --flush commit --txn 1000 --prealloc "$prealloc"
done
run --codec lz4 --flush os --txn 100
run --codec lz4 --flush interval --interval-ms 100 --txn 100 --tables 20
