/*
 * rl.c - implementation of the common layer declared in rl.h.
 *
 * CRC32C follows RFC 3720 appendix B.4 (Castagnoli polynomial, reflected), computed with the
 * CPU's CRC32C instruction where it has one (SSE4.2, ARMv8 CRC) and slicing-by-8 otherwise
 * (see the checksums section); CRC32 (the binlog's, zlib's polynomial) is libdeflate's, which
 * uses carry-less multiplication where the CPU has it (about 10x zlib's speed: it dominated
 * decoding profiles). murmur2 is a transcription of Kafka's
 * org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c, m 0x5bd1e995, r 24).
 */

#include "rl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libdeflate.h>

/* ------------------------------------------------------------------ errors */

const char *rl_strerror(int code)
{
    switch (code) {
#define RL__TEXT(name, val, text)                                                              \
    case val:                                                                                  \
        return text;
        RL_ERRORS(RL__TEXT)
#undef RL__TEXT
    case 0:
        return "success";
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *rl_errname(int code)
{
    switch (code) {
#define RL__NAME(name, val, text)                                                              \
    case val:                                                                                  \
        return #name;
        RL_ERRORS(RL__NAME)
#undef RL__NAME
    case 0:
        return "OK";
    case -ENOENT:
        return "ENOENT";
    case -ENOMEM:
        return "ENOMEM";
    case -ENOSPC:
        return "ENOSPC";
    case -EIO:
        return "EIO";
    case -EINVAL:
        return "EINVAL";
    case -EEXIST:
        return "EEXIST";
    case -EACCES:
        return "EACCES";
    case -EAGAIN:
        return "EAGAIN";
    case -ECONNRESET:
        return "ECONNRESET";
    case -ETIMEDOUT:
        return "ETIMEDOUT";
    case -ECONNREFUSED:
        return "ECONNREFUSED";
    case -EBUSY:
        return "EBUSY";
    default:
        return "E?";
    }
}

int rl_err_set(rl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int rl_err_wrap(rl_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    char prefix[256];
    char old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (err->code == 0) {
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, rl_strerror(code));
        return code;
    }
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

_Noreturn void rl__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "rowlog: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

/* ------------------------------------------------------------------ buffers */

void rl_buf_free(rl_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

int rl_buf_reserve(rl_buf *b, size_t n)
{
    if (b->oom)
        return -ENOMEM;
    size_t need;
    if (__builtin_add_overflow(b->len, n, &need)) {
        b->oom = true;
        return -ENOMEM;
    }
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (__builtin_mul_overflow(cap, (size_t)2, &cap)) {
            cap = need;
            break;
        }
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return -ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void rl_buf_append(rl_buf *b, const void *p, size_t n)
{
    if (n == 0 || rl_buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void rl_buf_puts(rl_buf *b, const char *s) { rl_buf_append(b, s, strlen(s)); }

void rl_buf_printf(rl_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        rl_buf_append(b, small, (size_t)n);
        return;
    }
    if (rl_buf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Two digits per division ("00".."99"): half the divisions of one digit at a time. */
static const char rl_digits2[201] = "0001020304050607080910111213141516171819"
                                    "2021222324252627282930313233343536373839"
                                    "4041424344454647484950515253545556575859"
                                    "6061626364656667686970717273747576777879"
                                    "8081828384858687888990919293949596979899";

void rl_buf_put_u64(rl_buf *b, uint64_t v)
{
    char tmp[20];
    char *e = tmp + sizeof tmp, *p = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, rl_digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, rl_digits2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    rl_buf_append(b, p, (size_t)(e - p));
}

void rl_buf_put_i64(rl_buf *b, int64_t v)
{
    if (v < 0) {
        rl_buf_putc(b, '-');
        rl_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        rl_buf_put_u64(b, (uint64_t)v);
    }
}

void rl_buf_put_be16(rl_buf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    rl_buf_append(b, t, 2);
}

void rl_buf_put_be32(rl_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    rl_buf_append(b, t, 4);
}

void rl_buf_put_be64(rl_buf *b, uint64_t v)
{
    rl_buf_put_be32(b, (uint32_t)(v >> 32));
    rl_buf_put_be32(b, (uint32_t)v);
}

void rl_buf_patch_be32(rl_buf *b, size_t at, uint32_t v)
{
    if (b->oom)
        return;
    RL_ASSERT(at + 4 <= b->len);
    b->p[at] = (uint8_t)(v >> 24);
    b->p[at + 1] = (uint8_t)(v >> 16);
    b->p[at + 2] = (uint8_t)(v >> 8);
    b->p[at + 3] = (uint8_t)v;
}

void rl_buf_put_uvarint(rl_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    rl_buf_append(b, t, n);
}

void rl_buf_put_varlong(rl_buf *b, int64_t v)
{
    rl_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

const char *rl_buf_cstr(rl_buf *b)
{
    if (rl_buf_reserve(b, 1) != 0)
        return NULL;
    b->p[b->len] = 0;
    return (const char *)b->p;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid (overlongs, surrogates and
 * code points above U+10FFFF are invalid, as in RFC 3629). */
size_t rl_utf8_seq_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (left >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && p[1] < 0xA0)
            return 0;
        if (c == 0xED && p[1] >= 0xA0)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90)
            return 0;
        if (c == 0xF4 && p[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

void rl_buf_json_str(rl_buf *b, const void *vp, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = vp;
    if (rl_buf_reserve(b, n + 2) != 0)
        return;
    rl_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* Copy runs of plain ASCII in one append. */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            rl_buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rl_buf_append(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            switch (c) {
            case '\n':
                rl_buf_append(b, "\\n", 2);
                break;
            case '\r':
                rl_buf_append(b, "\\r", 2);
                break;
            case '\t':
                rl_buf_append(b, "\\t", 2);
                break;
            default:
                rl_buf_append(b, e, 6);
            }
            i++;
        } else {
            size_t sl = rl_utf8_seq_len(p + i, n - i);
            if (sl) {
                rl_buf_append(b, p + i, sl);
                i += sl;
            } else {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rl_buf_append(b, e, 6);
                i++;
            }
        }
    }
    rl_buf_putc(b, '"');
}

void rl_buf_base64(rl_buf *b, const void *vp, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = vp;
    size_t out = (n + 2) / 3 * 4;
    if (rl_buf_reserve(b, out) != 0)
        return;
    uint8_t *o = b->p + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = (uint8_t)tab[v >> 18];
        *o++ = (uint8_t)tab[(v >> 12) & 63];
        *o++ = (uint8_t)tab[(v >> 6) & 63];
        *o++ = (uint8_t)tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = (uint8_t)tab[v >> 18];
        *o++ = (uint8_t)tab[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = (uint8_t)tab[v >> 18];
        *o++ = (uint8_t)tab[(v >> 12) & 63];
        *o++ = (uint8_t)tab[(v >> 6) & 63];
        *o++ = '=';
    }
    b->len += out;
}

/* ------------------------------------------------------------------ checksums */

/*
 * CRC32C (Castagnoli, reflected, polynomial 0x82F63B78; RFC 3720 appendix B.4; Kafka's
 * RecordBatch v2 "crc" field, org.apache.kafka.common.utils.Crc32C). The implementations
 * give identical results; one is chosen once per process:
 *
 * - crc32c_sw: slicing-by-8 tables, any CPU (about 1-2 GB/s).
 * - crc32c_sse42 (x86-64 with SSE4.2): the crc32q instruction over 8-byte words. One
 *   instruction has a latency of 3 cycles but a throughput of one per cycle, so long buffers
 *   are cut into three streams of CRC32C_LONG (then CRC32C_SHORT) bytes run side by side, and
 *   the three partial CRCs are joined with the "shift by zeros" operator below (the method of
 *   Mark Adler's crc32c.c, zlib's crc32_combine with precomputed tables; no PCLMULQDQ).
 * - crc32c_armv8 (aarch64 built with the CRC32 extension): crc32cx, one stream.
 *
 * Joining streams: work on the raw register (the CRC without its initial and final
 * inversion). Feeding bytes B into register r is linear over GF(2):
 *     reg(r, B) = reg(r, zeros(|B|)) ^ reg(0, B),
 * and reg(r, zeros(n)) is r times x^(8n) modulo P, a linear map of the 32 bits of r, so it is
 * the xor of four table lookups, one per byte of r (crc32c_shift). The tables for n =
 * CRC32C_LONG and CRC32C_SHORT are computed once (crc32c_zeros_table).
 *
 * Dispatch: rl_crc32c calls pthread_once, which builds the tables and sets crc32c_impl from
 * __builtin_cpu_supports("sse4.2") (on aarch64, from how the build was targeted). These are
 * written once, before any caller returns from pthread_once (which orders the writes before
 * every later read), and never again: the accepted exception to STYLE rule 21 (no global
 * mutable state), as they are a constant of the machine that is merely computed at run time.
 */

#define CRC32C_POLY 0x82F63B78u
#define CRC32C_LONG 8192 /* bytes per stream, long blocks (3 x 8 KiB = 24 KiB per step) */
#define CRC32C_SHORT 256 /* bytes per stream, short blocks (3 x 256 = 768 bytes per step) */

typedef uint32_t (*crc32c_fn)(uint32_t crc, const void *p, size_t n);

static uint32_t crc32c_table[8][256];
static uint32_t crc32c_long_shift[4][256];
static uint32_t crc32c_short_shift[4][256];
static crc32c_fn crc32c_impl;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

/* a(x) * b(x) modulo P, both reflected (bit 31 is x^0), as zlib's multmodp. */
static uint32_t crc32c_multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = (uint32_t)1 << 31, prod = 0;
    for (;;) {
        if (a & m) {
            prod ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return prod;
}

/* x^(8n) modulo P (reflected): the operator that feeds n zero bytes into a raw register. */
static uint32_t crc32c_x8nmodp(size_t n)
{
    uint32_t sq = (uint32_t)1 << 30; /* x^1, then x^2, x^4, ... by squaring */
    uint32_t prod = (uint32_t)1 << 31; /* x^0 */
    for (size_t e = 8 * n; e; e >>= 1) {
        if (e & 1)
            prod = crc32c_multmodp(sq, prod);
        sq = crc32c_multmodp(sq, sq);
    }
    return prod;
}

/* tab[k][i] = (i << 8k) fed n zero bytes; crc32c_shift then applies the operator to any r. */
static void crc32c_zeros_table(uint32_t tab[4][256], size_t n)
{
    uint32_t op = crc32c_x8nmodp(n);
    for (int k = 0; k < 4; k++)
        for (uint32_t i = 0; i < 256; i++)
            tab[k][i] = crc32c_multmodp(op, i << (8 * k));
}

/* (Unused, like crc32c_load64, when no hardware path is compiled in.) */
__attribute__((unused)) static inline uint32_t crc32c_shift(const uint32_t tab[4][256],
                                                            uint32_t r)
{
    return tab[0][r & 0xff] ^ tab[1][(r >> 8) & 0xff] ^ tab[2][(r >> 16) & 0xff] ^
           tab[3][r >> 24];
}

__attribute__((unused)) static inline uint64_t crc32c_load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8); /* unaligned-safe; one mov on x86-64 and aarch64 */
    return w;
}

/* Any CPU. The words are read as little-endian byte by byte, so this is also right on
 * big-endian machines. */
static uint32_t crc32c_sw(uint32_t crc, const void *vp, size_t n)
{
    const uint8_t *p = vp;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
              crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
              crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
              crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_SSE42 1
#include <nmmintrin.h>

/* x86-64 with SSE4.2 only (the caller checked the CPU); compiled for SSE4.2 by the function
 * attribute alone, so the rest of the build keeps the baseline instruction set. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *vp,
                                                                size_t n)
{
    const uint8_t *p = vp;
    uint64_t c0 = (uint32_t)~crc;
    /* Align to 8 bytes so the word loads never straddle a cache line. */
    while (n && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    while (n >= 3 * CRC32C_LONG) {
        uint64_t c1 = 0, c2 = 0;
        for (const uint8_t *end = p + CRC32C_LONG; p < end; p += 8) {
            c0 = _mm_crc32_u64(c0, crc32c_load64(p));
            c1 = _mm_crc32_u64(c1, crc32c_load64(p + CRC32C_LONG));
            c2 = _mm_crc32_u64(c2, crc32c_load64(p + 2 * CRC32C_LONG));
        }
        c0 = crc32c_shift(crc32c_long_shift, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = crc32c_shift(crc32c_long_shift, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * CRC32C_LONG;
        n -= 3 * CRC32C_LONG;
    }
    while (n >= 3 * CRC32C_SHORT) {
        uint64_t c1 = 0, c2 = 0;
        for (const uint8_t *end = p + CRC32C_SHORT; p < end; p += 8) {
            c0 = _mm_crc32_u64(c0, crc32c_load64(p));
            c1 = _mm_crc32_u64(c1, crc32c_load64(p + CRC32C_SHORT));
            c2 = _mm_crc32_u64(c2, crc32c_load64(p + 2 * CRC32C_SHORT));
        }
        c0 = crc32c_shift(crc32c_short_shift, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = crc32c_shift(crc32c_short_shift, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * CRC32C_SHORT;
        n -= 3 * CRC32C_SHORT;
    }
    for (; n >= 8; p += 8, n -= 8)
        c0 = _mm_crc32_u64(c0, crc32c_load64(p));
    while (n--)
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}
#endif

#if defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#define CRC32C_HAVE_ARMV8 1
#include <arm_acle.h>

/* aarch64 built for a CPU with the CRC32 extension (-march=armv8-a+crc, or armv8.1-a and
 * later where it is mandatory): the instruction is then always there, so no run-time check.
 * One stream. Compile-checked with clang --target=aarch64-linux-gnu, not run on the x86-64 CI. */
static uint32_t crc32c_armv8(uint32_t crc, const void *vp, size_t n)
{
    const uint8_t *p = vp;
    crc = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        crc = __crc32cb(crc, *p++);
        n--;
    }
    for (; n >= 8; p += 8, n -= 8)
        crc = __crc32cd(crc, crc32c_load64(p));
    while (n--)
        crc = __crc32cb(crc, *p++);
    return ~crc;
}
#endif

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc32c_table[t][i] =
                (crc32c_table[t - 1][i] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
    crc32c_zeros_table(crc32c_long_shift, CRC32C_LONG);
    crc32c_zeros_table(crc32c_short_shift, CRC32C_SHORT);
    crc32c_impl = crc32c_sw;
#ifdef CRC32C_HAVE_SSE42
    __builtin_cpu_init(); /* needed when called before constructors have run */
    if (__builtin_cpu_supports("sse4.2"))
        crc32c_impl = crc32c_sse42;
#endif
#ifdef CRC32C_HAVE_ARMV8
    crc32c_impl = crc32c_armv8;
#endif
}

uint32_t rl_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_init);
    return crc32c_impl(crc, p, n);
}

uint32_t rl_crc32(uint32_t crc, const void *vp, size_t n)
{
    /* No software prefetch here: binlog files are read into a small buffer that is still in
     * the cache (binlog_file_next_transient) and packets come fresh from the socket; a
     * prefetch of the next 1 KiB per call cost 3.5 % of the instructions of check-only
     * decoding and gained nothing measurable (bench/RESULTS.md section 1). */
    return libdeflate_crc32(crc, vp, n);
}

uint32_t rl_murmur2(const void *vp, size_t n)
{
    const uint8_t *data = vp;
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    uint32_t h = 0x9747b28cu ^ (uint32_t)n;
    size_t len4 = n / 4;
    for (size_t i = 0; i < len4; i++) {
        size_t i4 = i * 4;
        uint32_t k = (uint32_t)data[i4] | (uint32_t)data[i4 + 1] << 8 |
                     (uint32_t)data[i4 + 2] << 16 | (uint32_t)data[i4 + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (n % 4) {
    case 3:
        h ^= (uint32_t)data[(n & ~(size_t)3) + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[(n & ~(size_t)3) + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[n & ~(size_t)3];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/* ------------------------------------------------------------------ clocks, logging */

int64_t rl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int rl_log_level = RL_LOG_INFO;

void rl_log_set_level(int level) { rl_log_level = level; }

void rl_logf(int level, const char *fmt, ...)
{
    if (level < rl_log_level)
        return;
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

/* ------------------------------------------------------------------ files */

int rl_dir_fsync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int rl_file_replace(const char *path, const void *data, size_t len, rl_err *err)
{
    char tmp[PATH_MAX];
    char dir[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rl_err_set(err, -errno, "%s: open: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return rl_err_set(err, -e, "%s: write: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return rl_err_set(err, -e, "%s: fsync: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rl_err_set(err, -e, "%s: rename: %s", path, strerror(e));
    }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int rc = rl_dir_fsync(dir);
    if (rc != 0)
        return rl_err_set(err, rc, "%s: fsync: %s", dir, strerror(-rc));
    return 0;
}

int rl_file_read_all(const char *path, rl_buf *buf, size_t max, rl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return rl_err_set(err, -e, "%s: open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rl_err_set(err, -e, "%s: stat: %s", path, strerror(e));
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return rl_err_set(err, RL_ETOOBIG, "%s: %lld bytes, above the limit of %zu", path,
                          (long long)st.st_size, max);
    }
    rl_buf_reset(buf);
    if (rl_buf_reserve(buf, (size_t)st.st_size + 1) != 0) {
        close(fd);
        return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (buf->len == buf->cap && rl_buf_reserve(buf, 4096) != 0) {
            close(fd);
            return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
        }
        ssize_t r = read(fd, buf->p + buf->len, buf->cap - buf->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return rl_err_set(err, -e, "%s: read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        buf->len += (size_t)r;
        if (buf->len > max) {
            close(fd);
            return rl_err_set(err, RL_ETOOBIG, "%s: above the limit of %zu bytes", path, max);
        }
    }
    close(fd);
    return 0;
}
