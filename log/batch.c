/*
 * batch.c - Kafka RecordBatch v2 (magic 2): the encoder the writer uses and log_batch_decode.
 *
 * Source: Kafka documentation "Message Format" (section 5.3.1 RecordBatch, 5.3.2 Record) and
 * apache/kafka clients/.../record/DefaultRecordBatch.java, DefaultRecord.java. All integers
 * big-endian; record fields are zigzag varints (protobuf style).
 *
 *   off  size  field                 rowlog writes
 *     0     8  baseOffset            first offset of the batch (not CRC-covered)
 *     8     4  batchLength           bytes after this field (total size - 12)
 *    12     4  partitionLeaderEpoch  0 (not CRC-covered)
 *    16     1  magic                 2
 *    17     4  crc                   CRC32C (Castagnoli) of bytes [21, end), as stored
 *    21     2  attributes            bits 0-2 codec (0 none, 3 lz4, 4 zstd); bit 3 timestamp
 *                                    type (0 CreateTime); bit 4 transactional; bit 5 control
 *    23     4  lastOffsetDelta       recordsCount - 1
 *    27     8  baseTimestamp         timestamp of the first record (ms)
 *    35     8  maxTimestamp          largest record timestamp (ms)
 *    43     8  producerId            -1
 *    51     2  producerEpoch         -1
 *    53     4  baseSequence          -1
 *    57     4  recordsCount          number of records (never compressed)
 *    61     -  records               plain, or one lz4 frame / zstd frame of them
 *
 *   Record: length varint (bytes after it) | attributes i8 (0) | timestampDelta varlong |
 *           offsetDelta varint | keyLength varint (-1 = null) | key | valueLength varint
 *           (-1 = null) | value | headersCount varint | headers (keyLength varint, key,
 *           valueLength varint, value); rowlog writes no headers.
 *
 * Compression (Kafka protocol notes section 4.7-4.8): lz4 is an LZ4 frame with independent
 * 64 KiB blocks and no checksums (Java clients refuse linked blocks; the frame carries the
 * content size, which Kafka's Lz4BlockInputStream skips); zstd is one standard frame with the
 * content size. The decoder accepts any valid LZ4 frame (linked blocks, checksums) and any
 * zstd frame, and caps the output (STYLE rule 16).
 */
#include "log/log_int.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

/* ------------------------------------------------------------------ small helpers */

static inline uint64_t zz64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

int log_compression_parse(const char *name)
{
    if (!name)
        return RL_ECONFIG;
    if (strcasecmp(name, "none") == 0)
        return LOG_COMPRESSION_NONE;
    if (strcasecmp(name, "lz4") == 0)
        return LOG_COMPRESSION_LZ4;
    if (strcasecmp(name, "zstd") == 0)
        return LOG_COMPRESSION_ZSTD;
    return RL_ECONFIG;
}

int log_flush_parse(const char *name)
{
    if (!name)
        return RL_ECONFIG;
    if (strcasecmp(name, "commit") == 0)
        return LOG_FLUSH_COMMIT;
    if (strcasecmp(name, "interval") == 0)
        return LOG_FLUSH_INTERVAL;
    if (strcasecmp(name, "os") == 0)
        return LOG_FLUSH_OS;
    return RL_ECONFIG;
}

/* ------------------------------------------------------------------ header */

