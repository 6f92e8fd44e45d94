/*
 * fuzz_binlog_decoder.c - libFuzzer target for the binlog decoder (reader/).
 *
 * The input is a binlog body without its magic: events back to back, each framed by its own
 * event_size (as binlog_file_next frames them). Byte 0 of the input picks the start state:
 * bit 0 feeds a MariaDB 10.11 FORMAT_DESCRIPTION first, bit 1 turns CRC32 on in it; with
 * neither bit the input's own events must include any FDE. Bit 2 rewrites the last 4 bytes of
 * every event with its CRC32, so mutations reach the parsers of checksummed files. Every result but
 * a crash or a sanitizer report is fine. Built and run for a bounded time by
 * tests/fuzz/fuzz.cmake (seed corpus tests/fuzz/corpus/fuzz_binlog_decoder/: small fixture
 * binlogs, magic stripped, mode byte 0); by hand:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -I/usr/include/mariadb \
 *       tests/fuzz/fuzz_binlog_decoder.c reader/[a-z]*.c common/rl.c \
 *       -lmariadb -lz -lzstd -ldeflate -lm -lpthread -o fuzz_binlog_decoder
 *   ./fuzz_binlog_decoder -max_len=65536 tests/fuzz/corpus/fuzz_binlog_decoder
 */
#include "reader/binlog.h"

#include <stdlib.h>
#include <string.h>

static int on_change(void *ctx, const binlog_change *ch)
{
    (void)ctx;
    /* Touch every byte handed out, so a slice pointing outside valid memory is caught. */
    volatile uint8_t x = 0;
    for (size_t i = 0; i < ch->value.len; i++)
        x ^= ch->value.p[i];
    for (size_t i = 0; i < ch->key.len; i++)
        x ^= ch->key.p[i];
    for (size_t i = 0; i < ch->topic.len; i++)
        x ^= ch->topic.p[i];
    (void)x;
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    volatile size_t n = strlen(cp->file) + strlen(cp->gtid) + strlen(cp->gtid_state);
    (void)n;
    return 0;
}

/* A MariaDB 10.11 FORMAT_DESCRIPTION: header, version 4, server version, create time,
 * header length 19, 171 post-header lengths, checksum algorithm, CRC32. */
static size_t build_fde(uint8_t *p, int crc)
{
    static const uint8_t post[171] = {[2 - 1] = 13,  [4 - 1] = 8,   [15 - 1] = 84,  [19 - 1] = 8,
                                      [23 - 1] = 8,  [24 - 1] = 8,  [25 - 1] = 8,   [26 - 1] = 2,
                                      [30 - 1] = 10, [31 - 1] = 10, [32 - 1] = 10,  [33 - 1] = 42,
                                      [34 - 1] = 42, [161 - 1] = 4, [162 - 1] = 19, [163 - 1] = 4};
    size_t n = 19;
    memset(p, 0, 19);
    p[4] = 15;
    p[n++] = 4;
    p[n++] = 0;
    memset(p + n, 0, 50);
    memcpy(p + n, "10.11.19-MariaDB-log", 20);
    n += 50;
    memset(p + n, 0, 4);
    n += 4;
    p[n++] = 19;
    memcpy(p + n, post, sizeof post);
    n += sizeof post;
    p[n++] = crc ? 1 : 0;
    n += 4;
    p[9] = (uint8_t)n;
    p[10] = (uint8_t)(n >> 8);
    uint32_t c = rl_crc32(0, p, n - 4);
    p[n - 4] = (uint8_t)c;
    p[n - 3] = (uint8_t)(c >> 8);
    p[n - 2] = (uint8_t)(c >> 16);
    p[n - 1] = (uint8_t)(c >> 24);
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rl_log_set_level(RL_LOG_ERROR + 1); /* skipped and refused events are the point: quiet */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    binlog_decoder_t *dec;
    binlog_handler h = {NULL, on_change, on_commit};
    if (binlog_decoder_new(&dec, NULL, &h) != 0)
        return 0;
    binlog_decoder_set_file(dec, "fuzz.000001");
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        uint8_t fde[512];
        size_t n = build_fde(fde, mode & 2);
        binlog_decoder_feed(dec, rl_slice_make(fde, n), NULL);
    }
    while (size >= 19) {
        uint32_t len = (uint32_t)data[9] | (uint32_t)data[10] << 8 | (uint32_t)data[11] << 16 |
                       (uint32_t)data[12] << 24;
        if (len < 19 || len > size)
            len = (uint32_t)size; /* the decoder must refuse the mismatch itself */
        /* A private copy, so reads past the event are caught even inside the input. */
        uint8_t *ev = malloc(len);
        if (!ev)
            break;
        memcpy(ev, data, len);
        if ((mode & 4) && len >= 23) {
            uint32_t c = rl_crc32(0, ev, len - 4);
            ev[len - 4] = (uint8_t)c;
            ev[len - 3] = (uint8_t)(c >> 8);
            ev[len - 2] = (uint8_t)(c >> 16);
            ev[len - 1] = (uint8_t)(c >> 24);
        }
        int rc = binlog_decoder_feed(dec, rl_slice_make(ev, len), NULL);
        free(ev);
        data += len;
        size -= len;
        if (rc < 0)
            break;
    }
    binlog_decoder_free(dec);
    return 0;
}
