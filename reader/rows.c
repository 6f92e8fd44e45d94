/*
 * rows.c - rows events (WRITE/UPDATE/DELETE_ROWS v1 23-25, v2 30-32, MySQL's
 * PARTIAL_UPDATE_ROWS 39) and the decoding of column values into the JSON change envelope
 * (docs/events.md). MySQL binary JSON is in json_binary.c, character sets in charset.c.
 *
 * Sources: mysql-server libs/mysql/binlog/event/rows_event.h (Rows_event), sql/log_event.cc
 * (log_event_print_value: the stored form of every type), strings/decimal.c (bin2decimal),
 * sql-common/my_time.c (my_time_packed_from_binary, TIME_from_longlong_datetime_packed,
 * my_timestamp_from_binary); MariaDB sql/log_event_client.cc. Mirrored in
 * docs/format-binlog.md. Integers little-endian unless noted.
 *
 * Post-header (v1: 8 bytes, 6 with a 4-byte table id; v2: 10 bytes)
 *   0   6    table_id
 *   6   2    flags (0x0001 STMT_END: the statement's table maps are released)
 *   8   2    v2 only: extra_len, counting itself; extra_len - 2 bytes of extra data follow
 * Body
 *   width packed (= the TABLE_MAP's column count)
 *   columns_present[(width + 7) / 8]            bit i (LSB first) = column i is in the image
 *   UPDATE only: columns_present_after[(width + 7) / 8]
 *   rows to the end of the event: WRITE after image; DELETE before image; UPDATE before
 *   then after image. PARTIAL_UPDATE_ROWS (an UPDATE, v2 layout): its after images start with
 *   value_options packed (bit 0 PARTIAL_JSON_UPDATES) and, when that bit is set, partial bits
 *   ((JSON columns of the table + 7) / 8 bytes, one bit per JSON column present in the image,
 *   LSB first); a JSON column whose bit is set holds JSON diffs (json_binary.c) to apply to
 *   the before image's document (sql/rpl_record.cc pack_row/unpack_row, WL#2955).
 *   Each image: null bitmap over the present columns ((n + 7) / 8 bytes),
 *   then the values of the present, non-NULL columns in column order.
 *
 * Stored values
 *   TINY/SHORT/INT24/LONG/LONGLONG   1/2/3/4/8 bytes, two's complement
 *   FLOAT / DOUBLE                   4 / 8 bytes IEEE 754
 *   NEWDECIMAL(p,s)                  big-endian groups of 9 digits in 4 bytes, leading and
 *                                    trailing partial groups in dig2bytes[n] bytes; the first
 *                                    bit is the sign (1 = positive), negative values have all
 *                                    bits inverted
 *   DATE                             3 bytes: day 5 bits, month 4 bits, year 15 bits
 *   YEAR                             1 byte: 0, or year - 1900
 *   TIME2(fsp)                       3 bytes big-endian, value - 0x800000 (sign, hour 10 bits,
 *                                    minute 6, second 6) + (fsp + 1) / 2 bytes of fraction
 *   DATETIME2(fsp)                   5 bytes big-endian, value - 0x8000000000: year*13+month
 *                                    17 bits, day 5, hour 5, minute 6, second 6 + fraction
 *   TIMESTAMP2(fsp)                  4 bytes big-endian seconds (UTC) + fraction
 *   fraction                         fsp 1-2: 1 byte (1/100 s), 3-4: 2 bytes BE (1/10000 s),
 *                                    5-6: 3 bytes BE (microseconds)
 *   TIME / DATETIME / TIMESTAMP      old formats: 3 bytes HHMMSS (signed), 8 bytes
 *                                    YYYYMMDDhhmmss, 4 bytes seconds
 *   VARCHAR / VAR_STRING             length u8 (max length < 256) or u16, bytes
 *   STRING (CHAR/BINARY)             length u8 (declared length < 256) or u16, bytes; trailing
 *                                    pad characters (space, or 0x00 for binary) stripped
 *   BLOB/TEXT/GEOMETRY/JSON/VECTOR   length in 1-4 bytes (metadata), bytes; JSON: MySQL
 *                                    binary JSON; VECTOR: float32 elements, little-endian
 *   BIT(n)                           (n + 7) / 8 bytes, big-endian
 *   ENUM / SET                       1-2 / 1-8 bytes: index (1-based, 0 = '') / bitmask
 */
#include "reader/rows_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static inline bool bit_at(const uint8_t *bm, size_t i)
{
    return (bm[i >> 3] >> (i & 7)) & 1u;
}

/* rows.c's per-decoder state (dec->rows_state), created at first use, freed by
 * binlog__rows_free. */
struct binlog_rows_state {
    rl_buf jtext; /* BINLOG_COL_JSON_TEXT: the value's text converted to UTF-8 */
    rl_buf jstr;  /* BINLOG_COL_JSON_TEXT: its JSON string in another character set */
    bool check_only;       /* binlog__rows_set_check_only: validate rows, render nothing */
    uint64_t rows_checked; /* rows walked while check_only */
};

static struct binlog_rows_state *rows_state_get(binlog_decoder_t *dec)
{
    if (!dec->rows_state)
        dec->rows_state = calloc(1, sizeof *dec->rows_state);
    return dec->rows_state;
}

static const uint32_t pow10u[10] = {1,      10,      100,      1000,      10000,
                                    100000, 1000000, 10000000, 100000000, 1000000000};

/* ------------------------------------------------------------------ text */

/* cp1252 code points of 0x80-0x9F; MySQL's latin1 maps the five holes to U+0081 etc.
 * (strings/ctype-latin1.c cs_to_uni). */
static const uint16_t cp1252_hi[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* rl_buf_reserve with the common case (room enough, no earlier failure) inline: the hot
 * paths reserve once per column and per string. */
static inline int buf_reserve(rl_buf *b, size_t n)
{
    if (!b->oom && b->cap - b->len >= n)
        return 0;
    return rl_buf_reserve(b, n);
}

void binlog__json_latin1(rl_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n > (SIZE_MAX - 2) / 6 || buf_reserve(b, n * 6 + 2) != 0) {
        b->oom = true;
        return;
    }
    uint8_t *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        /* Printable ASCII other than " and \ (most text) first, with one range test. */
        if ((unsigned)(c - 0x20) < 0x60u && c != '"' && c != '\\') {
            *o++ = c;
        } else if (c >= 0x80) {
            uint32_t cp = c < 0xA0 ? cp1252_hi[c - 0x80] : c;
            if (cp < 0x800) {
                *o++ = (uint8_t)(0xC0 | (cp >> 6));
                *o++ = (uint8_t)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (uint8_t)(0xE0 | (cp >> 12));
                *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (uint8_t)(0x80 | (cp & 0x3F));
            }
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = (uint8_t)hex[c >> 4];
            o[5] = (uint8_t)hex[c & 15];
            o += 6;
        } else {
            *o++ = c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

static void put_base64(rl_buf *b, const uint8_t *p, size_t n)
{
    rl_buf_putc(b, '"');
    rl_buf_base64(b, p, n);
    rl_buf_putc(b, '"');
}

typedef struct value_ctx value_ctx;
struct value_ctx {
    const binlog_table *t;
    uint32_t ci;
    rl_err *err;
    binlog_decoder_t *dec;
    /* PARTIAL_UPDATE_ROWS: before image, keep each JSON column's binary document (jbefore);
     * after image, the partial bits of its JSON columns (one per JSON column present). */
    bool keep_json;
    rl_slice partial_bits;
    uint32_t json_seen;
};
static int verr(const value_ctx *v, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Text in the column's character set: binary as base64, utf8mb3/utf8mb4 (or no charset
 * metadata) copied, latin1 as cp1252, others converted by iconv (charset.c); a collation id
 * no server defines stops the stream. */
static int put_text_str(const value_ctx *v, rl_buf *b, const binlog_col *c, const uint8_t *p,
                        size_t n)
{
    if (c->flags & BINLOG_COL_BINARY) {
        put_base64(b, p, n);
        return 0;
    }
    if (c->flags & BINLOG_COL_LATIN1) {
        binlog__json_latin1(b, p, n);
        return 0;
    }
    int cs = (c->flags & BINLOG_COL_CHARSET) ? binlog__charset_of(c->charset) : BINLOG_CS_UTF8;
    if (cs == BINLOG_CS_UTF8) {
        rl_buf_json_str(b, p, n);
        return 0;
    }
    if (cs == BINLOG_CS_UNKNOWN)
        return verr(v, RL_EUNSUPPORTED, "unknown collation id %u", c->charset);
    return binlog__put_charset_text(v->dec, b, cs, p, n);
}

/* ------------------------------------------------------------------ JSON text columns */

/* Deeper documents stay strings (bounded recursion); the same limit as binary JSON. */
enum { JTEXT_MAX_DEPTH = BINLOG_JSON_MAX_DEPTH };

typedef struct jtext {
    const uint8_t *p, *end;
    uint8_t *o; /* output cursor: room for the whole input was reserved */
    bool bad;
} jtext;

static void jt_ws(jtext *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jt_hex4(jtext *j)
{
    if (j->end - j->p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = j->p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* A string (j->p at its opening quote), copied as it is. Escapes per RFC 8259 section 7; a
 * \u escape of a surrogate must be a high one followed by a \u low one; other bytes are
 * well-formed UTF-8 of U+0020 and up. */
static void jt_string(jtext *j)
{
    const uint8_t *s = j->p++;
    while (!j->bad) {
        if (j->p >= j->end) {
            j->bad = true;
            break;
        }
        uint8_t c = *j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c == '\\') {
            if (j->end - j->p < 2) {
                j->bad = true;
                break;
            }
            uint8_t e = j->p[1];
            j->p += 2;
            if (e == 'u') {
                int cp = jt_hex4(j);
                if (cp < 0) {
                    j->bad = true;
                    break;
                }
                j->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    j->bad = true;
                } else if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo = -1;
                    if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                        j->p += 2;
                        lo = jt_hex4(j);
                        j->p += 4;
                    }
                    j->bad = lo < 0xDC00 || lo > 0xDFFF;
                }
            } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                         e == 'r' || e == 't')) {
                j->bad = true;
            }
            continue;
        }
        if (c < 0x20) {
            j->bad = true;
            break;
        }
        size_t sl = c < 0x80 ? 1 : rl_utf8_seq_len(j->p, (size_t)(j->end - j->p));
        if (sl == 0) {
            j->bad = true;
            break;
        }
        j->p += sl;
    }
    if (!j->bad) {
        memcpy(j->o, s, (size_t)(j->p - s));
        j->o += j->p - s;
    }
}