int log__batch_header(rl_slice bytes, bool check_crc, log_batch_hdr *h, rl_err *err)
{
    rl_reader rd = rl_reader_make(bytes);
    if (bytes.len < LOG_BATCH_LENGTH_OFF)
        return rl_err_set(err, RL_EAGAIN, "incomplete batch header (%zu bytes)", bytes.len);
    h->base = rl_get_i64be(&rd);
    int32_t length = rl_get_i32be(&rd);
    /* Magic first: a batch of another version has a different layout after it. */
    if (bytes.len > 16 && bytes.p[16] != LOG_MAGIC_V2)
        return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: magic %d, expected 2",
                          (long long)h->base, (int8_t)bytes.p[16]);
    if (length < (int32_t)LOG_BATCH_MIN_LENGTH)
        return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: batchLength %d below %u",
                          (long long)h->base, length, LOG_BATCH_MIN_LENGTH);
    if ((uint64_t)length > (uint64_t)INT32_MAX - LOG_BATCH_LENGTH_OFF)
        return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: batchLength %d too large",
                          (long long)h->base, length);
    h->size = (uint32_t)length + LOG_BATCH_LENGTH_OFF;
    if (bytes.len < LOG_BATCH_HEADER)
        return rl_err_set(err, RL_EAGAIN, "incomplete batch header (%zu bytes)", bytes.len);
    rl_get_i32be(&rd); /* partitionLeaderEpoch */
    rl_get_u8(&rd);    /* magic, checked above */
    h->crc = (uint32_t)rl_get_i32be(&rd);
    h->attributes = rl_get_i16be(&rd);
    h->last_delta = rl_get_i32be(&rd);
    h->base_ts = rl_get_i64be(&rd);
    h->max_ts = rl_get_i64be(&rd);
    rl_get_i64be(&rd); /* producerId */
    rl_get_i16be(&rd); /* producerEpoch */
    rl_get_i32be(&rd); /* baseSequence */
    h->count = rl_get_i32be(&rd);
    RL_ASSERT(!rd.err);
    if (h->last_delta < 0)
        return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: lastOffsetDelta %d",
                          (long long)h->base, h->last_delta);
    if (h->base < 0 || h->base > INT64_MAX - h->last_delta - 1)
        return rl_err_set(err, RL_ECORRUPT, "batch: baseOffset %lld out of range",
                          (long long)h->base);
    if (h->count < 0 || (int64_t)h->count > (int64_t)h->last_delta + 1)
        return rl_err_set(err, RL_ECORRUPT,
                          "batch at offset %lld: recordsCount %d with lastOffsetDelta %d",
                          (long long)h->base, h->count, h->last_delta);
    if (bytes.len < h->size)
        return rl_err_set(err, RL_EAGAIN, "batch at offset %lld: %zu of %u bytes",
                          (long long)h->base, bytes.len, h->size);
    if (check_crc) {
        uint32_t crc = rl_crc32c(0, bytes.p + LOG_BATCH_CRC_FROM, h->size - LOG_BATCH_CRC_FROM);
        if (crc != h->crc)
            return rl_err_set(err, RL_ECORRUPT,
                              "batch at offset %lld: CRC32C mismatch (stored %08x, computed "
                              "%08x)",
                              (long long)h->base, h->crc, crc);
    }
    return 0;
}

/* ------------------------------------------------------------------ encoder */

int log__codec_init(log_codec *cz, int compression, int level, rl_err *err)
{
    memset(cz, 0, sizeof *cz);
    cz->compression = compression;
    switch (compression) {
    case LOG_COMPRESSION_NONE:
        break;
    case LOG_COMPRESSION_LZ4: {
        cz->level = level ? level : 1;
        LZ4F_errorCode_t e = LZ4F_createCompressionContext(&cz->lz4, LZ4F_VERSION);
        if (LZ4F_isError(e))
            return rl_err_set(err, -ENOMEM, "lz4: %s", LZ4F_getErrorName(e));
        break;
    }
    case LOG_COMPRESSION_ZSTD:
        cz->level = level ? level : 1;
        cz->zstd = ZSTD_createCCtx();
        if (!cz->zstd)
            return rl_err_set(err, -ENOMEM, "zstd: cannot create a compression context");
        /* Parameters stay set across ZSTD_compress2 calls; the one-shot call writes the
         * content size into the frame header. */
        if (ZSTD_isError(ZSTD_CCtx_setParameter(cz->zstd, ZSTD_c_compressionLevel, cz->level)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(cz->zstd, ZSTD_c_contentSizeFlag, 1)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(cz->zstd, ZSTD_c_checksumFlag, 0))) {
            ZSTD_freeCCtx(cz->zstd);
            cz->zstd = NULL;
            return rl_err_set(err, RL_ECONFIG, "zstd: bad compression level %d", cz->level);
        }
        break;
    default:
        return rl_err_set(err, RL_ECONFIG, "unknown compression %d", compression);
    }
    return 0;
}

void log__codec_free(log_codec *cz)
{
    if (cz->lz4)
        LZ4F_freeCompressionContext(cz->lz4);
    if (cz->zstd)
        ZSTD_freeCCtx(cz->zstd);
    rl_buf_free(&cz->out);
    memset(cz, 0, sizeof *cz);
}

