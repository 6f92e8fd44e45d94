/*
 * rl.h - rowlog's common layer: byte slices, error codes and context, the bounds-checked
 * byte reader used for every untrusted input, growable output buffers with JSON helpers,
 * checksums (CRC32C for Kafka RecordBatch v2), base64, clocks and logging.
 *
 * Threading: every function here is safe to call from any thread on distinct objects; no
 * global mutable state except the log level set once at start-up by rl_log_set_level().
 * Ownership: an rl_slice never owns its bytes; an rl_buf owns its storage until rl_buf_free().
 */
#ifndef RL_H
#define RL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Error codes. 0 or a count on success, negative on failure: -errno for system errors,
 * project codes below -4096. One X-macro list gives the enum, rl_strerror and rl_errname.
 * ------------------------------------------------------------------------------------- */
#define RL_ERRORS(X)                                                                           \
    X(RL_ECORRUPT, -4097, "corrupt data")                                                      \
    X(RL_EPROTO, -4098, "protocol error")                                                      \
    X(RL_EAGAIN, -4099, "need more bytes")                                                     \
    X(RL_EUNSUPPORTED, -4100, "unsupported event or type")                                     \
    X(RL_ECHECKSUM, -4101, "checksum mismatch")                                                \
    X(RL_ECONFIG, -4102, "invalid configuration")                                              \
    X(RL_ESOURCE, -4103, "source server error")                                                \
    X(RL_ETOOBIG, -4104, "size above configured maximum")                                      \
    X(RL_ENOTFOUND, -4105, "not found")                                                        \
    X(RL_ERANGE, -4106, "offset out of range")                                                 \
    X(RL_ESTOPPED, -4107, "stopped")                                                           \
    X(RL_EINCIDENT, -4108, "source reported an incident")

enum rl_error {
#define RL__ENUM(name, val, text) name = (val),
    RL_ERRORS(RL__ENUM)
#undef RL__ENUM
};

/* Human text for any return code (project code or -errno). Static storage; never NULL. */
const char *rl_strerror(int code);
/* Symbolic name ("RL_ECORRUPT", "ENOSPC", ...) for a code. Static storage; never NULL. */
const char *rl_errname(int code);

/*
 * Error context, optional trailing argument of fallible functions (may be NULL). Fixed size
 * so that error paths never allocate. `msg` says what failed and where (file or partition and
 * offset, or binlog file and position).
 */
typedef struct rl_err {
    int code;
    char msg[512];
} rl_err;