/* number = [ minus ] int [ frac ] [ exp ] (RFC 8259 section 6), copied as spelled. */
static void jt_number(jtext *j)
{
    const uint8_t *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0') {
        j->p++;
    } else if (j->p < j->end && *j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    } else {
        j->bad = true;
        return;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        const uint8_t *d = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == d) {
            j->bad = true;
            return;
        }
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        const uint8_t *d = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == d) {
            j->bad = true;
            return;
        }
    }
    memcpy(j->o, s, (size_t)(j->p - s));
    j->o += j->p - s;
}

static void jt_value(jtext *j, unsigned depth)
{
    jt_ws(j);
    if (j->p >= j->end) {
        j->bad = true;
        return;
    }
    uint8_t c = *j->p;
    if (c == '{' || c == '[') {
        if (depth >= JTEXT_MAX_DEPTH) { /* depth = containers around this one */
            j->bad = true;
            return;
        }
        uint8_t close = c == '{' ? '}' : ']';
        *j->o++ = c;
        j->p++;
        jt_ws(j);
        if (j->p < j->end && *j->p == close) {
            *j->o++ = close;
            j->p++;
            return;
        }
        for (;;) {
            if (c == '{') {
                jt_ws(j);
                if (j->p >= j->end || *j->p != '"') {
                    j->bad = true;
                    return;
                }
                jt_string(j);
                jt_ws(j);
                if (j->bad || j->p >= j->end || *j->p != ':') {
                    j->bad = true;
                    return;
                }
                *j->o++ = ':';
                j->p++;
            }
            jt_value(j, depth + 1);
            jt_ws(j);
            if (j->bad || j->p >= j->end) {
                j->bad = true;
                return;
            }
            if (*j->p == close) {
                *j->o++ = close;
                j->p++;
                return;
            }
            if (*j->p != ',') {
                j->bad = true;
                return;
            }
            *j->o++ = ',';
            j->p++;
        }
    }
    if (c == '"') {
        jt_string(j);
        return;
    }
    static const char *const lits[3] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t ln = strlen(lits[i]);
        if ((size_t)(j->end - j->p) >= ln && memcmp(j->p, lits[i], ln) == 0) {
            memcpy(j->o, lits[i], ln);
            j->o += ln;
            j->p += ln;
            return;
        }
    }
    jt_number(j);
}

/* Appends u[0..n) as JSON without the whitespace between tokens (RFC 8259 section 2: space,
 * tab, LF, CR; strings and numbers as spelled) when it is exactly one JSON text (RFC 8259:
 * any value at the top level), and returns true; returns false and appends nothing
 * otherwise (also on out of memory, which sticks in b). */
static bool put_json_minified(rl_buf *b, const uint8_t *u, size_t n)
{
    if (rl_buf_reserve(b, n) != 0)
        return false;
    jtext j = {u, u + n, b->p + b->len, false};
    jt_value(&j, 0);
    jt_ws(&j);
    if (j.bad || j.p != j.end)
        return false;
    b->len = (size_t)(j.o - b->p);
    return true;
}

/* Reads back a JSON string our own writers made (rl_buf_json_str, binlog__json_latin1:
 * escapes \" \\ \n \r \t \u00XX only) as its UTF-8 text into out. False when s is not one. */
static bool unquote_own(rl_buf *out, const uint8_t *s, size_t n)
{
    rl_buf_reset(out);
    if (n < 2 || s[0] != '"' || s[n - 1] != '"' || rl_buf_reserve(out, n * 2) != 0)
        return false;
    uint8_t *o = out->p;
    for (size_t i = 1; i + 1 < n; i++) {
        uint8_t c = s[i];
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        if (i + 2 >= n)
            return false;
        uint8_t e = s[++i];
        if (e == 'n' || e == 'r' || e == 't')
            *o++ = e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
        else if (e == '"' || e == '\\')
            *o++ = e;
        else if (e == 'u' && i + 5 < n) {
            jtext h = {s + i + 1, s + n, NULL, false};
            int cp = jt_hex4(&h);
            if (cp < 0 || cp >= 0x100)
                return false;
            if (cp < 0x80) {
                *o++ = (uint8_t)cp;
            } else {
                *o++ = (uint8_t)(0xC0 | (cp >> 6));
                *o++ = (uint8_t)(0x80 | (cp & 0x3F));
            }
            i += 4;
        } else {
            return false;
        }
    }
    out->len = (size_t)(o - out->p);
    return true;
}

/* put_json_minified, except that the document null is written as the string "null" (as for
 * MySQL's JSON), so that it stays apart from SQL NULL (null). */
static bool put_json_doc(rl_buf *b, const uint8_t *p, size_t n)
{
    size_t start = b->len;
    if (!put_json_minified(b, p, n))
        return false;
    if (b->len - start == 4 && memcmp(b->p + start, "null", 4) == 0) {
        b->len = start;
        rl_buf_append(b, "\"null\"", 6);
    }
    return true;
}

/* A text column the schema declares JSON (BINLOG_COL_JSON_TEXT; MariaDB's JSON type is
 * LONGTEXT CHECK (json_valid(c))): the text, converted to UTF-8 as put_text_str does, becomes
 * the JSON value itself when it is one JSON text, with the whitespace between tokens removed
 * so a change stays on one line; otherwise (not JSON, bytes that do not convert) it is the
 * JSON string put_text_str writes, so nothing is lost.
 * The check is our own strict RFC 8259 validator (put_json_minified; copying while it checks,
 * without building a tree or allocating): any top-level value, numbers of any length as
 * spelled, well-formed UTF-8 only, surrogate escapes only as pairs, nesting up to
 * BINLOG_JSON_MAX_DEPTH (100, MySQL's limit) levels (deeper documents stay strings). jansson's json_loadb was the other candidate; it refuses
 * \u0000 in object keys and numbers beyond the double range, which JSON and MariaDB allow,
 * and builds a tree per value. Returns 0, -ENOMEM, or put_text_str's errors. */
static int put_json_text(const value_ctx *v, rl_buf *b, const binlog_col *c, const uint8_t *p,
                         size_t n)
{
    int cs = (c->flags & BINLOG_COL_CHARSET) ? binlog__charset_of(c->charset) : BINLOG_CS_UTF8;
    if (cs == BINLOG_CS_UTF8 && !(c->flags & BINLOG_COL_LATIN1)) {
        if (put_json_doc(b, p, n))
            return rl_buf_ok(b) ? 0 : -ENOMEM;
        if (!rl_buf_ok(b))
            return -ENOMEM;
        return put_text_str(v, b, c, p, n);
    }
    /* Another character set: its JSON string read back gives the UTF-8 text; the
     * {"_bytes_base64"...} object of bytes that do not convert stays as it is. */
    struct binlog_rows_state *st = rows_state_get(v->dec);
    if (!st)
        return -ENOMEM;
    rl_buf_reset(&st->jstr);
    int rc = put_text_str(v, &st->jstr, c, p, n);
    if (rc < 0)
        return rc;
    if (!rl_buf_ok(&st->jstr))
        return -ENOMEM;
    if (!unquote_own(&st->jtext, st->jstr.p, st->jstr.len) ||
        !put_json_doc(b, st->jtext.p, st->jtext.len))
        rl_buf_append(b, st->jstr.p, st->jstr.len);
    return rl_buf_ok(b) && rl_buf_ok(&st->jtext) ? 0 : -ENOMEM;
}

int binlog__put_json_from_str(rl_buf *b, rl_buf *scratch, const uint8_t *jstr, size_t n)
{
    if (!unquote_own(scratch, jstr, n) || !put_json_doc(b, scratch->p, scratch->len))
        rl_buf_append(b, jstr, n);
    return rl_buf_ok(b) && rl_buf_ok(scratch) ? 0 : -ENOMEM;
}

static int put_text(const value_ctx *v, rl_buf *b, const binlog_col *c, const uint8_t *p, size_t n)
{
    if ((c->flags & BINLOG_COL_JSON_TEXT) && !(c->flags & BINLOG_COL_BINARY))
        return put_json_text(v, b, c, p, n);
    return put_text_str(v, b, c, p, n);
}

/* TIME2 (MySQL 5.6.4+ TIME(fsp); mysql-server mysys/my_time.cc
 * my_time_packed_from_binary): 3 bytes of sign-biased hh:mm:ss then 0-3 fraction bytes, all
 * big-endian, fsp 5-6 read as one 6-byte packed value. One reader for rendering and the
 * check-only walk. Short input sets rd->err (fields then undefined). */
typedef struct time2 {
    bool neg, ok; /* ok: every field in range */
    unsigned h, mi, s;
    uint32_t usec;
} time2;

static void get_time2(rl_reader *rd, unsigned fsp, time2 *t)
{
    int64_t packed;
    if (fsp >= 5) {
        packed = (int64_t)rl_get_uNbe(rd, 6) - 0x800000000000LL;
    } else {
        int64_t ip = (int64_t)rl_get_uNbe(rd, 3) - 0x800000;
        int64_t frac = 0;
        if (fsp >= 3) {
            frac = (int64_t)rl_get_uNbe(rd, 2);
            if (ip < 0 && frac) {
                ip++;
                frac -= 0x10000;
            }
            frac *= 100;
        } else if (fsp >= 1) {
            frac = rl_get_u8(rd);
            if (ip < 0 && frac) {
                ip++;
                frac -= 0x100;
            }
            frac *= 10000;
        }
        packed = ip * (1LL << 24) + frac;
    }
    t->neg = packed < 0;
    uint64_t a = t->neg ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
    uint64_t hms = a >> 24;
    t->usec = (uint32_t)(a & 0xFFFFFF);
    t->h = (unsigned)((hms >> 12) & 0x3FF);
    t->mi = (unsigned)((hms >> 6) & 63);
    t->s = (unsigned)(hms & 63);
    t->ok = !(t->usec > 999999 || t->mi > 59 || t->s > 59 || t->h > 838 || (hms >> 22) != 0);
}

