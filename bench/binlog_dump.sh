#!/usr/bin/env bash
# binlog_dump.sh - how fast does rowlog decode a binlog, next to mariadb-binlog?
#
#   bench/binlog_dump.sh [--rows N] [--runs R] [--rowlog PATH] [--keep] [--dir DIR]
#                        [--generate-only]
#   bench/binlog_dump.sh --files FILE... [--runs R] [--rowlog PATH]
#
# 1. Starts a throwaway MariaDB (scripts/mariadb-sandbox.sh: temp dir under /tmp, a free port,
#    stopped by PID at the end), creates shop.orders (10 columns: BIGINT, INT, SMALLINT,
#    DECIMAL, CHAR, VARCHAR, DATETIME(6), TIMESTAMP(6)) and writes a binlog of about N row
#    changes (default 2,000,000) between two FLUSH BINARY LOGS:
#      - 25% bulk: INSERT ... SELECT FROM seq_A_to_B, 5,000 rows per statement/transaction;
#      - 75% small transactions, one row each, from a stored-procedure loop: 50% INSERT,
#        40% UPDATE by primary key, 10% DELETE by primary key (row image FULL, so updates
#        carry both images; ANNOTATE_ROWS on, as the server's default).
#    A FLUSH BINARY LOGS between the two parts puts them in two files, so the multi-row
#    events (bulk part, ~8 KB rows events) and the one-row events can be measured apart and
#    together (both files). DIR/workload.files lists them, one "multi|one PATH" a line.
#    The server is stopped before timing so it does not compete for the CPU.
# 2. Times, R runs each (default 3), the median reported:
#      rowlog binlog dump FILE... > /dev/null
#      TZ=UTC mariadb-binlog --base64-output=decode-rows -v FILE... > /dev/null
#    (TZ=UTC: otherwise mariadb-binlog re-reads the time zone per event, see
#    /work/shared/notes/performance-baselines.md). hyperfine is used when installed, else
#    /usr/bin/time.
# 3. Counts the row changes with mariadb-binlog (### INSERT INTO / UPDATE / DELETE FROM) and
#    with rowlog (output lines; the workload never changes a primary key, so they must match),
#    and prints a result block: file size, rows, rows/s and MB/s for both, and the ratio.
#
# --files skips step 1 and measures existing binlog files. --keep leaves the temp dir (and
# the binlog) in place and prints its path. --dir DIR uses DIR (created if absent, always
# kept) instead of a temp dir, and reuses the files of an earlier run there (workload.files)
# instead of generating again. --generate-only stops after step 1 (no timing, no counts).
# Environment: ROWLOG (path of the rowlog program; default: the first of build-tools/,
# build/ under the repository that has tools/rowlog).
# Exit status: 0, 1 on failure, 2 on a usage error.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SANDBOX="$REPO/scripts/mariadb-sandbox.sh"

ROWS=2000000
RUNS=3
KEEP=0
GEN_ONLY=0
WANT_DIR=""
FILES=()
ROWLOG=${ROWLOG:-}

die() { echo "binlog_dump.sh: $*" >&2; exit 1; }
usage() { sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --rows) [ $# -ge 2 ] || usage; ROWS=$2; shift 2 ;;
        --runs) [ $# -ge 2 ] || usage; RUNS=$2; shift 2 ;;
        --rowlog) [ $# -ge 2 ] || usage; ROWLOG=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --dir) [ $# -ge 2 ] || usage; WANT_DIR=$2; KEEP=1; shift 2 ;;
        --generate-only) GEN_ONLY=1; shift ;;
        --files) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do FILES+=("$1"); shift; done ;;
        -h|--help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "binlog_dump.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case "$ROWS" in ''|*[!0-9]*) die "--rows takes a number, got '$ROWS'" ;; esac
case "$RUNS" in ''|*[!0-9]*|0) die "--runs takes a positive number, got '$RUNS'" ;; esac
[ "$ROWS" -ge 1000 ] || die "--rows must be at least 1000"

if [ -z "$ROWLOG" ]; then
    for b in build-tools build; do
        if [ -x "$REPO/$b/tools/rowlog" ]; then ROWLOG="$REPO/$b/tools/rowlog"; break; fi
    done
fi
[ -n "$ROWLOG" ] && [ -x "$ROWLOG" ] || die "rowlog program not found: build it, or set ROWLOG / --rowlog"
command -v mariadb-binlog > /dev/null || die "mariadb-binlog not found (mariadb-client)"