/* Sets err (if not NULL) to code and a printf-formatted message; returns code (negative). */
int rl_err_set(rl_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an already set message (adds context on the way up). Returns err->code
 * or `code` when err is NULL. */
int rl_err_wrap(rl_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Programmer invariants only; bytes from disk or network get RL_ECORRUPT/RL_EPROTO. */
#define RL_ASSERT(expr)                                                                        \
    ((expr) ? (void)0 : rl__assert_fail(#expr, __FILE__, __LINE__))
_Noreturn void rl__assert_fail(const char *expr, const char *file, int line);

/* ---------------------------------------------------------------------------------------
 * Slices.
 * ------------------------------------------------------------------------------------- */
typedef struct rl_slice {
    const uint8_t *p;
    size_t len;
} rl_slice;

static inline rl_slice rl_slice_make(const void *p, size_t len)
{
    rl_slice s = {(const uint8_t *)p, len};
    return s;
}
static inline rl_slice rl_slice_str(const char *s)
{
    return rl_slice_make(s, s ? strlen(s) : 0);
}
static inline bool rl_slice_eq_str(rl_slice s, const char *z)
{
    size_t n = strlen(z);
    return s.len == n && memcmp(s.p, z, n) == 0;
}

/* ---------------------------------------------------------------------------------------
 * rl_reader: bounds-checked cursor over untrusted bytes. Errors stick: after the first
 * short read `err` is set, every getter returns 0 / an empty slice and the cursor stops.
 * Little-endian getters serve the binlog, big-endian and varint getters serve Kafka.
 * ------------------------------------------------------------------------------------- */
typedef struct rl_reader {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
} rl_reader;

static inline rl_reader rl_reader_make(rl_slice s)
{
    /* NULL + 0 is undefined in C: an empty slice may carry a NULL pointer. */
    rl_reader rd = {s.p, s.p ? s.p + s.len : s.p, false};
    return rd;
}
static inline size_t rl_reader_left(const rl_reader *rd)
{
    return rd->err ? 0 : (size_t)(rd->end - rd->p);
}
static inline bool rl_reader_need(rl_reader *rd, size_t n)
{
    if (rd->err || (size_t)(rd->end - rd->p) < n) {
        rd->err = true;
        return false;
    }
    return true;
}
static inline void rl_reader_skip(rl_reader *rd, size_t n)
{
    if (rl_reader_need(rd, n))
        rd->p += n;
}
/* Returns the next n bytes as a slice (empty slice and sticky error when short). */
static inline rl_slice rl_get_bytes(rl_reader *rd, size_t n)
{
    rl_slice s = {NULL, 0};
    if (rl_reader_need(rd, n)) {
        s.p = rd->p;
        s.len = n;
        rd->p += n;
    }
    return s;
}
/* Everything that is left. */
static inline rl_slice rl_get_rest(rl_reader *rd)
{
    return rl_get_bytes(rd, rl_reader_left(rd));
}
/* Takes the next n bytes as an independent sub-reader (narrowing); the parent skips them. */
static inline rl_reader rl_reader_sub(rl_reader *rd, size_t n)
{
    rl_slice s = rl_get_bytes(rd, n);
    rl_reader sub = rl_reader_make(s);
    sub.err = rd->err;
    return sub;
}
/* Hides the last n bytes (a trailing CRC, say). Sets the error when fewer remain. */
static inline void rl_reader_drop_tail(rl_reader *rd, size_t n)
{
    if (rl_reader_need(rd, n))
        rd->end -= n;
}

static inline uint64_t rl__get_le(rl_reader *rd, size_t n)
{
    uint64_t v = 0;
    if (!rl_reader_need(rd, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)rd->p[i] << (8 * i);
    rd->p += n;
    return v;
}
static inline uint64_t rl__get_be(rl_reader *rd, size_t n)
{
    uint64_t v = 0;
    if (!rl_reader_need(rd, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | rd->p[i];
    rd->p += n;
    return v;
}
static inline uint8_t rl_get_u8(rl_reader *rd) { return (uint8_t)rl__get_le(rd, 1); }
static inline uint16_t rl_get_u16le(rl_reader *rd) { return (uint16_t)rl__get_le(rd, 2); }
static inline uint32_t rl_get_u24le(rl_reader *rd) { return (uint32_t)rl__get_le(rd, 3); }
static inline uint32_t rl_get_u32le(rl_reader *rd) { return (uint32_t)rl__get_le(rd, 4); }
static inline uint64_t rl_get_u48le(rl_reader *rd) { return rl__get_le(rd, 6); }
static inline uint64_t rl_get_u64le(rl_reader *rd) { return rl__get_le(rd, 8); }
static inline uint64_t rl_get_uNle(rl_reader *rd, size_t n) { return rl__get_le(rd, n); }
static inline uint64_t rl_get_uNbe(rl_reader *rd, size_t n) { return rl__get_be(rd, n); }
static inline int16_t rl_get_i16be(rl_reader *rd) { return (int16_t)(uint16_t)rl__get_be(rd, 2); }
static inline int32_t rl_get_i32be(rl_reader *rd) { return (int32_t)(uint32_t)rl__get_be(rd, 4); }
static inline int64_t rl_get_i64be(rl_reader *rd) { return (int64_t)rl__get_be(rd, 8); }
static inline int8_t rl_get_i8(rl_reader *rd) { return (int8_t)rl_get_u8(rd); }

/* MySQL length-encoded ("packed") integer: 0-250 inline, 252 u16, 253 u24, 254 u64.
 * 251 (NULL in result sets) and 255 are invalid here and set the error. */
static inline uint64_t rl_get_lenenc(rl_reader *rd)
{
    uint8_t b = rl_get_u8(rd);
    if (b < 251)
        return b;
    if (b == 252)
        return rl__get_le(rd, 2);
    if (b == 253)
        return rl__get_le(rd, 3);
    if (b == 254)
        return rl__get_le(rd, 8);
    rd->err = true;
    return 0;
}

/* Unsigned LEB128 varint, at most 10 bytes (Kafka uvarint / protobuf). */
static inline uint64_t rl_get_uvarint(rl_reader *rd)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b = rl_get_u8(rd);
        if (rd->err)
            return 0;
        if (shift == 63 && b > 1) {
            rd->err = true;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    rd->err = true;
    return 0;
}
/* Zigzag varlong (Kafka record fields). */
static inline int64_t rl_get_varlong(rl_reader *rd)
{
    uint64_t u = rl_get_uvarint(rd);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}
/* Zigzag varint limited to int32 range; out of range sets the error. */
static inline int32_t rl_get_varint(rl_reader *rd)
{
    int64_t v = rl_get_varlong(rd);
    if (v < INT32_MIN || v > INT32_MAX) {
        rd->err = true;
        return 0;
    }
    return (int32_t)v;
}

/* ---------------------------------------------------------------------------------------
 * rl_buf: growable byte buffer for output (JSON text, Kafka responses, record batches).
 * Errors stick: after a failed allocation `oom` is set and appends do nothing; callers check
 * rl_buf_ok() once at the end. Storage is owned by the buffer until rl_buf_free().
 * ------------------------------------------------------------------------------------- */
typedef struct rl_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool oom;
} rl_buf;

#define RL_BUF_INIT {NULL, 0, 0, false}

void rl_buf_free(rl_buf *b);
static inline void rl_buf_reset(rl_buf *b) { b->len = 0; b->oom = false; }
static inline bool rl_buf_ok(const rl_buf *b) { return !b->oom; }
/* Ensures room for n more bytes; returns 0 or -ENOMEM (and sets oom). */
int rl_buf_reserve(rl_buf *b, size_t n);
void rl_buf_append(rl_buf *b, const void *p, size_t n);
static inline void rl_buf_putc(rl_buf *b, char c)
{
    if (b->len < b->cap)
        b->p[b->len++] = (uint8_t)c;
    else
        rl_buf_append(b, &c, 1);
}
void rl_buf_puts(rl_buf *b, const char *s);
void rl_buf_printf(rl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rl_buf_put_u64(rl_buf *b, uint64_t v);
void rl_buf_put_i64(rl_buf *b, int64_t v);
/* Big-endian writers (Kafka) and their in-place patchers at an absolute position. */
void rl_buf_put_be16(rl_buf *b, uint16_t v);
void rl_buf_put_be32(rl_buf *b, uint32_t v);
void rl_buf_put_be64(rl_buf *b, uint64_t v);
void rl_buf_patch_be32(rl_buf *b, size_t at, uint32_t v);
/* Kafka varints: unsigned LEB128 and zigzag. */
void rl_buf_put_uvarint(rl_buf *b, uint64_t v);
void rl_buf_put_varlong(rl_buf *b, int64_t v);
/* Returns the buffer's bytes as a slice (valid until the next append or free). */
static inline rl_slice rl_buf_slice(const rl_buf *b) { return rl_slice_make(b->p, b->len); }
/* NUL-terminates in place without counting the NUL in len; returns the text or NULL on OOM. */
const char *rl_buf_cstr(rl_buf *b);

/* JSON string literal with quotes. Valid UTF-8 is copied (control characters, quote and
 * backslash escaped); each byte of an invalid UTF-8 sequence is written as the code point of
 * the same value (\u00XX, the latin1 reading) so output is always valid JSON and no byte is
 * silently lost. */
void rl_buf_json_str(rl_buf *b, const void *p, size_t n);
/* Length (1-4) of the well-formed UTF-8 sequence at p (left >= 1 bytes available; RFC 3629
 * section 4: no overlong forms, no surrogates, nothing above U+10FFFF), 0 when p does not
 * start one. */
size_t rl_utf8_seq_len(const uint8_t *p, size_t left);
/* Standard base64 (RFC 4648 section 4, with padding) of n bytes, without quotes. */
void rl_buf_base64(rl_buf *b, const void *p, size_t n);

/* ---------------------------------------------------------------------------------------
 * Checksums, hashing.
 * ------------------------------------------------------------------------------------- */
/* CRC32C (Castagnoli, reflected, poly 0x82F63B78; RFC 3720 B.4), as RecordBatch v2 uses.
 * crc starts at 0; rl_crc32c(rl_crc32c(0, a, na), b, nb) is the CRC of a followed by b. Any
 * thread. Uses the CPU's CRC32C instruction when it has one (x86-64 SSE4.2, ARMv8 CRC32; about
 * 10x the table version), chosen once per process at the first call. */
uint32_t rl_crc32c(uint32_t crc, const void *p, size_t n);
/* CRC32 (ISO-HDLC, zlib's crc32), as binlog event checksums use. crc starts at 0. */
uint32_t rl_crc32(uint32_t crc, const void *p, size_t n);
/* Kafka's murmur2 (Utils.murmur2, seed 0x9747b28c) and its default partitioner
 * (murmur2(key) & 0x7fffffff) % n. n >= 1. */
uint32_t rl_murmur2(const void *p, size_t n);
static inline uint32_t rl_partition_for_key(const void *key, size_t n, uint32_t nparts)
{
    return (rl_murmur2(key, n) & 0x7fffffffu) % nparts;
}

/* ---------------------------------------------------------------------------------------
 * Clocks and logging.
 * ------------------------------------------------------------------------------------- */
int64_t rl_now_ms(void);   /* wall clock, ms since the Unix epoch */
int64_t rl_mono_ns(void);  /* monotonic clock, ns */

enum rl_log_level { RL_LOG_DEBUG = 0, RL_LOG_INFO = 1, RL_LOG_WARN = 2, RL_LOG_ERROR = 3 };
/* Sets the minimum level printed; call once before threads start. */
void rl_log_set_level(int level);
/* Writes one line "TIME LEVEL message" to stderr (one write call, so lines do not interleave). */
void rl_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rl_info(...) rl_logf(RL_LOG_INFO, __VA_ARGS__)
#define rl_warn(...) rl_logf(RL_LOG_WARN, __VA_ARGS__)
#define rl_error(...) rl_logf(RL_LOG_ERROR, __VA_ARGS__)
#define rl_debug(...) rl_logf(RL_LOG_DEBUG, __VA_ARGS__)

/* Durable file replace: writes data to PATH.tmp, fsyncs it, renames over PATH and fsyncs
 * the directory. Returns 0 or -errno (the old file is intact on failure). */
int rl_file_replace(const char *path, const void *data, size_t len, rl_err *err);
/* Reads a whole small file (at most max bytes) into buf. Returns 0, -ENOENT, -errno or
 * RL_ETOOBIG. */
int rl_file_read_all(const char *path, rl_buf *buf, size_t max, rl_err *err);
/* fsyncs a directory. Returns 0 or -errno. */
int rl_dir_fsync(const char *dir);

#endif /* RL_H */