/* Bytes of a record after its length prefix, or SIZE_MAX above LOG_RECORD_MAX. */
static size_t record_body_size(int64_t ts_delta, int32_t offset_delta, rl_slice key, rl_slice value)
{
    if (key.len > LOG_RECORD_MAX || value.len > LOG_RECORD_MAX)
        return SIZE_MAX;
    size_t body = 1 + uvarint_len(zz64(ts_delta)) + uvarint_len(zz64(offset_delta)) +
                  uvarint_len(zz64(key.p ? (int64_t)key.len : -1)) + key.len +
                  uvarint_len(zz64(value.p ? (int64_t)value.len : -1)) + value.len + 1;
    return body > LOG_RECORD_MAX ? SIZE_MAX : body;
}

size_t log__builder_measure(const log_batch_builder *bb, rl_slice key, rl_slice value,
                            int64_t ts_ms, size_t *body)
{
    /* As log__builder_add will encode it: the first record of a batch is its own base. */
    int64_t ts_delta = bb->count ? (int64_t)((uint64_t)ts_ms - (uint64_t)bb->base_ts) : 0;
    int32_t offset_delta = bb->count ? bb->last_delta + 1 : 0;
    *body = record_body_size(ts_delta, offset_delta, key.p ? key : rl_slice_make(NULL, 0),
                             value.p ? value : rl_slice_make(NULL, 0));
    return *body == SIZE_MAX ? SIZE_MAX : uvarint_len(zz64((int64_t)*body)) + *body;
}

/* Appends a record whose body size (record_body_size for these deltas) the caller has. */
static int add_body(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms,
                    int32_t offset_delta, size_t body)
{
    if (bb->count == 0) {
        rl_buf_reset(&bb->buf);
        if (rl_buf_reserve(&bb->buf, LOG_BATCH_HEADER) != 0)
            return -ENOMEM;
        bb->buf.len = LOG_BATCH_HEADER;
        bb->base_ts = ts_ms;
        bb->max_ts = ts_ms;
    }
    if (bb->count == INT32_MAX)
        return RL_ETOOBIG;
    /* Wrapping difference: the decoder adds it back with the same wrap, so any pair of
     * int64 timestamps round-trips. */
    int64_t ts_delta = (int64_t)((uint64_t)ts_ms - (uint64_t)bb->base_ts);
    size_t total = uvarint_len(zz64((int64_t)body)) + body;
    if (rl_buf_reserve(&bb->buf, total) != 0) {
        bb->buf.oom = false; /* nothing was written: the batch stays usable */
        return -ENOMEM;
    }
    uint8_t *p = bb->buf.p + bb->buf.len;
    size_t n = put_uvarint(p, zz64((int64_t)body));
    p[n++] = 0; /* attributes */
    n += put_uvarint(p + n, zz64(ts_delta));
    n += put_uvarint(p + n, zz64(offset_delta));
    n += put_uvarint(p + n, zz64(key.p ? (int64_t)key.len : -1));
    if (key.len)
        memcpy(p + n, key.p, key.len);
    n += key.len;
    n += put_uvarint(p + n, zz64(value.p ? (int64_t)value.len : -1));
    if (value.len)
        memcpy(p + n, value.p, value.len);
    n += value.len;
    p[n++] = 0; /* headersCount */
    RL_ASSERT(n == total);
    bb->buf.len += n;
    bb->count++;
    bb->last_delta = offset_delta;
    if (ts_ms > bb->max_ts)
        bb->max_ts = ts_ms;
    return 0;
}

int log__builder_add_measured(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms,
                              size_t body)
{
    if (!key.p)
        key.len = 0;
    if (!value.p)
        value.len = 0;
    if (body == SIZE_MAX)
        return RL_ETOOBIG;
    return add_body(bb, key, value, ts_ms, bb->count ? bb->last_delta + 1 : 0, body);
}

int log__builder_add(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms)
{
    size_t body;
    log__builder_measure(bb, key, value, ts_ms, &body);
    return log__builder_add_measured(bb, key, value, ts_ms, body);
}