DIR=""
cleanup() {
    local rc=$?
    if [ -n "$DIR" ] && [ -d "$DIR" ]; then
        "$SANDBOX" stop "$DIR" > /dev/null 2>&1 || true
        if [ "$KEEP" -eq 1 ]; then
            echo "binlog_dump.sh: kept $DIR" >&2
        else
            rm -rf "$DIR"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

generate() {
    if [ -n "$WANT_DIR" ]; then
        mkdir -p "$WANT_DIR"
        DIR=$(cd "$WANT_DIR" && pwd)
        if [ -s "$DIR/workload.files" ]; then
            local kind f
            while read -r kind f; do FILES+=("$f"); done < "$DIR/workload.files"
            echo "binlog_dump.sh: reusing the workload in $DIR" >&2
            return
        fi
        [ ! -e "$DIR/data" ] || die "$DIR/data exists but $DIR/workload.files does not: remove it"
    else
        DIR=$(mktemp -d /tmp/rowlog-bench.XXXXXX)
    fi
    local port; port=$(free_port)
    "$SANDBOX" start "$DIR" "$port" >&2
    local sql=("$SANDBOX" sql "$DIR")

    local bulk=$((ROWS / 4))
    local small=$((ROWS - bulk))
    local chunk=5000
    echo "binlog_dump.sh: generating ~$ROWS row changes ($bulk bulk, $small one-row transactions)" >&2
    # Durability is irrelevant for a throwaway server; without it the loop is CPU-bound.
    "${sql[@]}" -e "SET GLOBAL innodb_flush_log_at_trx_commit = 0; SET GLOBAL sync_binlog = 0;"
    "${sql[@]}" <<'SQL'
CREATE DATABASE shop;
CREATE TABLE shop.orders (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT NOT NULL,
  product_id  INT NOT NULL,
  quantity    SMALLINT NOT NULL,
  amount      DECIMAL(12,2) NOT NULL,
  currency    CHAR(3) NOT NULL,
  status      VARCHAR(16) NOT NULL,
  note        VARCHAR(255) NULL,
  created_at  DATETIME(6) NOT NULL,
  updated_at  TIMESTAMP(6) NULL DEFAULT NULL
) ENGINE=InnoDB;
DELIMITER //
CREATE PROCEDURE shop.small_txns(IN first_i INT, IN n INT, IN nbulk INT)
BEGIN
  DECLARE i INT DEFAULT first_i;
  WHILE i < first_i + n DO
    -- One line per statement: each is logged as an ANNOTATE_ROWS event, keep them short.
    -- Updates hit ids 1 .. nbulk/2, which always exist (deletes take the top of the range).
    START TRANSACTION;
    IF i % 10 < 5 THEN
      INSERT INTO shop.orders VALUES (NULL, 1 + i % 50000, 1 + i % 2000, 1 + i % 5, 10.00 + i % 1000, 'EUR', 'new', CONCAT('order ', i), NOW(6), NULL);
    ELSEIF i % 10 < 9 THEN
      UPDATE shop.orders SET status = ELT(1 + i % 4, 'paid', 'shipped', 'delivered', 'returned'), amount = amount + 1, updated_at = NOW(6) WHERE id = 1 + (i * 7919) % (nbulk DIV 2);
    ELSE
      DELETE FROM shop.orders WHERE id = nbulk - (i DIV 10);
    END IF;
    COMMIT;
    SET i = i + 1;
  END WHILE;
END//
DELIMITER ;
SQL
    "${sql[@]}" -e "FLUSH BINARY LOGS"
    local first; first=$("${sql[@]}" -N -B -e "SHOW MASTER STATUS" | cut -f1)

    local t0=$SECONDS a b
    {
        for ((a = 1; a <= bulk; a += chunk)); do
            b=$((a + chunk - 1)); [ $b -le $bulk ] || b=$bulk
            # Explicit ids: INSERT ... SELECT would leave auto-increment gaps between statements,
            # and the updates and deletes below rely on ids 1 .. bulk all existing.
            echo "INSERT INTO shop.orders SELECT seq, 1 + seq % 50000, 1 + seq % 2000, 1 + seq % 10, (seq % 100000) / 100 + 0.99,"
            echo "  ELT(1 + seq % 3, 'EUR', 'USD', 'GBP'), 'new', CONCAT('bulk order ', seq),"
            echo "  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, NULL FROM seq_${a}_to_${b};"
        done
    } | "${sql[@]}" shop
    # The one-row part in a file of its own (see the header).
    "${sql[@]}" -e "FLUSH BINARY LOGS"
    local second; second=$("${sql[@]}" -N -B -e "SHOW MASTER STATUS" | cut -f1)
    local step=100000 i n
    for ((i = 0; i < small; i += step)); do
        n=$step; [ $((i + n)) -le $small ] || n=$((small - i))
        "${sql[@]}" -e "CALL shop.small_txns($i, $n, $bulk)"
    done
    "${sql[@]}" -e "FLUSH BINARY LOGS"
    echo "binlog_dump.sh: workload done in $((SECONDS - t0)) s" >&2

    # The binlog files written by the workload: from $first up to (not including) the current.
    local cur; cur=$("${sql[@]}" -N -B -e "SHOW MASTER STATUS" | cut -f1)
    local f
    while IFS= read -r f; do
        [[ "$f" < "$first" ]] && continue
        [ "$f" = "$cur" ] && continue
        FILES+=("$DIR/data/$f")
        if [[ "$f" < "$second" ]]; then echo "multi $DIR/data/$f"; else echo "one $DIR/data/$f"; fi
    done < <("${sql[@]}" -N -B -e "SHOW BINARY LOGS" | cut -f1) > "$DIR/workload.files"
    "$SANDBOX" stop "$DIR" >&2
}

# Wall time (s) of RUNS runs of a command whose stdout goes to /dev/null (its stderr too: a
# failing run stops the script through set -e). Prints "median run1 run2 ...".
time_runs() {
    local times=() r tf
    tf=$(mktemp)
    for ((r = 0; r < RUNS; r++)); do
        /usr/bin/time -f '%e' -o "$tf" "$@" > /dev/null
        times+=("$(tail -n 1 "$tf")")
    done
    rm -f "$tf"
    printf '%s\n' "${times[@]}" | sort -g | awk -v all="${times[*]}" \
        '{ v[NR] = $1 } END { printf "%s %s\n", v[int((NR + 1) / 2)], all }'
}

if [ ${#FILES[@]} -eq 0 ]; then
    generate
fi
if [ "$GEN_ONLY" -eq 1 ]; then
    echo "binlog_dump.sh: generated $(printf '%s ' "${FILES[@]}")" >&2
    exit 0
fi
[ ${#FILES[@]} -gt 0 ] || die "no binlog files to measure"
for f in "${FILES[@]}"; do [ -r "$f" ] || die "cannot read $f"; done

bytes=$(cat "${FILES[@]}" | wc -c)
cat "${FILES[@]}" > /dev/null # page cache

echo "binlog_dump.sh: counting row changes" >&2
oracle_rows=$(TZ=UTC mariadb-binlog --base64-output=decode-rows -v "${FILES[@]}" |
              grep -cE '^### (INSERT INTO|UPDATE|DELETE FROM) ' || true)
rowlog_rows=$("$ROWLOG" binlog dump "${FILES[@]}" | wc -l)
[ "$oracle_rows" -gt 0 ] || die "mariadb-binlog found no row changes"

if command -v hyperfine > /dev/null; then
    tool="hyperfine"
    hf() {
        local json; json=$(mktemp)
        hyperfine --runs "$RUNS" --warmup 1 --export-json "$json" --output null "$1" > /dev/null
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f %s" % (r["median"], " ".join("%.3f" % t for t in r["times"])))' "$json"
        rm -f "$json"
    }
    q=$(printf '%q ' "${FILES[@]}")
    rl=$(hf "$(printf '%q' "$ROWLOG") binlog dump $q")
    mb=$(hf "TZ=UTC mariadb-binlog --base64-output=decode-rows -v $q")
else
    tool="/usr/bin/time, median of $RUNS"
    echo "binlog_dump.sh: timing rowlog ($RUNS runs)" >&2
    rl=$(time_runs "$ROWLOG" binlog dump "${FILES[@]}")
    echo "binlog_dump.sh: timing mariadb-binlog ($RUNS runs)" >&2
    mb=$(time_runs env TZ=UTC mariadb-binlog --base64-output=decode-rows -v "${FILES[@]}")
fi
rl_s=${rl%% *}
mb_s=${mb%% *}

awk -v rows="$oracle_rows" -v rrows="$rowlog_rows" -v bytes="$bytes" -v rl="$rl_s" \
    -v mb="$mb_s" -v rl_all="${rl#* }" -v mb_all="${mb#* }" -v nfiles="${#FILES[@]}" \
    -v tool="$tool" -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
    -v cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" -v ncpu="$(nproc)" '
function rate(s) { return s > 0 ? rows / s : 0 }
function mbps(s) { return s > 0 ? bytes / 1e6 / s : 0 }
BEGIN {
    printf "==== binlog decode benchmark ====\n"
    printf "date:            %s\n", date
    printf "machine:         %s CPUs, %s\n", ncpu, cpu
    printf "input:           %d file(s), %.1f MB, %d row changes (mariadb-binlog count)\n", nfiles, bytes / 1e6, rows
    printf "rowlog lines:    %d%s\n", rrows, (rrows == rows ? " (matches)" : " (MISMATCH)")
    printf "timing:          %s\n", tool
    printf "rowlog binlog dump:     %7.2f s (runs %s)  %10.0f rows/s  %7.1f MB/s\n", rl, rl_all, rate(rl), mbps(rl)
    printf "mariadb-binlog -v:      %7.2f s (runs %s)  %10.0f rows/s  %7.1f MB/s\n", mb, mb_all, rate(mb), mbps(mb)
    printf "ratio (rowlog / mariadb-binlog rows/s): %.1fx\n", (rl > 0 ? mb / rl : 0)
}'
[ "$rowlog_rows" -eq "$oracle_rows" ] || die "rowlog printed $rowlog_rows changes, mariadb-binlog counted $oracle_rows"