/* ------------------------------------------------------------------ numbers */

/* Every fixed-size value (numbers, dates, DECIMAL) is at most this many bytes of JSON;
 * decode_image reserves it per column so these writers append without capacity checks. */
enum { VALUE_RESERVE = 96 };

static inline void raw_append(rl_buf *b, const void *p, size_t n)
{
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Integers are written two digits per division (binlog__raw_u64, rows_int.h). */
const char binlog__digits2[201] = "0001020304050607080910111213141516171819"
                                  "2021222324252627282930313233343536373839"
                                  "4041424344454647484950515253545556575859"
                                  "6061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";
static inline void raw_i64(rl_buf *b, int64_t v)
{
    if (v < 0) {
        b->p[b->len++] = '-';
        binlog__raw_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        binlog__raw_u64(b, (uint64_t)v);
    }
}

/* Shortest decimal that reads back as the same float. A normal float that some decimal of at
 * most FLT_DIG (6) digits names is printed as that decimal by %.6g (trailing zeros dropped),
 * so the first of 6..9 digits that round-trips is the shortest; subnormals have less
 * precision and search from 1 digit. */
static void put_float(rl_buf *b, float f)
{
    char tmp[48];
    int prec = (f != 0 && fabsf(f) < FLT_MIN) ? 1 : 6;
    int n = 0;
    for (; prec <= 9; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
        if (strtof(tmp, NULL) == f)
            break;
    }
    raw_append(b, tmp, (size_t)n);
}

void binlog__put_float(rl_buf *b, float f)
{
    if (rl_buf_reserve(b, 48) == 0)
        put_float(b, f);
}

static const double pow10d[20] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};

/* Same for doubles with DBL_DIG (15) .. 17 digits. Fast path for 1e-4 <= |d| < 1e15, where
 * %.15g writes fixed notation: the fewest fractional digits k with an integer m < 2^50 such
 * that m / 10^k == d. Both operands are exact and IEEE division rounds correctly, as strtod
 * does, so "m.10^-k" reads back as d; below 2^50 the rounded product d*10^k finds m whenever
 * one exists, so the first k is the shortest. Output is what %.15g would print. */