int log__builder_add_at(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms,
                        int32_t offset_delta)
{
    RL_ASSERT(bb->count == 0 || offset_delta > bb->last_delta);
    if (!key.p)
        key.len = 0;
    if (!value.p)
        value.len = 0;
    int64_t ts_delta = bb->count ? (int64_t)((uint64_t)ts_ms - (uint64_t)bb->base_ts) : 0;
    size_t body = record_body_size(ts_delta, offset_delta, key, value);
    if (body == SIZE_MAX)
        return RL_ETOOBIG;
    return add_body(bb, key, value, ts_ms, offset_delta, body);
}

static int compress_lz4(log_codec *cz, const uint8_t *src, size_t n, rl_err *err)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
    prefs.frameInfo.contentSize = n;
    prefs.compressionLevel = cz->level;
    size_t bound = LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(n, &prefs);
    if (rl_buf_reserve(&cz->out, bound) != 0)
        return rl_err_set(err, -ENOMEM, "lz4: out of memory for %zu bytes", bound);
    uint8_t *dst = cz->out.p + cz->out.len;
    size_t cap = cz->out.cap - cz->out.len, o = 0;
    size_t r = LZ4F_compressBegin(cz->lz4, dst, cap, &prefs);
    if (LZ4F_isError(r))
        goto fail;
    o += r;
    r = LZ4F_compressUpdate(cz->lz4, dst + o, cap - o, src, n, NULL);
    if (LZ4F_isError(r))
        goto fail;
    o += r;
    r = LZ4F_compressEnd(cz->lz4, dst + o, cap - o, NULL);
    if (LZ4F_isError(r))
        goto fail;
    o += r;
    cz->out.len += o;
    return 0;
fail:
    return rl_err_set(err, RL_ECORRUPT, "lz4 compression failed: %s", LZ4F_getErrorName(r));
}

static int compress_zstd(log_codec *cz, const uint8_t *src, size_t n, rl_err *err)
{
    size_t bound = ZSTD_compressBound(n);
    if (rl_buf_reserve(&cz->out, bound) != 0)
        return rl_err_set(err, -ENOMEM, "zstd: out of memory for %zu bytes", bound);
    size_t r = ZSTD_compress2(cz->zstd, cz->out.p + cz->out.len, cz->out.cap - cz->out.len, src, n);
    if (ZSTD_isError(r))
        return rl_err_set(err, RL_ECORRUPT, "zstd compression failed: %s", ZSTD_getErrorName(r));
    cz->out.len += r;
    return 0;
}

int log__builder_finish(log_batch_builder *bb, log_codec *cz, int64_t base, rl_slice *out,
                        rl_err *err)
{
    RL_ASSERT(bb->count > 0);
    return log__builder_finish_span(bb, cz, base, bb->last_delta, out, err);
}

int log__builder_finish_span(log_batch_builder *bb, log_codec *cz, int64_t base, int32_t last_delta,
                             rl_slice *out, rl_err *err)
{
    RL_ASSERT(bb->count == 0 || last_delta >= bb->last_delta);
    if (bb->count == 0) {
        /* An empty batch keeps the offsets of records a compaction removed (their offsets
         * stay taken, as in Kafka): header only, no codec, timestamps from the caller. */
        rl_buf_reset(&bb->buf);
        if (rl_buf_reserve(&bb->buf, LOG_BATCH_HEADER) != 0)
            return rl_err_set(err, -ENOMEM, "out of memory for a batch");
        bb->buf.len = LOG_BATCH_HEADER;
    }
    uint8_t *h;
    size_t total;
    int codec = bb->count ? cz->compression : LOG_COMPRESSION_NONE;
    const uint8_t *recs = bb->buf.p + LOG_BATCH_HEADER;
    size_t nrecs = bb->buf.len - LOG_BATCH_HEADER;
    if (codec == LOG_COMPRESSION_NONE) {
        h = bb->buf.p;
        total = bb->buf.len;
    } else {
        rl_buf_reset(&cz->out);
        if (rl_buf_reserve(&cz->out, LOG_BATCH_HEADER) != 0)
            return rl_err_set(err, -ENOMEM, "out of memory for a batch");
        cz->out.len = LOG_BATCH_HEADER;
        int rc = cz->compression == LOG_COMPRESSION_LZ4 ? compress_lz4(cz, recs, nrecs, err)
                                                        : compress_zstd(cz, recs, nrecs, err);
        if (rc != 0)
            return rc;
        h = cz->out.p;
        total = cz->out.len;
    }
    if (total > (size_t)INT32_MAX)
        return rl_err_set(err, RL_ETOOBIG, "batch of %zu bytes above 2 GiB", total);
    put_be64(h, (uint64_t)base);
    put_be32(h + 8, (uint32_t)(total - LOG_BATCH_LENGTH_OFF));
    put_be32(h + 12, 0);
    h[16] = LOG_MAGIC_V2;
    put_be16(h + 21, (uint16_t)codec); /* CreateTime, not transactional */
    put_be32(h + 23, (uint32_t)last_delta);
    put_be64(h + 27, (uint64_t)bb->base_ts);
    put_be64(h + 35, (uint64_t)bb->max_ts);
    put_be64(h + 43, UINT64_MAX); /* producerId -1 */
    put_be16(h + 51, UINT16_MAX); /* producerEpoch -1 */
    put_be32(h + 53, UINT32_MAX); /* baseSequence -1 */
    put_be32(h + 57, (uint32_t)bb->count);
    put_be32(h + 17, rl_crc32c(0, h + LOG_BATCH_CRC_FROM, total - LOG_BATCH_CRC_FROM));
    *out = rl_slice_make(h, total);
    return 0;
}

