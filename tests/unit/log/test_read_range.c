/* log_store_read's range (log/partition.c "Where a Fetch starts and ends"), found from the
 * offset index and resident headers, against a walk of the segment's batches written here
 * from the RecordBatch layout (baseOffset i64 at 0, batchLength i32 at 8, lastOffsetDelta
 * i32 at 23; Kafka DefaultRecordBatch): the read starts at the batch holding the offset,
 * holds whole batches below the high watermark, and ends at the last batch that fits in
 * max_bytes (the first one always, KIP-74). Batches of random sizes (a few hundred bytes to
 * 200 KiB: indexed and unindexed ones), several segments, with written but uncommitted
 * batches after the high watermark, and after a reopen (sealed segments' index entries then
 * come from .index files, which do not say where a batch begins). The log is resident, so the
 * range must be exactly the walk's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log/log_int.h"
#include "log_test_util.h"

#define TOPIC "rr"

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The expected range of a read of offset with max_bytes, by walking seg's batches from byte
 * 0; hwm bounds the batches. */
static void walk(const log_segment *seg, int64_t offset, int64_t hwm, size_t max_bytes,
                 size_t *start, size_t *end)
{
    uint64_t committed = atomic_load(&((log_segment *)seg)->committed);
    size_t pos = 0, s = SIZE_MAX;
    while (pos + 61 <= committed) {
        int64_t base = (int64_t)be(seg->map + pos, 8);
        size_t size = (size_t)be(seg->map + pos + 8, 4) + 12;
        int64_t last = base + (int64_t)be(seg->map + pos + 23, 4);
        if (base >= hwm)
            break;
        if (s == SIZE_MAX) {
            if (last >= offset)
                s = pos;
        } else if (pos + size - s > max_bytes) {
            break;
        }
        pos += size;
    }
    assert_true(s != SIZE_MAX);
    *start = s;
    *end = pos;
}

static void check_all(log_store_t *st, const char *what)
{
    log_partition *p = tu_part(st, TOPIC, 0);
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, TOPIC, 0, &ls, &hwm), 0);
    static const size_t maxes[] = {1, 3000, 70000, 300000, (size_t)4 << 20};
    size_t n = 0;
    for (int64_t off = ls; off < hwm; off += 1 + off % 3) {
        for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
            log_read rd;
            memset(&rd, 0, sizeof rd);
            rl_err err = {0};
            int rc = log_store_read(st, TOPIC, 0, off, maxes[m], &rd, &err);
            if (rc != 0)
                fail_msg("%s: read of %lld: %s", what, (long long)off, err.msg);
            log_segment *seg = rd.pin;
            assert_non_null(seg);
            size_t s, e;
            walk(seg, off, hwm, maxes[m], &s, &e);
            if ((size_t)(rd.bytes.p - seg->map) != s || rd.bytes.len != e - s)
                fail_msg("%s: offset %lld max %zu: read [%zu, +%zu), walk [%zu, %zu)", what,
                         (long long)off, maxes[m], (size_t)(rd.bytes.p - seg->map), rd.bytes.len, s,
                         e);
            log_read_release(&rd);
            n++;
        }
    }
    print_message("%s: %zu reads of offsets [%lld, %lld) as the walk finds them\n", what, n,
                  (long long)ls, (long long)hwm);
    (void)p;
}

static void test_ranges(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o;
    memset(&o, 0, sizeof o);
    o.compression = LOG_COMPRESSION_NONE;
    o.partitions = 1;
    o.segment_bytes = 1u << 20;
    o.batch_bytes = 256u << 10;
    log_store_t *st = tu_open(dir, &o);
    uint64_t seed = tu_seed();
    static uint8_t value[20000];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (uint8_t)tu_rnd(&seed);
    int64_t ts = 1700000000000;
    /* About 4 MiB in transactions of 1 to 40 records of 0 to 20000 bytes. */
    size_t total = 0;
    while (total < ((size_t)4 << 20)) {
        size_t nrec = 1 + tu_rnd(&seed) % 40;
        for (size_t r = 0; r < nrec; r++) {
            size_t vlen = (size_t)(tu_rnd(&seed) % 100 < 70 ? tu_rnd(&seed) % 300
                                                            : tu_rnd(&seed) % sizeof value);
            tu_append(st, TOPIC, rl_slice_str("k"), rl_slice_make(value, vlen), ts++);
            total += vlen + 20;
        }
        tu_commit(st, "c");
    }
    log_partition *p = tu_part(st, TOPIC, 0);
    assert_true(p->nsegs >= 3);
    check_all(st, "written");

    /* Batches written after the high watermark (batch_bytes reached, no commit): never
     * read. */
    int64_t hwm = tu_hwm(st, TOPIC);
    for (int r = 0; r < 60; r++)
        tu_append(st, TOPIC, rl_slice_str("k"), rl_slice_make(value, 15000), ts++);
    assert_true(atomic_load(&p->leo) > hwm);
    assert_int_equal(tu_hwm(st, TOPIC), hwm);
    check_all(st, "uncommitted tail");
    tu_commit(st, "c");
    log_store_close(st);

    st = tu_open(dir, &o);
    check_all(st, "reopened");
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
