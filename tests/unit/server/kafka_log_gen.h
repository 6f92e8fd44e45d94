/*
 * kafka_log_gen.h - the log the server's cold-read tests and bench/consume_cold.c write: one
 * topic, records keyed {"id":i} with varied (xorshift) values, so nothing about them is
 * uniform or compressible, and the RecordBatch walk to find where a fetch ended. No cmocka:
 * a benchmark includes it too. Every function is static.
 */
#ifndef KAFKA_LOG_GEN_H
#define KAFKA_LOG_GEN_H

#include <stdio.h>
#include <string.h>

#include "common/rl.h"
#include "log/log.h"

/* Appends n records of value_bytes (at most 4096) each to partition 0.. of topic (the key
 * decides), timestamps from 1700000000000 ms, committing every commit_every records and at
 * the end. Returns 0 or the first error of log_store_append/commit (err says where). */
__attribute__((unused)) static int kg_append_varied(log_store_t *store, const char *topic,
                                                    size_t n, size_t value_bytes,
                                                    size_t commit_every, rl_err *err)
{
    uint8_t value[4096];
    uint64_t x = 0x9e3779b97f4a7c15u;
    if (value_bytes > sizeof value || commit_every == 0)
        return rl_err_set(err, RL_ECONFIG, "kg_append_varied: bad arguments");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < value_bytes; j += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(value + j, &x, value_bytes - j < 8 ? value_bytes - j : 8);
        }
        char key[32];
        snprintf(key, sizeof key, "{\"id\":%zu}", i);
        int rc = log_store_append(store, rl_slice_str(topic), rl_slice_str(key),
                                  rl_slice_make(value, value_bytes), 1700000000000 + (int64_t)i,
                                  err);
        if (rc == 0 && i % commit_every == commit_every - 1)
            rc = log_store_commit(store, rl_slice_str("cp"), err);
        if (rc != 0)
            return rc;
    }
    return log_store_commit(store, rl_slice_str("cp"), err);
}

/* Offset after the last whole RecordBatch of recs (base offset int64 at 0, batch length int32
 * at 8, last offset delta int32 at 23: Kafka's RecordBatch v2), or -1 when none is whole. */
__attribute__((unused)) static int64_t kg_next_offset(rl_slice recs)
{
    rl_reader rd = rl_reader_make(recs);
    int64_t next = -1;
    while (rl_reader_left(&rd) >= 61) {
        rl_reader b = rd;
        int64_t base = rl_get_i64be(&b);
        int32_t blen = rl_get_i32be(&b);
        if (blen < 49 || (size_t)blen > rl_reader_left(&b))
            break;
        rl_reader_skip(&b, 11);
        int32_t delta = rl_get_i32be(&b);
        next = base + delta + 1;
        rl_reader_skip(&rd, 12 + (size_t)blen);
    }
    return next;
}

#endif /* KAFKA_LOG_GEN_H */