/* ------------------------------------------------------------------ decoder */

static int grow_to(rl_buf *b, size_t want, size_t max)
{
    if (want > max)
        want = max;
    if (want <= b->cap)
        return 0;
    return rl_buf_reserve(b, want - b->len);
}

/* Decompresses an LZ4 frame into scratch (reset). Output capped at max; a declared content
 * size must match exactly. */
static int decompress_lz4(rl_slice in, rl_buf *scratch, size_t max, int64_t base, rl_err *err)
{
    LZ4F_dctx *dctx = NULL;
    int rc = 0;
    LZ4F_errorCode_t e = LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION);
    if (LZ4F_isError(e))
        return rl_err_set(err, -ENOMEM, "lz4: %s", LZ4F_getErrorName(e));
    LZ4F_frameInfo_t info;
    const uint8_t *src = in.p;
    size_t left = in.len;
    size_t n = left;
    size_t hint = LZ4F_getFrameInfo(dctx, &info, src, &n);
    if (LZ4F_isError(hint)) {
        rc = rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: lz4 frame header: %s",
                        (long long)base, LZ4F_getErrorName(hint));
        goto done;
    }
    src += n;
    left -= n;
    uint64_t declared = info.contentSize; /* 0 = not declared */
    if (declared > max) {
        rc = rl_err_set(err, RL_ETOOBIG,
                        "batch at offset %lld: lz4 content size %llu above the limit %zu",
                        (long long)base, (unsigned long long)declared, max);
        goto done;
    }
    rl_buf_reset(scratch);
    /* One byte beyond a declared size, so that a frame longer than declared is seen. */
    size_t limit = declared ? (size_t)declared + 1 : max;
    size_t want = declared ? (size_t)declared : (in.len < max / 4 ? in.len * 4 : max);
    if (want < 256)
        want = 256;
    if (grow_to(scratch, want, limit) != 0) {
        rc = rl_err_set(err, -ENOMEM, "batch at offset %lld: out of memory", (long long)base);
        goto done;
    }
    while (hint != 0) {
        size_t cap_now = scratch->cap < limit ? scratch->cap : limit;
        if (scratch->len >= cap_now) {
            if (cap_now >= limit) {
                rc = declared ? rl_err_set(err, RL_ECORRUPT,
                                           "batch at offset %lld: lz4 frame longer than its "
                                           "declared %llu bytes",
                                           (long long)base, (unsigned long long)declared)
                              : rl_err_set(err, RL_ETOOBIG,
                                           "batch at offset %lld: records above the limit of "
                                           "%zu bytes",
                                           (long long)base, max);
                goto done;
            }
            if (grow_to(scratch, scratch->cap * 2, limit) != 0) {
                rc = rl_err_set(err, -ENOMEM, "batch at offset %lld: out of memory",
                                (long long)base);
                goto done;
            }
            continue;
        }
        size_t dn = cap_now - scratch->len, sn = left;
        hint = LZ4F_decompress(dctx, scratch->p + scratch->len, &dn, src, &sn, NULL);
        if (LZ4F_isError(hint)) {
            rc = rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: lz4: %s", (long long)base,
                            LZ4F_getErrorName(hint));
            goto done;
        }
        src += sn;
        left -= sn;
        scratch->len += dn;
        if (hint != 0 && sn == 0 && dn == 0) {
            /* Room for output and no progress: the frame stops short. */
            rc = rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: truncated lz4 frame",
                            (long long)base);
            goto done;
        }
    }
    if (left != 0) {
        rc = rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: %zu bytes after the lz4 frame",
                        (long long)base, left);
        goto done;
    }
    if (declared && scratch->len != declared) {
        rc = rl_err_set(err, RL_ECORRUPT,
                        "batch at offset %lld: lz4 frame gave %zu bytes, declared %llu",
                        (long long)base, scratch->len, (unsigned long long)declared);
        goto done;
    }
