/*
 * kafka_log_gen.h - what the server's cold-read tests and bench/consume_cold.c share: the log
 * they write (one topic, records keyed {"id":i} with varied (xorshift) values, so nothing
 * about them is uniform or compressible), the RecordBatch walk to find where a fetch ended,
 * page-cache residency, and a thread's major faults and storage reads (to show the loop
 * thread never waited for the disk). No cmocka: a benchmark includes it too. Every function
 * is static.
 */
#ifndef KAFKA_LOG_GEN_H
#define KAFKA_LOG_GEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* Fraction of the pages of s in the page cache (mincore(2)), or -1 when it cannot be told. */
__attribute__((unused)) static double kg_resident(rl_slice s)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)s.p & ~(pg - 1);
    size_t pages = (size_t)(((uintptr_t)s.p + s.len - start + pg - 1) / pg);
    unsigned char *vec = malloc(pages ? pages : 1);
    if (!vec || mincore((void *)start, pages * pg, vec) != 0) {
        free(vec);
        return -1;
    }
    size_t in = 0;
    for (size_t i = 0; i < pages; i++)
        in += vec[i] & 1;
    free(vec);
    return pages ? (double)in / (double)pages : 1.0;
}

/* Bytes thread tid of this process caused to be read from storage (/proc/self/task/TID/io,
 * read_bytes, proc(5)): a sendfile(2) of pages not in the page cache reads them on the
 * calling thread without a page fault, so this, not kg_thread_majflt, shows a loop thread
 * that waited for the disk in sendfile. -1 when unreadable (no task I/O accounting). */
__attribute__((unused)) static long long kg_thread_read_bytes(int tid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/io", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "read_bytes: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* Major page faults (faults that waited for a disk read) of thread tid of this process
 * (/proc/self/task/TID/stat, field 12, proc(5)); -1 when unreadable. */
__attribute__((unused)) static long kg_thread_majflt(int tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After the command name: state ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt. */
    long v[10];
    if (sscanf(p + 1, " %*c %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7], &v[8], &v[9]) != 9)
        return -1;
    return v[9];
}

#endif /* KAFKA_LOG_GEN_H */