static void put_double(rl_buf *b, double d)
{
    double a = fabs(d);
    if (a >= 1e-4 && a < 1e15) {
        for (int k = 0; k < 20; k++) {
            double sc = a * pow10d[k];
            if (sc >= 1125899906842624.0) /* 2^50 */
                break;
            double m = (double)(int64_t)(sc + 0.5);
            if (m / pow10d[k] != a)
                continue;
            char dig[24];
            int n = 0;
            uint64_t mi = (uint64_t)m;
            do {
                dig[n++] = (char)('0' + mi % 10);
                mi /= 10;
            } while (mi);
            uint8_t *o = b->p + b->len;
            if (d < 0)
                *o++ = '-';
            if (n <= k) {
                *o++ = '0';
                *o++ = '.';
                for (int z = n; z < k; z++)
                    *o++ = '0';
                while (n)
                    *o++ = (uint8_t)dig[--n];
            } else {
                while (n > k)
                    *o++ = (uint8_t)dig[--n];
                if (k) {
                    *o++ = '.';
                    while (n)
                        *o++ = (uint8_t)dig[--n];
                }
            }
            b->len = (size_t)(o - b->p);
            return;
        }
    }
    char tmp[48];
    int prec = (d != 0 && a < DBL_MIN) ? 1 : 15;
    int n = 0;
    for (; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    raw_append(b, tmp, (size_t)n);
}

void binlog__put_double(rl_buf *b, double d)
{
    if (rl_buf_reserve(b, 48) == 0)
        put_double(b, d);
}

static char *put_digits(char *o, uint32_t v, unsigned width)
{
    unsigned i = width;
    for (; i >= 2; i -= 2) { /* two digits per division (binlog__digits2) */
        memcpy(o + i - 2, binlog__digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (i)
        o[0] = (char)('0' + v % 10);
    return o + width;
}

static void put_quoted(rl_buf *b, const char *s, char *end)
{
    size_t n = (size_t)(end - s);
    b->p[b->len] = '"';
    memcpy(b->p + b->len + 1, s, n);
    b->p[b->len + 1 + n] = '"';
    b->len += n + 2;
}

const uint8_t binlog__dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

static uint32_t be_n(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int binlog__decimal_text(char *out, const uint8_t *src, unsigned prec, unsigned scale, size_t size)
{
    uint8_t d[40];
    char txt[160];
    if (size > sizeof d)
        return -1;
    unsigned intg = prec - scale, intg0 = intg / 9, intg0x = intg % 9;
    unsigned frac0 = scale / 9, frac0x = scale % 9;
    memcpy(d, src, size);
    bool neg = !(d[0] & 0x80);
    d[0] ^= 0x80;
    if (neg)
        for (size_t i = 0; i < size; i++)
            d[i] = (uint8_t)~d[i];
    char *o = txt + 1; /* txt[0] is kept for the sign */
    const uint8_t *p = d;
    if (intg0x) {
        uint32_t v = be_n(p, binlog__dig2bytes[intg0x]);
        p += binlog__dig2bytes[intg0x];
        if (v >= pow10u[intg0x])
            return -1;
        o = put_digits(o, v, intg0x);
    }
    for (unsigned i = 0; i < intg0; i++, p += 4) {
        uint32_t v = be_n(p, 4);
        if (v >= pow10u[9])
            return -1;
        o = put_digits(o, v, 9);
    }
    /* Strip the integer part's leading zeros, keeping one digit. */
    char *ip = txt + 1;
    while (ip < o - 1 && *ip == '0')
        ip++;
    bool zero = true;
    for (char *q = ip; q < o; q++)
        if (*q != '0')
            zero = false;
    if (ip == o) { /* DECIMAL(s,s): no integer digits */
        *o++ = '0';
    }
    if (scale) {
        *o++ = '.';
        for (unsigned i = 0; i < frac0; i++, p += 4) {
            uint32_t v = be_n(p, 4);
            if (v >= pow10u[9])
                return -1;
            if (v)
                zero = false;
            o = put_digits(o, v, 9);
        }
        if (frac0x) {
            uint32_t v = be_n(p, binlog__dig2bytes[frac0x]);
            if (v >= pow10u[frac0x])
                return -1;
            if (v)
                zero = false;
            o = put_digits(o, v, frac0x);
        }
    }
    /* Move the sign next to the first digit kept ("-0.5", never "-0" for zero). */
    char *start = ip;
    if (neg && !zero)
        *--start = '-';
    memcpy(out, start, (size_t)(o - start));
    return (int)(o - start);
}

/* DECIMAL as a JSON string. Returns 0, or -1 when a digit group is out of range. */
static int put_decimal(rl_buf *b, const uint8_t *src, unsigned prec, unsigned scale, size_t size)
{
    char txt[160];
    int n = binlog__decimal_text(txt, src, prec, scale, size);
    if (n < 0)
        return -1;
    put_quoted(b, txt, txt + n);
    return 0;
}

/* ------------------------------------------------------------------ dates and times */

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DD" */
static char *put_date(char *o, unsigned y, unsigned m, unsigned d)
{
    o = put_digits(o, y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    return put_digits(o, d, 2);
}

/* "HH:MM:SS" (hours at least two digits) */
static char *put_hms(char *o, unsigned h, unsigned mi, unsigned s)
{
    o = put_digits(o, h, h >= 100 ? 3 : 2);
    *o++ = ':';
    o = put_digits(o, mi, 2);
    *o++ = ':';
    return put_digits(o, s, 2);
}

/* ".ffffff" cut to fsp digits; nothing for fsp 0. */
static char *put_frac(char *o, uint32_t usec, unsigned fsp)
{
    if (!fsp)
        return o;
    char six[6];
    put_digits(six, usec, 6);
    *o++ = '.';
    memcpy(o, six, fsp);
    return o + fsp;
}

/* Fraction of TIME2/DATETIME2/TIMESTAMP2 (unsigned), in microseconds; -1 when out of range. */
static inline int64_t get_frac(rl_reader *rd, unsigned fsp)
{
    switch ((fsp + 1) / 2) {
    case 0:
        return 0;
    case 1: {
        uint32_t v = rl_get_u8(rd);
        return v < 100 ? (int64_t)v * 10000 : -1;
    }
    case 2: {
        uint32_t v = (uint32_t)rl_get_uNbe(rd, 2);
        return v < 10000 ? (int64_t)v * 100 : -1;
    }
    default: {
        uint32_t v = (uint32_t)rl_get_uNbe(rd, 3);
        return v < 1000000 ? (int64_t)v : -1;
    }
    }
}

/* A calendar date and time of day read from a row image, and whether its fields are in
 * range. One reader per type for rendering (put_value) and the check-only walk
 * (check_value), so both accept and refuse the same values with the same messages. On a short
 * read rd->err is set and the fields are meaningless. */
typedef struct dtval {
    bool ok;
    unsigned y, m, d, h, mi, s;
    uint32_t usec;
} dtval;

/* DATE / NEWDATE: 3 bytes little-endian, d | m << 5 | y << 9 (MariaDB sql/field.cc
 * Field_newdate::store_TIME). ok: m <= 12 and y <= 9999 (d is 5 bits: at most 31). */
static inline void get_date(rl_reader *rd, dtval *v)
{
    uint32_t x = rl_get_u24le(rd);
    v->d = x & 31;
    v->m = (x >> 5) & 15;
    v->y = x >> 9;
    v->ok = !(v->m > 12 || v->y > 9999);
}

/* DATETIME2(fsp): 5 bytes big-endian, offset 0x8000000000, then the fraction (get_frac)
 * (mysys/my_time.c TIME_to_longlong_datetime_packed, my_datetime_packed_from_binary).
 * Returns -1 when the value is negative or its fraction out of range (fields undefined),
 * else 0 with v->ok saying whether y <= 9999, h <= 23, mi and s <= 59. */
static inline int get_datetime2(rl_reader *rd, unsigned fsp, dtval *v)
{
    int64_t ip = (int64_t)rl_get_uNbe(rd, 5) - 0x8000000000LL;
    int64_t usec = get_frac(rd, fsp);
    if (ip < 0 || usec < 0)
        return -1;
    uint64_t ymd = (uint64_t)ip >> 17, ym = ymd >> 5, hms = (uint64_t)ip & 0x1FFFF;
    v->d = (unsigned)(ymd & 31);
    v->m = (unsigned)(ym % 13);
    v->y = (unsigned)(ym / 13);
    v->s = (unsigned)(hms & 63);
    v->mi = (unsigned)((hms >> 6) & 63);
    v->h = (unsigned)(hms >> 12);
    v->usec = (uint32_t)usec;
    v->ok = !(v->y > 9999 || v->h > 23 || v->mi > 59 || v->s > 59);
    return 0;
}

/* TIMESTAMP2(fsp): 4 bytes big-endian of seconds since the epoch, then the fraction.
 * Returns -1 when the fraction is out of range, else 0. */
static int get_timestamp2(rl_reader *rd, unsigned fsp, uint32_t *secs, uint32_t *usec)
{
    *secs = (uint32_t)rl_get_uNbe(rd, 4);
    int64_t f = get_frac(rd, fsp);
    if (f < 0)
        return -1;
    *usec = (uint32_t)f;
    return 0;
}

/* Old TIME (before 5.6.4): 3 bytes little-endian, signed, the number HHMMSS (sql/field.cc
 * Field_time::store_TIME). *sv is the signed number; ok: mi and s <= 59, h <= 838. */
static void get_time_old(rl_reader *rd, int32_t *sv, dtval *v)
{
    uint32_t x = rl_get_u24le(rd);
    *sv = (x & 0x800000u) ? (int32_t)x - 0x1000000 : (int32_t)x;
    uint32_t a = *sv < 0 ? (uint32_t)-*sv : (uint32_t)*sv;
    v->h = a / 10000;
    v->mi = a / 100 % 100;
    v->s = a % 100;
    v->ok = !(v->mi > 59 || v->s > 59 || v->h > 838);
}

/* Old DATETIME (before 5.6.4): 8 bytes little-endian, the number YYYYMMDDHHMMSS
 * (sql/field.cc Field_datetime::store_TIME). *x is that number; ok: year <= 9999, m <= 12,
 * d <= 31, h <= 23, mi and s <= 59. */
static void get_datetime_old(rl_reader *rd, uint64_t *x, dtval *v)
{
    *x = rl_get_u64le(rd);
    uint64_t dp = *x / 1000000, tp = *x % 1000000;
    v->y = (unsigned)(dp / 10000 % 100000);
    v->m = (unsigned)(dp / 100 % 100);
    v->d = (unsigned)(dp % 100);
    v->h = (unsigned)(tp / 10000);
    v->mi = (unsigned)(tp / 100 % 100);
    v->s = (unsigned)(tp % 100);
    v->ok = !(dp / 10000 > 9999 || v->m > 12 || v->d > 31 || v->h > 23 || v->mi > 59 ||
              v->s > 59);
}

/* MariaDB 5.3's TIME(n), DATETIME(n), TIMESTAMP(n) with n > 0 (BINLOG_COL_HIRES, n in meta8;
 * MariaDB sql/field.cc Field_time_hires, Field_datetime_hires, Field_timestamp_hires and
 * sql-common/my_time.c pack_time), big-endian. TIME, DATETIME: the packed value
 * ((((((Y*13+M)*32+D)*24+h)*60+m)*60+s)*10^6+us) / 10^(6-n) in 3,4,4,5,5,5,6 (TIME) or
 * 5,6,6,7,7,7,8 (DATETIME) bytes for n = 0..6, TIME offset by (838:59:59 + 1 s) so that
 * negative values sort first. TIMESTAMP: 4 bytes of seconds, then us / 10^(6-n) in
 * 0,1,1,2,2,3,3 bytes. */
typedef struct hires_val {
    bool neg;
    unsigned y, m, d, h, mi, s;
    uint32_t usec;
    uint32_t secs; /* TIMESTAMP */
} hires_val;

/* Reads one value of c; 0, or -1 when the bytes are no valid value (on a short read rd->err
 * is set and *hv is meaningless). */
static int get_hires(rl_reader *rd, const binlog_col *c, hires_val *hv)
{
    static const uint8_t time_bytes[7] = {3, 4, 4, 5, 5, 5, 6};
    static const uint8_t dt_bytes[7] = {5, 6, 6, 7, 7, 7, 8};
    static const uint8_t frac_bytes[7] = {0, 1, 1, 2, 2, 3, 3};
    static const uint32_t div_of[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
    unsigned fsp = c->meta8 <= 6 ? c->meta8 : 6;
    uint64_t div = div_of[fsp];
    memset(hv, 0, sizeof *hv);
    if (c->type == BINLOG_T_TIMESTAMP) {
        hv->secs = (uint32_t)rl_get_uNbe(rd, 4);
        uint64_t f = frac_bytes[fsp] ? rl_get_uNbe(rd, frac_bytes[fsp]) : 0;
        if (f * div > 999999)
            return -1;
        hv->usec = (uint32_t)(f * div);
        return 0;
    }
    bool is_time = c->type == BINLOG_T_TIME;
    uint64_t x = rl_get_uNbe(rd, is_time ? time_bytes[fsp] : dt_bytes[fsp]);
    if (rd->err)
        return 0;
    if (x > UINT64_MAX / div)
        return -1;
    uint64_t a = x;
    if (is_time) {
        uint64_t zero = 3020400000000ULL / div; /* 838:59:59 + 1 s, in units of 10^-n s */
        hv->neg = x < zero;
        a = hv->neg ? zero - x : x - zero;
    }
    a *= div;
    hv->usec = (uint32_t)(a % 1000000);
    uint64_t t = a / 1000000;
    hv->s = (unsigned)(t % 60);
    t /= 60;
    hv->mi = (unsigned)(t % 60);
    t /= 60;
    if (is_time) {
        if (t > 838)
            return -1;
        hv->h = (unsigned)t;
        return 0;
    }
    hv->h = (unsigned)(t % 24);
    t /= 24;
    hv->d = (unsigned)(t % 32);
    t /= 32;
    hv->m = (unsigned)(t % 13);
    t /= 13;
    if (t > 9999)
        return -1;
    hv->y = (unsigned)t;
    return 0;
}

static void put_utc(rl_buf *b, int64_t secs, uint32_t usec, unsigned fsp)
{
    char tmp[48];
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char *o = put_date(tmp, (unsigned)y, m, d);
    *o++ = 'T';
    o = put_hms(o, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
    o = put_frac(o, usec, fsp);
    *o++ = 'Z';
    put_quoted(b, tmp, o);
}

/* ------------------------------------------------------------------ values */

/* "`db`.`table` column 12 "c_decimal" (NEWDECIMAL): detail" */
static int verr(const value_ctx *v, int code, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    const binlog_col *c = &v->t->cols[v->ci];
    return rl_err_set(v->err, code, "`%.*s`.`%.*s` column %u %.*s (%s, type %u): %s",
                      (int)v->t->db.len, (const char *)v->t->db.p, (int)v->t->table.len,
                      (const char *)v->t->table.p, v->ci + 1, (int)c->name_len - 1,
                      (const char *)v->t->strs.p + c->name_off, binlog__type_name(c->type),
                      c->map_type, detail);
}

/* MySQL binary JSON: the document's JSON text as MySQL prints it, as a JSON string. In the
 * after image of a PARTIAL_UPDATE_ROWS a column whose partial bit is set holds JSON diffs to
 * apply to the before image's document. */
static int put_json(value_ctx *v, rl_slice s, rl_buf *b)
{
    struct binlog_charsets *cs = binlog__charsets_get(v->dec);
    if (!cs)
        return rl_err_set(v->err, -ENOMEM, "out of memory");
    bool partial = false;
    if (v->partial_bits.p) {
        uint32_t k = v->json_seen++;
        partial = k / 8 < v->partial_bits.len && ((v->partial_bits.p[k / 8] >> (k % 8)) & 1);
    }
    if (v->keep_json)
        cs->jbefore[v->ci] = s;
    rl_buf_reset(&cs->json);
    rl_err jerr;
    int rc;
    if (partial) {
        rl_slice before = cs->jbefore[v->ci];
        if (!before.p && before.len == 0)
            return verr(v, RL_EUNSUPPORTED,
                        "partial JSON update without the column in the before image: set "
                        "binlog_row_image=FULL or binlog_row_value_options='' on the source");
        if (!before.p)
            return verr(v, RL_ECORRUPT, "partial JSON update of a NULL document");
        rc = binlog__json_apply_diffs(cs, before, s, &cs->json, &jerr);
    } else {
        rc = binlog__json_print(&cs->json, s, &jerr);
    }
    if (rc < 0)
        return verr(v, rc, "%s", jerr.msg);
    rl_buf_json_str(b, cs->json.p, cs->json.len);
    return 0;
}

/* MySQL 9 VECTOR: float32 little-endian elements, as a JSON array of numbers. */
static int put_vector(const value_ctx *v, rl_slice s, rl_buf *b)
{
    const binlog_col *c = &v->t->cols[v->ci];
    if (s.len % 4 != 0)
        return verr(v, RL_ECORRUPT, "VECTOR of %zu bytes, not a multiple of 4", s.len);
    if (c->len && s.len / 4 != c->len)
        return verr(v, RL_ECORRUPT, "VECTOR of %zu elements in a column of dimension %u", s.len / 4,
                    c->len);
    rl_buf_putc(b, '[');
    for (size_t i = 0; i < s.len; i += 4) {
        uint32_t x = (uint32_t)s.p[i] | (uint32_t)s.p[i + 1] << 8 | (uint32_t)s.p[i + 2] << 16 |
                     (uint32_t)s.p[i + 3] << 24;
        float f;
        memcpy(&f, &x, sizeof f);
        if (!isfinite(f))
            return verr(v, RL_ECORRUPT, "VECTOR element %zu is not finite (bits 0x%08x)", i / 4, x);
        if (i)
            rl_buf_putc(b, ',');
        binlog__put_float(b, f);
    }
    rl_buf_putc(b, ']');
    return 0;
}

/* A BINLOG_COL_HIRES value, written as TIME(n), DATETIME(n), TIMESTAMP(n) are. */
static int put_hires(const value_ctx *v, rl_reader *rd, rl_buf *b, const binlog_col *c)
{
    hires_val hv;
    char tmp[48];
    int hr = get_hires(rd, c, &hv);
    if (rd->err)
        return verr(v, RL_ECORRUPT, "value runs past the end of the row data");
    if (hr < 0)
        return verr(v, RL_ECORRUPT, "MariaDB 5.3 %s(%u) value out of range",
                    binlog__type_name(c->type), c->meta8);
    if (c->type == BINLOG_T_TIMESTAMP) {
        put_utc(b, hv.secs, hv.usec, c->meta8);
        return 0;
    }
    char *o = tmp;
    if (c->type == BINLOG_T_DATETIME) {
        o = put_date(o, hv.y, hv.m, hv.d);
        *o++ = 'T';
    } else if (hv.neg) {
        *o++ = '-';
    }
    o = put_hms(o, hv.h, hv.mi, hv.s);
    put_quoted(b, tmp, put_frac(o, hv.usec, c->meta8));
    return 0;
}

static int put_value(value_ctx *v, rl_reader *rd, rl_buf *b)
{
    const binlog_col *c = &v->t->cols[v->ci];
    bool uns = c->flags & BINLOG_COL_UNSIGNED;
    char tmp[64];
    int rc = 0;
    if (c->flags & BINLOG_COL_HIRES)
        return put_hires(v, rd, b, c);
    switch (c->type) {
    case BINLOG_T_TINY: {
        uint8_t x = rl_get_u8(rd);
        if (uns)
            binlog__raw_u64(b, x);
        else
            raw_i64(b, (int8_t)x);
        break;
    }
    case BINLOG_T_SHORT: {
        uint16_t x = rl_get_u16le(rd);
        if (uns)
            binlog__raw_u64(b, x);
        else
            raw_i64(b, (int16_t)x);
        break;
    }
    case BINLOG_T_INT24: {
        uint32_t x = rl_get_u24le(rd);
        if (uns)
            binlog__raw_u64(b, x);
        else
            raw_i64(b, (x & 0x800000u) ? (int64_t)x - 0x1000000 : (int64_t)x);
        break;
    }
    case BINLOG_T_LONG: {
        uint32_t x = rl_get_u32le(rd);
        if (uns)
            binlog__raw_u64(b, x);
        else
            raw_i64(b, (int32_t)x);
        break;
    }
    case BINLOG_T_LONGLONG: {
        uint64_t x = rl_get_u64le(rd);
        if (uns)
            binlog__raw_u64(b, x);
        else
            raw_i64(b, (int64_t)x);
        break;
    }
    case BINLOG_T_FLOAT: {
        uint32_t x = rl_get_u32le(rd);
        float f;
        memcpy(&f, &x, sizeof f);
        if (rd->err)
            break;
        if (!isfinite(f))
            return verr(v, RL_ECORRUPT, "not a finite number (bits 0x%08x)", x);
        put_float(b, f);
        break;
    }
    case BINLOG_T_DOUBLE: {
        uint64_t x = rl_get_u64le(rd);
        double d;
        memcpy(&d, &x, sizeof d);
        if (rd->err)
            break;
        if (!isfinite(d))
            return verr(v, RL_ECORRUPT, "not a finite number (bits 0x%016llx)",
                        (unsigned long long)x);
        put_double(b, d);
        break;
    }
    case BINLOG_T_NEWDECIMAL: {
        rl_slice s = rl_get_bytes(rd, c->bin_size);
        if (rd->err)
            break;
        if (put_decimal(b, s.p, c->len, c->meta8, c->bin_size) < 0)
            return verr(v, RL_ECORRUPT, "DECIMAL(%u,%u) digit group out of range", c->len,
                        c->meta8);
        break;
    }
    case BINLOG_T_YEAR: {
        uint8_t x = rl_get_u8(rd);
        binlog__raw_u64(b, x ? 1900u + x : 0u);
        break;
    }
    case BINLOG_T_DATE:
    case BINLOG_T_NEWDATE: {
        dtval dv;
        get_date(rd, &dv);
        if (rd->err)
            break;
        if (!dv.ok)
            return verr(v, RL_ECORRUPT, "date %04u-%02u-%02u out of range", dv.y, dv.m, dv.d);
        put_quoted(b, tmp, put_date(tmp, dv.y, dv.m, dv.d));
        break;
    }
    case BINLOG_T_TIME2: {
        time2 t2;
        get_time2(rd, c->meta8, &t2);
        if (rd->err)
            break;
        bool neg = t2.neg;
        unsigned h = t2.h, mi = t2.mi, s = t2.s;
        uint32_t usec = t2.usec;
        if (!t2.ok)
            return verr(v, RL_ECORRUPT, "time %s%u:%02u:%02u.%06u out of range", neg ? "-" : "", h,
                        mi, s, usec);
        char *o = tmp;
        if (neg)
            *o++ = '-';
        o = put_hms(o, h, mi, s);
        o = put_frac(o, usec, c->meta8);
        put_quoted(b, tmp, o);
        break;
    }
    case BINLOG_T_DATETIME2: {
        dtval dv;
        int dr = get_datetime2(rd, c->meta8, &dv);
        if (rd->err)
            break;
        if (dr < 0)
            return verr(v, RL_ECORRUPT, "negative or out-of-range DATETIME2");
        if (!dv.ok)
            return verr(v, RL_ECORRUPT, "datetime %u-%02u-%02u %02u:%02u:%02u out of range",
                        dv.y, dv.m, dv.d, dv.h, dv.mi, dv.s);
        char *o = put_date(tmp, dv.y, dv.m, dv.d);
        *o++ = 'T';
        o = put_hms(o, dv.h, dv.mi, dv.s);
        o = put_frac(o, dv.usec, c->meta8);
        put_quoted(b, tmp, o);
        break;
    }
    case BINLOG_T_TIMESTAMP2: {
        uint32_t secs, usec;
        int tr = get_timestamp2(rd, c->meta8, &secs, &usec);
        if (rd->err)
            break;
        if (tr < 0)
            return verr(v, RL_ECORRUPT, "TIMESTAMP2 fraction out of range");
        put_utc(b, secs, usec, c->meta8);
        break;
    }
    case BINLOG_T_TIMESTAMP: {
        uint32_t secs = rl_get_u32le(rd);
        if (rd->err)
            break;
        put_utc(b, secs, 0, 0);
        break;
    }
    case BINLOG_T_TIME: {
        int32_t sv;
        dtval dv;
        get_time_old(rd, &sv, &dv);
        if (rd->err)
            break;
        if (!dv.ok)
            return verr(v, RL_ECORRUPT, "time %d out of range", sv);
        char *o = tmp;
        if (sv < 0)
            *o++ = '-';
        put_quoted(b, tmp, put_hms(o, dv.h, dv.mi, dv.s));
        break;
    }
    case BINLOG_T_DATETIME: {
        uint64_t x;
        dtval dv;
        get_datetime_old(rd, &x, &dv);
        if (rd->err)
            break;
        if (!dv.ok)
            return verr(v, RL_ECORRUPT, "datetime %llu out of range", (unsigned long long)x);
        char *o = put_date(tmp, dv.y, dv.m, dv.d);
        *o++ = 'T';
        put_quoted(b, tmp, put_hms(o, dv.h, dv.mi, dv.s));
        break;
    }
    case BINLOG_T_VARCHAR:
    case BINLOG_T_VAR_STRING: {
        size_t n = c->len < 256 ? rl_get_u8(rd) : rl_get_u16le(rd);
        rl_slice s = rl_get_bytes(rd, n);
        if (rd->err)
            break;
        if (n > c->len)
            return verr(v, RL_ECORRUPT, "%zu bytes in a column of at most %u", n, c->len);
        rc = put_text(v, b, c, s.p, s.len);
        break;
    }
    case BINLOG_T_STRING: {
        size_t n = c->len < 256 ? rl_get_u8(rd) : rl_get_u16le(rd);
        rl_slice s = rl_get_bytes(rd, n);
        if (rd->err)
            break;
        if (n > c->len)
            return verr(v, RL_ECORRUPT, "%zu bytes in a CHAR of %u bytes", n, c->len);
        if ((c->flags & BINLOG_COL_BINARY) && n < c->len) {
            /* BINARY(n): the binlog strips trailing 0x00 (Field_string::pack); put them
             * back so the value equals what SELECT returns. */
            uint8_t pad[1024];
            memcpy(pad, s.p, n);
            memset(pad + n, 0, c->len - n);
            put_base64(b, pad, c->len);
        } else {
            rc = put_text(v, b, c, s.p, s.len);
        }
        break;
    }
    case BINLOG_T_TINY_BLOB:
    case BINLOG_T_MEDIUM_BLOB:
    case BINLOG_T_LONG_BLOB:
    case BINLOG_T_BLOB:
    case BINLOG_T_GEOMETRY:
    case BINLOG_T_JSON:
    case BINLOG_T_VECTOR: {
        size_t n = (size_t)rl_get_uNle(rd, c->meta8);
        rl_slice s = rl_get_bytes(rd, n);
        if (rd->err)
            break;
        if (c->type == BINLOG_T_JSON)
            return put_json(v, s, b);
        if (c->type == BINLOG_T_VECTOR)
            return put_vector(v, s, b);
        if (c->type == BINLOG_T_GEOMETRY || !(c->flags & BINLOG_COL_CHARSET))
            put_base64(b, s.p, s.len); /* GEOMETRY; BLOB vs TEXT unknown without charsets */
        else
            rc = put_text(v, b, c, s.p, s.len);
        break;
    }
    case BINLOG_T_BIT: {
        rl_slice s = rl_get_bytes(rd, (c->len + 7) / 8);
        if (rd->err)
            break;
        put_base64(b, s.p, s.len);
        break;
    }
    case BINLOG_T_ENUM: {
        uint32_t x = (uint32_t)rl_get_uNle(rd, c->meta8);
        if (rd->err)
            break;
        if (!(c->flags & BINLOG_COL_STRS)) {
            binlog__raw_u64(b, x);
            break;
        }
        if (x == 0) {
            rl_buf_append(b, "\"\"", 2);
            break;
        }
        if (x > c->str_count)
            return verr(v, RL_ECORRUPT, "ENUM index %u of %u values", x, c->str_count);
        const uint32_t *so = v->t->str_offs + 2 * (size_t)(c->str_first + x - 1);
        rl_buf_append(b, v->t->strs.p + so[0], so[1]);
        break;
    }
    case BINLOG_T_SET: {
        uint64_t x = rl_get_uNle(rd, c->meta8);
        if (rd->err)
            break;
        if (!(c->flags & BINLOG_COL_STRS)) {
            binlog__raw_u64(b, x);
            break;
        }
        if (c->str_count < 64 && (x >> c->str_count) != 0)
            return verr(v, RL_ECORRUPT, "SET bits 0x%llx beyond its %u values",
                        (unsigned long long)x, c->str_count);
        rl_buf_putc(b, '[');
        bool first = true;
        for (uint32_t i = 0; i < c->str_count; i++) {
            if (!((x >> i) & 1))
                continue;
            if (!first)
                rl_buf_putc(b, ',');
            first = false;
            const uint32_t *so = v->t->str_offs + 2 * (size_t)(c->str_first + i);
            rl_buf_append(b, v->t->strs.p + so[0], so[1]);
        }
        rl_buf_putc(b, ']');
        break;
    }
    default:
        return verr(v, RL_EUNSUPPORTED, "column type %u is not decoded yet", c->map_type);
    }
    if (rc == -ENOMEM)
        return rl_err_set(v->err, rc, "out of memory");
    if (rc < 0)
        return rc;
    if (rd->err)
        return verr(v, RL_ECORRUPT, "value runs past the end of the row data");
    return 0;
}

/* ------------------------------------------------------------------ check-only decoding */

/* Row images of a PARTIAL_UPDATE_ROWS event: the before image keeps its JSON documents, the
 * after image starts with value options and partial bits (rows_event.h, WL#2955). */
enum { IMG_PLAIN = 0, IMG_PARTIAL_BEFORE = 1, IMG_PARTIAL_AFTER = 2 };
enum { PARTIAL_JSON_UPDATES = 1 }; /* binlog_row_value_options bit (rows_event.h) */


/* A DECIMAL's digit groups are in range (what binlog__decimal_text checks), without text. */
static bool decimal_ok(const uint8_t *src, unsigned prec, unsigned scale, size_t size)
{
    uint8_t d[40];
    if (size > sizeof d)
        return false;
    memcpy(d, src, size);
    uint8_t inv = (d[0] & 0x80) ? 0 : 0xFF; /* negative: every bit inverted */
    d[0] ^= 0x80;
    for (size_t i = 0; i < size; i++)
        d[i] ^= inv;
    unsigned intg = prec - scale, ngroups = intg / 9 + scale / 9;
    /* Groups in storage order: leading partial, full ones, trailing partial. */
    const uint8_t *p = d;
    for (unsigned g = 0; g < ngroups + 2; g++) {
        unsigned digits = g == 0 ? intg % 9 : g == ngroups + 1 ? scale % 9 : 9;
        unsigned nb = binlog__dig2bytes[digits];
        if (!nb)
            continue;
        if (be_n(p, nb) >= pow10u[digits])
            return false;
        p += nb;
    }
    return true;
}

/* Walks one value as put_value reads it, with the same checks and messages (lengths and
 * ranges; binary JSON documents are length-checked only), writing nothing. */
/* A text column whose collation id no server defines: rendering it stops with
 * RL_EUNSUPPORTED (put_text_str), so the check-only walk must too. */
static bool text_collation_unknown(const binlog_col *c)
{
    return (c->flags & (BINLOG_COL_CHARSET | BINLOG_COL_BINARY | BINLOG_COL_LATIN1)) ==
               BINLOG_COL_CHARSET &&
           binlog__charset_of(c->charset) == BINLOG_CS_UNKNOWN;
}

static int check_value(const value_ctx *v, rl_reader *rd)
{
    const binlog_col *c = &v->t->cols[v->ci];
    if (c->flags & BINLOG_COL_HIRES) {
        hires_val hv;
        int hr = get_hires(rd, c, &hv);
        if (rd->err)
            return verr(v, RL_ECORRUPT, "value runs past the end of the row data");
        if (hr < 0)
            return verr(v, RL_ECORRUPT, "MariaDB 5.3 %s(%u) value out of range",
                        binlog__type_name(c->type), c->meta8);
        return 0;
    }
    switch (c->type) {
    case BINLOG_T_TINY:
    case BINLOG_T_YEAR:
        rl_reader_skip(rd, 1);
        break;
    case BINLOG_T_SHORT:
        rl_reader_skip(rd, 2);
        break;
    case BINLOG_T_INT24:
        rl_reader_skip(rd, 3);
        break;
    case BINLOG_T_LONG:
    case BINLOG_T_TIMESTAMP:
        rl_reader_skip(rd, 4);
        break;
    case BINLOG_T_LONGLONG:
        rl_reader_skip(rd, 8);
        break;
    case BINLOG_T_FLOAT: {
        uint32_t x = rl_get_u32le(rd);
        if ((x & 0x7F800000u) == 0x7F800000u && !rd->err)
            return verr(v, RL_ECORRUPT, "not a finite number (bits 0x%08x)", x);
        break;
    }
    case BINLOG_T_DOUBLE: {
        uint64_t x = rl_get_u64le(rd);
        if ((x & 0x7FF0000000000000ull) == 0x7FF0000000000000ull && !rd->err)
            return verr(v, RL_ECORRUPT, "not a finite number (bits 0x%016llx)",
                        (unsigned long long)x);
        break;
    }
    case BINLOG_T_NEWDECIMAL: {
        rl_slice s = rl_get_bytes(rd, c->bin_size);
        if (rd->err)
            break;
        if (!decimal_ok(s.p, c->len, c->meta8, c->bin_size))
            return verr(v, RL_ECORRUPT, "DECIMAL(%u,%u) digit group out of range", c->len,
                        c->meta8);
        break;
    }
    case BINLOG_T_DATE:
    case BINLOG_T_NEWDATE: {
        dtval dv;
        get_date(rd, &dv);
        if (!rd->err && !dv.ok)
            return verr(v, RL_ECORRUPT, "date %04u-%02u-%02u out of range", dv.y, dv.m, dv.d);
        break;
    }
    case BINLOG_T_TIME2: {
        time2 t2;
        get_time2(rd, c->meta8, &t2);
        if (rd->err)
            break;
        bool neg = t2.neg;
        unsigned h = t2.h, mi = t2.mi, s = t2.s;
        uint32_t usec = t2.usec;
        if (!t2.ok)
            return verr(v, RL_ECORRUPT, "time %s%u:%02u:%02u.%06u out of range", neg ? "-" : "", h,
                        mi, s, usec);
        break;
    }
    case BINLOG_T_DATETIME2: {
        dtval dv;
        int dr = get_datetime2(rd, c->meta8, &dv);
        if (rd->err)
            break;
        if (dr < 0)
            return verr(v, RL_ECORRUPT, "negative or out-of-range DATETIME2");
        if (!dv.ok)
            return verr(v, RL_ECORRUPT, "datetime %u-%02u-%02u %02u:%02u:%02u out of range",
                        dv.y, dv.m, dv.d, dv.h, dv.mi, dv.s);
        break;
    }
    case BINLOG_T_TIMESTAMP2: {
        uint32_t secs, usec;
        int tr = get_timestamp2(rd, c->meta8, &secs, &usec);
        if (!rd->err && tr < 0)
            return verr(v, RL_ECORRUPT, "TIMESTAMP2 fraction out of range");
        break;
    }
    case BINLOG_T_TIME: {
        int32_t sv;
        dtval dv;
        get_time_old(rd, &sv, &dv);
        if (!rd->err && !dv.ok)
            return verr(v, RL_ECORRUPT, "time %d out of range", sv);
        break;
    }
    case BINLOG_T_DATETIME: {
        uint64_t x;
        dtval dv;
        get_datetime_old(rd, &x, &dv);
        if (!rd->err && !dv.ok)
            return verr(v, RL_ECORRUPT, "datetime %llu out of range", (unsigned long long)x);
        break;
    }
    case BINLOG_T_VARCHAR:
    case BINLOG_T_VAR_STRING:
    case BINLOG_T_STRING: {
        size_t n = c->len < 256 ? rl_get_u8(rd) : rl_get_u16le(rd);
        rl_reader_skip(rd, n);
        if (rd->err)
            break;
        if (n > c->len)
            return verr(v, RL_ECORRUPT,
                        c->type == BINLOG_T_STRING ? "%zu bytes in a CHAR of %u bytes"
                                                   : "%zu bytes in a column of at most %u",
                        n, c->len);
        if (text_collation_unknown(c))
            return verr(v, RL_EUNSUPPORTED, "unknown collation id %u", c->charset);
        break;
    }
    case BINLOG_T_TINY_BLOB:
    case BINLOG_T_MEDIUM_BLOB:
    case BINLOG_T_LONG_BLOB:
    case BINLOG_T_BLOB:
    case BINLOG_T_GEOMETRY:
    case BINLOG_T_JSON:
    case BINLOG_T_VECTOR: {
        size_t n = (size_t)rl_get_uNle(rd, c->meta8);
        rl_reader_skip(rd, n);
        if (rd->err)
            break;
        if (c->type == BINLOG_T_VECTOR && n % 4 != 0)
            return verr(v, RL_ECORRUPT, "VECTOR of %zu bytes, not a multiple of 4", n);
        /* TEXT (a BLOB with a text collation) is converted by its charset when rendered. */
        if (c->type != BINLOG_T_GEOMETRY && c->type != BINLOG_T_JSON &&
            c->type != BINLOG_T_VECTOR && text_collation_unknown(c))
            return verr(v, RL_EUNSUPPORTED, "unknown collation id %u", c->charset);
        break;
    }
    case BINLOG_T_BIT:
        rl_reader_skip(rd, (c->len + 7) / 8);
        break;
    case BINLOG_T_ENUM: {
        uint32_t x = (uint32_t)rl_get_uNle(rd, c->meta8);
        if (!rd->err && (c->flags & BINLOG_COL_STRS) && x > c->str_count)
            return verr(v, RL_ECORRUPT, "ENUM index %u of %u values", x, c->str_count);
        break;
    }
    case BINLOG_T_SET: {
        uint64_t x = rl_get_uNle(rd, c->meta8);
        if (!rd->err && (c->flags & BINLOG_COL_STRS) && c->str_count < 64 &&
            (x >> c->str_count) != 0)
            return verr(v, RL_ECORRUPT, "SET bits 0x%llx beyond its %u values",
                        (unsigned long long)x, c->str_count);
        break;
    }
    default:
        return verr(v, RL_EUNSUPPORTED, "column type %u is not decoded yet", c->map_type);
    }
    if (rd->err)
        return verr(v, RL_ECORRUPT, "value runs past the end of the row data");
    return 0;
}

/* Check-only twin of decode_image: the null bitmap and every present, non-NULL value walked
 * and checked (check_value), a PARTIAL_UPDATE_ROWS after image's value options and partial
 * bits skipped (its JSON diffs are length-checked like documents). */
static int check_image(binlog_decoder_t *dec, const binlog_table *t, const uint8_t *present,
                       uint32_t npresent, rl_reader *rd, int mode, rl_err *err)
{
    value_ctx v = {t, 0, err, dec, false, {NULL, 0}, 0};
    if (mode == IMG_PARTIAL_AFTER) {
        uint64_t opts = rl_get_lenenc(rd);
        if (opts & PARTIAL_JSON_UPDATES) {
            uint32_t njson = 0;
            for (uint32_t ci = 0; ci < t->ncols; ci++)
                njson += t->cols[ci].type == BINLOG_T_JSON;
            rl_reader_skip(rd, (njson + 7) / 8);
        }
        if (rd->err)
            return rl_err_set(err, RL_ECORRUPT,
                              "after image value options run past the end of the event");
    }
    rl_slice nulls = rl_get_bytes(rd, (npresent + 7) / 8);
    if (rd->err)
        return rl_err_set(err, RL_ECORRUPT, "null bitmap runs past the end of the event");
    uint32_t k = 0;
    for (uint32_t ci = 0; ci < t->ncols; ci++) {
        if (!bit_at(present, ci))
            continue;
        if (!bit_at(nulls.p, k)) {
            v.ci = ci;
            int rc = check_value(&v, rd);
            if (rc < 0)
                return rc;
        }
        k++;
    }
    return 0;
}

void binlog__rows_set_check_only(binlog_decoder_t *dec, bool on)
{
    struct binlog_rows_state *st = rows_state_get(dec);
    if (st)
        st->check_only = on;
}

uint64_t binlog__rows_checked(const binlog_decoder_t *dec)
{
    return dec->rows_state ? dec->rows_state->rows_checked : 0;
}

/* ------------------------------------------------------------------ rows */

/* Decodes one row image into dec->img[which] and records where each column's value text
 * sits (dec->colpos[which]). */
static int decode_image(binlog_decoder_t *dec, const binlog_table *t, const uint8_t *present,
                        uint32_t npresent, rl_reader *rd, int which, int mode, rl_err *err)
{
    rl_buf *b = &dec->img[which];
    size_t *cp = dec->colpos[which];
    rl_buf_reset(b);
    value_ctx v = {t, 0, err, dec, mode == IMG_PARTIAL_BEFORE, {NULL, 0}, 0};
    if (mode == IMG_PARTIAL_BEFORE) {
        struct binlog_charsets *cs = binlog__charsets_get(dec);
        if (!cs)
            return rl_err_set(err, -ENOMEM, "out of memory");
        if (cs->jbefore_cap < t->ncols) {
            rl_slice *nj = realloc(cs->jbefore, (size_t)t->ncols * sizeof *nj);
            if (!nj)
                return rl_err_set(err, -ENOMEM, "out of memory");
            cs->jbefore = nj;
            cs->jbefore_cap = t->ncols;
        }
        /* {NULL, 0}: not in the before image; {NULL, 1}: NULL. */
        for (uint32_t ci = 0; ci < t->ncols; ci++)
            cs->jbefore[ci] = rl_slice_make(NULL, bit_at(present, ci) ? 1 : 0);
    } else if (mode == IMG_PARTIAL_AFTER) {
        uint64_t opts = rl_get_lenenc(rd);
        if (opts & PARTIAL_JSON_UPDATES) {
            uint32_t njson = 0;
            for (uint32_t ci = 0; ci < t->ncols; ci++)
                njson += t->cols[ci].type == BINLOG_T_JSON;
            v.partial_bits = rl_get_bytes(rd, (njson + 7) / 8);
            if (!v.partial_bits.p)
                v.partial_bits = rl_slice_make("", 0);
        }
        if (rd->err)
            return rl_err_set(err, RL_ECORRUPT,
                              "after image value options run past the end of the event");
        if (opts & PARTIAL_JSON_UPDATES) {
            struct binlog_charsets *cs = dec->charsets;
            if (!cs || cs->jbefore_cap < t->ncols)
                return rl_err_set(err, RL_ECORRUPT, "partial after image without a before image");
        }
    }
    rl_slice nulls = rl_get_bytes(rd, (npresent + 7) / 8);
    if (rd->err)
        return rl_err_set(err, RL_ECORRUPT, "null bitmap runs past the end of the event");
    rl_buf_putc(b, '{');
    uint32_t k = 0;
    for (uint32_t ci = 0; ci < t->ncols; ci++) {
        if (!bit_at(present, ci)) {
            cp[2 * (size_t)ci] = SIZE_MAX;
            continue;
        }
        const binlog_col *c = &t->cols[ci];
        if (buf_reserve(b, 1 + c->name_len + VALUE_RESERVE) != 0)
            return rl_err_set(err, -ENOMEM, "out of memory");
        if (k)
            b->p[b->len++] = ',';
        raw_append(b, t->strs.p + c->name_off, c->name_len);
        size_t start = b->len;
        if (bit_at(nulls.p, k)) {
            raw_append(b, "null", 4);
            if (v.partial_bits.p && c->type == BINLOG_T_JSON)
                v.json_seen++;
        } else {
            v.ci = ci;
            int rc = put_value(&v, rd, b);
            if (rc < 0)
                return rc;
        }
        k++;
        cp[2 * (size_t)ci] = start;
        cp[2 * (size_t)ci + 1] = b->len - start;
    }
    rl_buf_putc(b, '}');
    if (!rl_buf_ok(b))
        return rl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Key object: the primary-key columns (every column without one), each taken from image
 * `primary`, or from the other image when absent there (MINIMAL images omit unchanged
 * columns from the after image) and `other` holds this row. */
static void build_key(binlog_decoder_t *dec, const binlog_table *t, rl_buf *k, int primary,
                      bool other)
{
    rl_buf_reset(k);
    rl_buf_putc(k, '{');
    uint32_t n = t->nkeys ? t->nkeys : t->ncols;
    bool first = true;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t ci = t->nkeys ? t->keys[j] : j;
        int w = primary;
        if (dec->colpos[w][2 * (size_t)ci] == SIZE_MAX) {
            w = 1 - primary;
            if (!other || dec->colpos[w][2 * (size_t)ci] == SIZE_MAX)
                continue;
        }
        if (!first)
            rl_buf_putc(k, ',');
        first = false;
        const binlog_col *c = &t->cols[ci];
        rl_buf_append(k, t->strs.p + c->name_off, c->name_len);
        rl_buf_append(k, dec->img[w].p + dec->colpos[w][2 * (size_t)ci],
                      dec->colpos[w][2 * (size_t)ci + 1]);
    }
    rl_buf_putc(k, '}');
}

typedef struct row_ctx {
    const binlog_table *t;
    const binlog_event *ev;
    uint64_t row;
    int64_t now_ms;
} row_ctx;

static int emit(binlog_decoder_t *dec, const row_ctx *r, char op, const rl_buf *key, bool before,
                bool after, rl_err *err)
{
    rl_buf *v = &dec->value;
    rl_buf_reset(v);
    size_t need = 10 + (before ? dec->img[0].len : 4) + 9 + (after ? dec->img[1].len : 4) +
                  dec->head.len + 20 + dec->tail.len + 1 + 10 + 21 + 1;
    if (buf_reserve(v, need) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    raw_append(v, "{\"before\":", 10);
    if (before)
        raw_append(v, dec->img[0].p, dec->img[0].len);
    else
        raw_append(v, "null", 4);
    raw_append(v, ",\"after\":", 9);
    if (after)
        raw_append(v, dec->img[1].p, dec->img[1].len);
    else
        raw_append(v, "null", 4);
    raw_append(v, dec->head.p, dec->head.len);
    binlog__raw_u64(v, r->row);
    raw_append(v, dec->tail.p, dec->tail.len);
    v->p[v->len++] = (uint8_t)op;
    raw_append(v, "\",\"ts_ms\":", 10);
    raw_i64(v, r->now_ms);
    v->p[v->len++] = '}';
    if (!rl_buf_ok(v) || !rl_buf_ok(key))
        return rl_err_set(err, -ENOMEM, "out of memory");
    if (!dec->h.on_change)
        return 0;
    binlog_change ch;
    ch.topic = rl_slice_make(r->t->strs.p + r->t->topic_off, r->t->topic_len);
    ch.key = rl_buf_slice(key);
    ch.value = rl_buf_slice(v);
    ch.ts_ms = (int64_t)r->ev->timestamp * 1000;
    ch.op = op;
    int rc = dec->h.on_change(dec->h.ctx, &ch);
    if (rc < 0)
        return rl_err_set(err, rc, "on_change handler returned %d (%s)", rc, rl_strerror(rc));
    return 0;
}

static int emit_row(binlog_decoder_t *dec, const row_ctx *r, char kind, rl_err *err)
{
    const binlog_table *t = r->t;
    if (kind == 'c') {
        build_key(dec, t, &dec->key, 1, false);
        return emit(dec, r, 'c', &dec->key, false, true, err);
    }
    if (kind == 'd') {
        build_key(dec, t, &dec->key, 0, false);
        return emit(dec, r, 'd', &dec->key, true, false, err);
    }
    build_key(dec, t, &dec->key2, 1, true);
    if (t->nkeys) {
        build_key(dec, t, &dec->key, 0, true);
        if (dec->key.len != dec->key2.len || memcmp(dec->key.p, dec->key2.p, dec->key.len) != 0) {
            /* The primary key changed: a delete under the old key, then a create under the
             * new one (Debezium does the same), so compacted topics stay right. */
            int rc = emit(dec, r, 'd', &dec->key, true, false, err);
            if (rc == 0)
                rc = emit(dec, r, 'c', &dec->key2, false, true, err);
            return rc;
        }
    }
    return emit(dec, r, 'u', &dec->key2, true, true, err);
}

/* Set bits among the first n of bm (bit i is bm[i / 8] >> (i % 8), as bit_at reads it). */
static uint32_t count_bits(const uint8_t *bm, uint32_t n)
{
    uint32_t c = 0, full = n / 8;
    for (uint32_t i = 0; i < full; i++)
        c += (uint32_t)__builtin_popcount(bm[i]);
    if (n % 8)
        c += (uint32_t)__builtin_popcount(bm[full] & ((1u << (n % 8)) - 1u));
    return c;
}

/* Per-event envelope parts: head `,"source":{...,"pos":P,"row":` and tail
 * `,"gtid":..,"db":..,"table":..,"ts_ms":..,"snapshot":false},"op":"`. */
static void build_envelope_parts(binlog_decoder_t *dec, const binlog_table *t,
                                 const binlog_event *ev)
{
    rl_buf *h = &dec->head, *tl = &dec->tail;
    /* One capacity check per part, then plain appends (20 bytes per integer). */
    rl_buf_reset(h);
    if (buf_reserve(h, dec->source_json.len + 20 + 8 + dec->file_json.len + 7 + 20 + 7) != 0)
        return; /* h->oom is set: the caller reports it */
    raw_append(h, dec->source_json.p, dec->source_json.len);
    binlog__raw_u64(h, ev->server_id);
    raw_append(h, ",\"file\":", 8);
    raw_append(h, dec->file_json.p, dec->file_json.len);
    raw_append(h, ",\"pos\":", 7);
    if (ev->inner)
        binlog__raw_u64(h, ev->src_pos);
    else
        binlog__raw_u64(h, ev->log_pos >= ev->size ? ev->log_pos - ev->size : 0);
    raw_append(h, ",\"row\":", 7);
    rl_buf_reset(tl);
    rl_buf_append(tl, ",\"gtid\":", 8);
    if (dec->gtid[0])
        rl_buf_json_str(tl, dec->gtid, strlen(dec->gtid));
    else
        rl_buf_append(tl, "null", 4);
    rl_buf_append(tl, t->strs.p + t->dbtable_off, t->dbtable_len);
    if (buf_reserve(tl, 9 + 20 + 17) != 0)
        return;
    raw_append(tl, ",\"ts_ms\":", 9);
    binlog__raw_u64(tl, (uint64_t)ev->timestamp * 1000);
    raw_append(tl, ",\"snapshot\":false", 17);
    /* source.query: the statement of these rows (ROWS_QUERY / ANNOTATE_ROWS), already a JSON
     * string; Debezium's MySQL connector puts it last in source too. */
    if (dec->source_query && dec->rows_query.len > 0) {
        rl_buf_append(tl, ",\"query\":", 9);
        rl_buf_append(tl, dec->rows_query.p, dec->rows_query.len);
    }
    rl_buf_append(tl, "},\"op\":\"", 8);
}

int binlog__rows(binlog_decoder_t *dec, const binlog_event *ev, rl_slice pb, rl_err *err)
{
    /* MariaDB's compressed twins (166-168 of v1, 169-171 of v2) differ only in the row data,
     * which is inflated below. */
    uint8_t ty = ev->type;
    bool partial = ty == BINLOG_PARTIAL_UPDATE_ROWS;
    bool compressed = ty >= BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1;
    if (compressed)
        ty = ty >= BINLOG_MARIA_WRITE_ROWS_COMPRESSED
                 ? (uint8_t)(ty - BINLOG_MARIA_WRITE_ROWS_COMPRESSED + BINLOG_WRITE_ROWS_V2)
                 : (uint8_t)(ty - BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 + BINLOG_WRITE_ROWS_V1);
    bool v2 = ty >= BINLOG_WRITE_ROWS_V2;
    char kind = 'c';
    if (ty == BINLOG_UPDATE_ROWS_V1 || ty == BINLOG_UPDATE_ROWS_V2 || partial)
        kind = 'u';
    else if (ty == BINLOG_DELETE_ROWS_V1 || ty == BINLOG_DELETE_ROWS_V2)
        kind = 'd';
    uint8_t pl = ev->post_len;
    if ((pl != 6 && pl < 8) || (v2 && pl < 10))
        return rl_err_set(err, RL_ECORRUPT, "rows post-header of %u bytes", pl);
    rl_reader rd = rl_reader_make(pb);
    rl_reader ph = binlog__sub(&rd, pl);
    uint64_t id = pl == 6 ? rl_get_u32le(&ph) : rl_get_u48le(&ph);
    uint16_t flags = rl_get_u16le(&ph);
    if (v2) {
        uint16_t extra = rl_get_u16le(&ph);
        if (extra < 2)
            return rl_err_set(err, RL_ECORRUPT, "rows v2 extra data length %u", extra);
        rl_reader_skip(&rd, extra - 2u);
    }
    binlog_table *t = binlog__table_find(dec, id);
    if (!t || t->gen != dec->stmt_gen)
        return rl_err_set(err, RL_ECORRUPT,
                          "rows event for table id %llu without a TABLE_MAP in this statement",
                          (unsigned long long)id);
    uint64_t width = rl_get_lenenc(&rd);
    if (rd.err || width != t->ncols)
        return rl_err_set(err, RL_ECORRUPT,
                          "rows event of %llu columns for `%.*s`.`%.*s` of %u columns",
                          (unsigned long long)width, (int)t->db.len, (const char *)t->db.p,
                          (int)t->table.len, (const char *)t->table.p, t->ncols);
    size_t bml = (t->ncols + 7) / 8;
    rl_slice bm1 = rl_get_bytes(&rd, bml);
    rl_slice bm2 = kind == 'u' ? rl_get_bytes(&rd, bml) : bm1;
    if (rd.err || ph.err)
        return rl_err_set(err, RL_ECORRUPT, "rows event header runs past the end of the event");
    if (compressed) {
        rl_slice plain;
        int rc = binlog__maria_uncompress(dec, rl_get_rest(&rd), &plain, err);
        if (rc < 0)
            return rl_err_wrap(err, rc, "row data");
        rd = rl_reader_make(plain);
    }
    if (dec->colpos_cap < t->ncols) {
        for (int i = 0; i < 2; i++) {
            size_t *np = realloc(dec->colpos[i], (size_t)t->ncols * 2 * sizeof *np);
            if (!np)
                return rl_err_set(err, -ENOMEM, "out of memory");
            dec->colpos[i] = np;
        }
        dec->colpos_cap = t->ncols;
    }
    uint32_t n1 = count_bits(bm1.p, t->ncols), n2 = count_bits(bm2.p, t->ncols);
    struct binlog_rows_state *st = dec->rows_state;
    if (st && st->check_only) {
        /* Check-only decoding (binlog__rows_set_check_only): the same walk, nothing built. */
        int m1 = partial ? IMG_PARTIAL_BEFORE : IMG_PLAIN;
        int m2 = partial ? IMG_PARTIAL_AFTER : IMG_PLAIN;
        uint64_t row = 0;
        while (rl_reader_left(&rd) > 0) {
            size_t before_row = rl_reader_left(&rd);
            int rc = check_image(dec, t, bm1.p, n1, &rd, kind == 'u' ? m1 : IMG_PLAIN, err);
            if (rc == 0 && kind == 'u')
                rc = check_image(dec, t, bm2.p, n2, &rd, m2, err);
            if (rc == 0 && rl_reader_left(&rd) == before_row)
                rc = rl_err_set(err, RL_ECORRUPT, "row image with no columns present");
            if (rc < 0)
                return rl_err_wrap(err, rc, "row %llu", (unsigned long long)row);
            row++;
            st->rows_checked++;
        }
        if (flags & BINLOG_ROWS_STMT_END)
            binlog__tables_end_statement(dec);
        return 0;
    }
    build_envelope_parts(dec, t, ev);
    if (!rl_buf_ok(&dec->head) || !rl_buf_ok(&dec->tail))
        return rl_err_set(err, -ENOMEM, "out of memory");
    /* Inside a TRANSACTION_PAYLOAD every change names the payload event, so rows are
     * numbered across its inner rows events. */
    row_ctx r = {t, ev, ev->inner ? dec->inner_row : 0, rl_now_ms()};
    while (rl_reader_left(&rd) > 0) {
        size_t before_row = rl_reader_left(&rd);
        int rc;
        if (kind == 'u') {
            rc = decode_image(dec, t, bm1.p, n1, &rd, 0, partial ? IMG_PARTIAL_BEFORE : IMG_PLAIN,
                              err);
            if (rc == 0)
                rc = decode_image(dec, t, bm2.p, n2, &rd, 1,
                                  partial ? IMG_PARTIAL_AFTER : IMG_PLAIN, err);
        } else {
            rc = decode_image(dec, t, bm1.p, n1, &rd, kind == 'c' ? 1 : 0, IMG_PLAIN, err);
        }
        /* An image of no columns takes no bytes: the rest of the event could never end. */
        if (rc == 0 && rl_reader_left(&rd) == before_row)
            rc = rl_err_set(err, RL_ECORRUPT, "row image with no columns present");
        if (rc == 0)
            rc = emit_row(dec, &r, kind, err);
        if (rc < 0)
            return rl_err_wrap(err, rc, "row %llu", (unsigned long long)r.row);
        r.row++;
    }
    if (ev->inner)
        dec->inner_row = r.row;
    if (flags & BINLOG_ROWS_STMT_END)
        binlog__tables_end_statement(dec);
    return 0;
}

void binlog__rows_free(binlog_decoder_t *dec)
{
    if (dec->rows_state) {
        rl_buf_free(&dec->rows_state->jtext);
        rl_buf_free(&dec->rows_state->jstr);
    }
    free(dec->rows_state);
    dec->rows_state = NULL;
}