done:
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int decompress_zstd(rl_slice in, rl_buf *scratch, size_t max, int64_t base, rl_err *err)
{
    unsigned long long declared = ZSTD_getFrameContentSize(in.p, in.len);
    if (declared == ZSTD_CONTENTSIZE_ERROR)
        return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: bad zstd frame header",
                          (long long)base);
    rl_buf_reset(scratch);
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN &&
        ZSTD_findFrameCompressedSize(in.p, in.len) == in.len) {
        /* One frame with its size: decompress in one call into an exact buffer. */
        if (declared > max)
            return rl_err_set(err, RL_ETOOBIG,
                              "batch at offset %lld: zstd content size %llu above the limit %zu",
                              (long long)base, declared, max);
        if (rl_buf_reserve(scratch, (size_t)declared + 1) != 0)
            return rl_err_set(err, -ENOMEM, "batch at offset %lld: out of memory", (long long)base);
        size_t r = ZSTD_decompress(scratch->p, (size_t)declared, in.p, in.len);
        if (ZSTD_isError(r))
            return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: zstd: %s", (long long)base,
                              ZSTD_getErrorName(r));
        if (r != declared)
            return rl_err_set(err, RL_ECORRUPT,
                              "batch at offset %lld: zstd frame gave %zu bytes, declared %llu",
                              (long long)base, r, declared);
        scratch->len = r;
        return 0;
    }
    /* No declared size (or several frames): stream into a buffer that grows up to max. */
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx)
        return rl_err_set(err, -ENOMEM, "zstd: cannot create a decompression context");
    int rc = 0;
    if (grow_to(scratch, in.len < max / 4 ? in.len * 4 + 256 : max, max) != 0) {
        rc = rl_err_set(err, -ENOMEM, "batch at offset %lld: out of memory", (long long)base);
        goto done;
    }
    ZSTD_inBuffer ib = {in.p, in.len, 0};
    size_t r = 1;
    while (ib.pos < ib.size || r != 0) {
        if (scratch->len >= (scratch->cap < max ? scratch->cap : max)) {
            if (scratch->len >= max) {
                rc = rl_err_set(err, RL_ETOOBIG,
                                "batch at offset %lld: records above the limit of %zu bytes",
                                (long long)base, max);
                goto done;
            }
            if (grow_to(scratch, scratch->cap * 2, max) != 0) {
                rc = rl_err_set(err, -ENOMEM, "batch at offset %lld: out of memory",
                                (long long)base);
                goto done;
            }
        }
        ZSTD_outBuffer ob = {scratch->p, scratch->cap < max ? scratch->cap : max, scratch->len};
        size_t before_in = ib.pos, before_out = ob.pos;
        r = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(r)) {
            rc = rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: zstd: %s", (long long)base,
                            ZSTD_getErrorName(r));
            goto done;
        }
        scratch->len = ob.pos;
        if (ib.pos == before_in && ob.pos == before_out && ob.pos < ob.size) {
            rc = rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: truncated zstd frame",
                            (long long)base);
            goto done;
        }
    }
done:
    ZSTD_freeDCtx(dctx);
    return rc;
}

