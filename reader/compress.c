/*
 * compress.c - the compressed parts of binlog events: MariaDB's zlib-compressed QUERY and rows
 * events (165-171, log_bin_compress) and the zstd payload of MySQL's TRANSACTION_PAYLOAD (40,
 * binlog_transaction_compression).
 *
 * Sources: MariaDB sql/log_event.cc (binlog_get_uncompress_len, binlog_buf_uncompress,
 * Query_compressed_log_event, Rows_log_event::uncompress_buf); mysql-server
 * libs/mysql/binlog/event/control_events.h (Transaction_payload_event),
 * libs/mysql/binlog/event/compression/ (zstd). Mirrored in docs/format-binlog.md.
 *
 * MariaDB compressed part (the SQL text of a QUERY_COMPRESSED, the row data of a compressed
 * rows event after width and column bitmaps)
 *   off size field
 *   0   1    0x80 | alg << 4 | n: alg (bits 4-6) 0 = zlib, the only one MariaDB writes;
 *            n (bits 0-2) = 1..4 bytes of length
 *   1   n    uncompressed length, big-endian
 *   1+n ...  zlib stream (RFC 1950) to the end of the event (before the CRC32)
 *
 * Both kinds inflate into a buffer the decoder keeps across events, sized from the declared
 * uncompressed length; a declared length above max_event_bytes is refused (RL_ETOOBIG) before
 * anything is allocated, and a stream that inflates to any other length is RL_ECORRUPT
 * (STYLE rule 16).
 */
#include "reader/binlog_int.h"

#include <errno.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

/* Grows *buf to at least n bytes (never shrinks: the buffer is reused across events). */
static int reserve(uint8_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    uint8_t *p = realloc(*buf, n);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

static int check_cap(const binlog_decoder_t *dec, uint64_t n, const char *what, rl_err *err)
{
    if (n > dec->max_event_bytes)
        return rl_err_set(err, RL_ETOOBIG,
                          "%s declares %llu uncompressed bytes, above max_event_bytes %zu", what,
                          (unsigned long long)n, dec->max_event_bytes);
    return 0;
}

int binlog__maria_uncompress(binlog_decoder_t *dec, rl_slice in, rl_slice *out, rl_err *err)
{
    if (in.len < 1)
        return rl_err_set(err, RL_ECORRUPT, "compressed part is empty");
    uint8_t h = in.p[0];
    unsigned alg = (h >> 4) & 7, n = h & 7;
    if (!(h & 0x80) || n < 1 || n > 4)
        return rl_err_set(err, RL_ECORRUPT, "compressed part header byte 0x%02x", h);
    if (alg != 0)
        return rl_err_set(err, RL_ECORRUPT,
                          "compression algorithm %u (MariaDB writes only 0, zlib)", alg);
    if (in.len < 1 + (size_t)n)
        return rl_err_set(err, RL_ECORRUPT,
                          "compressed part of %zu bytes has no room for its "
                          "%u-byte length",
                          in.len, n);
    uint64_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len = len << 8 | in.p[1 + i];
    int rc = check_cap(dec, len, "compressed part", err);
    if (rc < 0)
        return rc;
    /* Capacity exactly the declared length: a longer stream fails as Z_BUF_ERROR. The spare
     * byte only keeps a zero-length output from needing a NULL buffer. */
    if (reserve(&dec->zbuf, &dec->zbuf_cap, (size_t)len + 1) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory inflating %llu bytes",
                          (unsigned long long)len);
    const uint8_t *src = in.p + 1 + n;
    size_t srclen = in.len - 1 - n;
    if (srclen > (uLong)-1)
        return rl_err_set(err, RL_ECORRUPT, "compressed part of %zu bytes", srclen);
    uLongf got = (uLongf)len;
    int zr = uncompress(dec->zbuf, &got, src, (uLong)srclen);
    if (zr != Z_OK)
        return rl_err_set(err, RL_ECORRUPT,
                          "zlib stream of %zu bytes does not inflate to the declared %llu bytes "
                          "(zlib error %d: %s)",
                          srclen, (unsigned long long)len, zr, zError(zr));
    if ((uint64_t)got != len)
        return rl_err_set(err, RL_ECORRUPT, "zlib stream inflates to %lu bytes, %llu declared",
                          (unsigned long)got, (unsigned long long)len);
    *out = rl_slice_make(dec->zbuf, (size_t)len);
    return 0;
}

int binlog__zstd_uncompress(binlog_decoder_t *dec, rl_slice in, uint64_t len, rl_slice *out,
                            rl_err *err)
{
    int rc = check_cap(dec, len, "TRANSACTION_PAYLOAD", err);
    if (rc < 0)
        return rc;
    if (reserve(&dec->pbuf, &dec->pbuf_cap, (size_t)len + 1) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory decompressing %llu bytes",
                          (unsigned long long)len);
    if (!dec->zstd) {
        dec->zstd = ZSTD_createDCtx();
        if (!dec->zstd)
            return rl_err_set(err, -ENOMEM, "out of memory creating a zstd context");
    }
    /* ZSTD_decompressDCtx reads every frame of the input and fails when the output would not
     * fit: with capacity len + 1 a payload longer than declared is caught below. */
    size_t got = ZSTD_decompressDCtx(dec->zstd, dec->pbuf, (size_t)len + 1, in.p, in.len);
    if (ZSTD_isError(got))
        return rl_err_set(err, RL_ECORRUPT,
                          "zstd payload of %zu bytes does not decompress (%s; %llu bytes declared)",
                          in.len, ZSTD_getErrorName(got), (unsigned long long)len);
    if ((uint64_t)got != len)
        return rl_err_set(err, RL_ECORRUPT,
                          "zstd payload decompresses to %zu bytes, UNCOMPRESSED_SIZE is %llu", got,
                          (unsigned long long)len);
    *out = rl_slice_make(dec->pbuf, (size_t)len);
    return 0;
}

void binlog__compress_free(binlog_decoder_t *dec)
{
    free(dec->zbuf);
    free(dec->pbuf);
    ZSTD_freeDCtx(dec->zstd);
    dec->zbuf = dec->pbuf = NULL;
    dec->zbuf_cap = dec->pbuf_cap = 0;
    dec->zstd = NULL;
}
