/*
 * fuzz_kafka_request.c - libFuzzer target for the Kafka server's request decoding (server/).
 *
 * The input is what a client would send on one connection: size-framed requests back to back
 * (Kafka protocol guide, "Common Request and Response Structure"; header and bodies as in
 * server/kafka_api.c). Each input is fed to a fresh kafka_server (committed offsets in memory)
 * through kafka__feed: no socket, every complete frame is decoded and answered (responses
 * built, then dropped), group barriers and commits completed as the loop would, then the
 * connection is closed. The server serves a log made once per process in a temporary
 * directory: "orders" and "users" (4 partitions each), a few committed batches, so Fetch,
 * ListOffsets and Metadata reach real data. Every result but a crash or a sanitizer report is
 * fine. Built and run by tests/fuzz/fuzz.cmake (seed corpus: tests/fuzz/corpus/
 * fuzz_kafka_request/, real requests of every API served, from gen_kafka_corpus.py); by hand:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *       tests/fuzz/fuzz_kafka_request.c server/kafka_[a-z]*.c log/[a-z]*.c common/rl.c \
 *       -lev -llz4 -lzstd -ldeflate -lm -lpthread -o fuzz_kafka_request
 *   ./fuzz_kafka_request -max_len=65536 tests/fuzz/corpus/fuzz_kafka_request
 */
#include "server/kafka_int.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static log_store_t *fuzz_store;
static struct ev_loop *fuzz_loop;
static char fuzz_dir[64];

static void fuzz_cleanup(void)
{
    log_store_close(fuzz_store);
    if (fuzz_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fuzz_dir);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rl_log_set_level(RL_LOG_ERROR + 1); /* rejected requests are the point: no log lines */
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/rowlog-fuzz-kafka-XXXXXX");
    if (!mkdtemp(fuzz_dir)) {
        perror("mkdtemp");
        abort();
    }
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_LZ4;
    lo.partitions = 4;
    lo.segment_bytes = (uint64_t)1 << 20;
    rl_err err = {0};
    if (log_store_open(&fuzz_store, fuzz_dir, &lo, &err) != 0) {
        fprintf(stderr, "log_store_open: %s\n", err.msg);
        abort();
    }
    atexit(fuzz_cleanup);
    for (int i = 0; i < 120; i++) {
        char key[32], val[96];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "{\"op\":\"c\",\"after\":{\"id\":%d,\"v\":\"%0*d\"}}", i, i % 40,
                 0);
        const char *topic = i % 3 == 0 ? "users" : "orders";
        if (log_store_append(fuzz_store, rl_slice_str(topic), rl_slice_str(key), rl_slice_str(val),
                             1700000000000 + i * 1000, &err) != 0 ||
            (i % 10 == 9 && log_store_commit(fuzz_store, rl_slice_str("fuzz"), &err) != 0)) {
            fprintf(stderr, "append: %s\n", err.msg);
            abort();
        }
    }
    fuzz_loop = ev_loop_new(EVFLAG_AUTO);
    if (!fuzz_loop)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.listen_port = 0;
    ko.max_request_bytes = (size_t)1 << 20;
    kafka_server_t *srv = NULL;
    rl_err err = {0};
    if (kafka_server_start(&srv, fuzz_loop, fuzz_store, &ko, &err) != 0) {
        fprintf(stderr, "kafka_server_start: %s\n", err.msg);
        abort();
    }
    /* A private copy, so reads past the input are caught. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    (void)kafka__feed(srv, rl_slice_make(copy, size));
    kafka_server_stop(srv);
    free(copy);
    return 0;
}