int log_batch_decode(rl_slice bytes, rl_buf *scratch, size_t max_uncompressed,
                     int (*fn)(void *ctx, const log_record *rec), void *ctx, rl_err *err)
{
    log_batch_hdr h;
    int rc = log__batch_header(bytes, true, &h, err);
    if (rc != 0)
        return rc;
    rl_slice recs = rl_slice_make(bytes.p + LOG_BATCH_HEADER, h.size - LOG_BATCH_HEADER);
    int codec = h.attributes & LOG_ATTR_CODEC_MASK;
    switch (codec) {
    case LOG_COMPRESSION_NONE:
        break;
    case LOG_COMPRESSION_LZ4:
        if ((rc = decompress_lz4(recs, scratch, max_uncompressed, h.base, err)) != 0)
            return rc;
        recs = rl_buf_slice(scratch);
        break;
    case LOG_COMPRESSION_ZSTD:
        if ((rc = decompress_zstd(recs, scratch, max_uncompressed, h.base, err)) != 0)
            return rc;
        recs = rl_buf_slice(scratch);
        break;
    default:
        return rl_err_set(err, RL_EUNSUPPORTED, "batch at offset %lld: compression codec %d",
                          (long long)h.base, codec);
    }
    rl_reader rd = rl_reader_make(recs);
    int64_t prev_delta = -1;
    bool append_time = (h.attributes & LOG_ATTR_LOG_APPEND_TIME) != 0;
    for (int32_t i = 0; i < h.count; i++) {
        int64_t len = rl_get_varlong(&rd);
        if (rd.err || len < 0 || (uint64_t)len > rl_reader_left(&rd))
            return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: record %d: bad length",
                              (long long)h.base, i);
        rl_reader sub = rl_reader_sub(&rd, (size_t)len);
        log_record rec;
        rl_get_u8(&sub); /* attributes: unused in v2 */
        int64_t ts_delta = rl_get_varlong(&sub);
        int32_t off_delta = rl_get_varint(&sub);
        int32_t klen = rl_get_varint(&sub);
        if (klen < -1)
            sub.err = true;
        rec.key = klen >= 0 ? rl_get_bytes(&sub, (size_t)klen) : rl_slice_make(NULL, 0);
        if (klen == 0 && !sub.err)
            rec.key.p = (const uint8_t *)""; /* empty, not null */
        int32_t vlen = rl_get_varint(&sub);
        if (vlen < -1)
            sub.err = true;
        rec.value = vlen >= 0 ? rl_get_bytes(&sub, (size_t)vlen) : rl_slice_make(NULL, 0);
        if (vlen == 0 && !sub.err)
            rec.value.p = (const uint8_t *)"";
        int32_t nh = rl_get_varint(&sub);
        if (nh < 0)
            sub.err = true;
        for (int32_t k = 0; k < nh && !sub.err; k++) {
            int32_t hk = rl_get_varint(&sub);
            if (hk < 0)
                sub.err = true;
            else
                rl_reader_skip(&sub, (size_t)hk);
            int32_t hv = rl_get_varint(&sub);
            if (hv < -1)
                sub.err = true;
            else if (hv > 0)
                rl_reader_skip(&sub, (size_t)hv);
        }
        if (sub.err || rl_reader_left(&sub) != 0)
            return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: record %d is malformed",
                              (long long)h.base, i);
        if (off_delta <= prev_delta || off_delta > h.last_delta)
            return rl_err_set(err, RL_ECORRUPT,
                              "batch at offset %lld: record %d has offsetDelta %d (previous "
                              "%lld, lastOffsetDelta %d)",
                              (long long)h.base, i, off_delta, (long long)prev_delta, h.last_delta);
        prev_delta = off_delta;
        rec.offset = h.base + off_delta;
        rec.timestamp =
            append_time ? h.max_ts : (int64_t)((uint64_t)h.base_ts + (uint64_t)ts_delta);
        if (fn) {
            int r = fn(ctx, &rec);
            if (r < 0)
                return r;
        }
    }
    if (rl_reader_left(&rd) != 0)
        return rl_err_set(err, RL_ECORRUPT, "batch at offset %lld: %zu bytes after %d records",
                          (long long)h.base, rl_reader_left(&rd), h.count);
    return (int)h.size;
}
