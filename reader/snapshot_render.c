/*
 * snapshot_render.c - snapshot values: text-protocol results to the JSON the binlog decoder
 * writes for the same value (docs/events.md; reader/rows.c put_value), and key values back
 * to SQL literals for keyset pagination.
 *
 * The session reads with character_set_results = NULL (bytes in the column's own character
 * set, as the binlog stores them), time_zone = '+00:00' (TIMESTAMP as the UTC instant) and
 * sql_mode = '' (no PAD_CHAR_TO_FULL_LENGTH: CHAR without trailing spaces, as the binlog).
 * Text forms (MariaDB sql/field.cc val_str, mysql-server sql/field.cc):
 *   integers, DECIMAL   decimal text, DECIMAL with exactly `scale` fraction digits
 *   FLOAT               selected as CAST(c AS DOUBLE): the float's exact value as a double
 *                       (FLOAT's own text has 6 digits and does not read back)
 *   DOUBLE              shortest text that reads back (re-printed as rows.c does)
 *   DATE, TIME          "YYYY-MM-DD", "[-]HHH:MM:SS[.f]" (fsp digits)
 *   DATETIME, TIMESTAMP "YYYY-MM-DD HH:MM:SS[.f]"; zero TIMESTAMP "0000-00-00 00:00:00[.f]"
 *   YEAR                "YYYY" ("0000" for 0)
 *   BIT(n)              the (n + 7) / 8 stored bytes, big-endian
 *   GEOMETRY            the stored bytes: SRID (4 bytes LE) + WKB
 *   ENUM, SET           the label; the labels joined by ','
 */
#include "reader/rows_int.h"
#include "reader/snapshot_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static int bad(const snap_table *t, uint32_t ci, rl_err *err, const char *what, const char *p,
               size_t n)
{
    return rl_err_set(err, RL_ECORRUPT, "`%s`.`%s` column %u `%s`: %s: '%.*s'", t->db, t->name,
                      ci + 1, t->cols[ci].name, what, (int)(n > 64 ? 64 : n), p);
}

/* Whether the n bytes at p are all in set (a NUL-terminated list of bytes); false for n == 0.
 * Digits, most of the bytes checked (every integer, decimal and temporal value), take a fast
 * path when set has them; other bytes are looked up in set. */
static bool all_of(const char *p, size_t n, const char *set)
{
    if (n == 0)
        return false;
    bool digits = strchr(set, '0') != NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (digits && (unsigned)(c - '0') < 10u)
            continue;
        if (!c || !strchr(set, c))
            return false;
    }
    return true;
}

/* Integer (dot false) or DECIMAL (dot true) text: digits, '-' and '.' only, n > 0; the same
 * bytes as all_of(p, n, "-0123456789") or "-.0123456789", without a lookup per byte. */
static bool is_number_text(const char *p, size_t n, bool dot)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)p[i];
        if (c - '0' < 10u || c == '-' || (dot && c == '.'))
            continue;
        return false;
    }
    return true;
}

static void put_quoted_raw(rl_buf *b, const char *p, size_t n)
{
    if (rl_buf_reserve(b, n + 2) != 0)
        return;
    uint8_t *o = b->p + b->len;
    o[0] = '"';
    memcpy(o + 1, p, n);
    o[n + 1] = '"';
    b->len += n + 2;
}

/* Whether the n bytes at p are printable ASCII that a JSON string holds as they are (0x20-0x7E
 * but '"' and '\\'): then UTF-8, latin1 (cp1252) and the decoder's conversions of both all
 * write the quoted bytes, and the per-byte conversion can be skipped. */
static bool is_plain_ascii(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)p[i];
        if (c - 0x20u >= 0x5Fu || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static void put_base64(rl_buf *b, const void *p, size_t n)
{
    rl_buf_putc(b, '"');
    rl_buf_base64(b, p, n);
    rl_buf_putc(b, '"');
}

static void put_text(rl_buf *b, const snap_col *c, const char *p, size_t n)
{
    if (c->latin1)
        binlog__json_latin1(b, (const uint8_t *)p, n);
    else
        rl_buf_json_str(b, p, n);
}

/* "YYYY-MM-DD HH:MM:SS[.f]": shape check (digits and separators). */
static bool is_datetime_text(const char *p, size_t n)
{
    if (n < 19 || p[4] != '-' || p[7] != '-' || p[10] != ' ' || p[13] != ':' || p[16] != ':')
        return false;
    if (n > 19 && (p[19] != '.' || n == 20 || n > 26 || !all_of(p + 20, n - 20, "0123456789")))
        return false;
    static const int dig[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    for (size_t i = 0; i < sizeof dig / sizeof dig[0]; i++)
        if (p[dig[i]] < '0' || p[dig[i]] > '9')
            return false;
    return true;
}

/* A MariaDB JSON column: its JSON string (as the plain text column's) into scratch[0], then
 * the decoder's own JSON_TEXT rendering from it, so snapshot and stream agree byte for byte. */
static int put_json_col(rl_buf *b, binlog_decoder_t *dec, rl_buf *scratch, const snap_col *c,
                        const char *p, size_t n)
{
    rl_buf *js = &scratch[0];
    rl_buf_reset(js);
    if (dec && c->cs > 0) {
        if (binlog__put_charset_text(dec, js, c->cs, (const uint8_t *)p, n) != 0)
            return -ENOMEM;
    } else {
        put_text(js, c, p, n);
    }
    if (!rl_buf_ok(js))
        return -ENOMEM;
    return binlog__put_json_from_str(b, &scratch[1], js->p, js->len);
}

int binlog__snap_value(rl_buf *b, binlog_decoder_t *dec, rl_buf *scratch, const snap_table *t,
                       uint32_t ci, const char *p, size_t n, rl_err *err)
{
    const snap_col *c = &t->cols[ci];
    char tmp[64];
    switch (c->kind) {
    case SNAP_K_INT:
        if (n > 21 || !is_number_text(p, n, false))
            return bad(t, ci, err, "not an integer", p, n);
        rl_buf_append(b, p, n);
        break;
    case SNAP_K_DECIMAL:
        if (n > 100 || !is_number_text(p, n, true))
            return bad(t, ci, err, "not a decimal", p, n);
        put_quoted_raw(b, p, n);
        break;
    case SNAP_K_FLOAT:
    case SNAP_K_DOUBLE: {
        if (n >= sizeof tmp || !all_of(p, n, "-+.0123456789eE"))
            return bad(t, ci, err, "not a number", p, n);
        memcpy(tmp, p, n);
        tmp[n] = 0;
        char *end;
        double d = strtod(tmp, &end);
        if (*end || !isfinite(d))
            return bad(t, ci, err, "not a finite number", p, n);
        if (c->kind == SNAP_K_FLOAT) {
            float f = (float)d;
            if ((double)f != d || !isfinite(f))
                return bad(t, ci, err, "not a FLOAT value", p, n);
            binlog__put_float(b, f);
        } else {
            binlog__put_double(b, d);
        }
        break;
    }
    case SNAP_K_DATE:
        if (n != 10 || p[4] != '-' || p[7] != '-' || !all_of(p, n, "-0123456789"))
            return bad(t, ci, err, "not a date", p, n);
        put_quoted_raw(b, p, n);
        break;
    case SNAP_K_TIME:
        if (n < 8 || n > 17 || !all_of(p, n, "-:.0123456789"))
            return bad(t, ci, err, "not a time", p, n);
        put_quoted_raw(b, p, n);
        break;
    case SNAP_K_DATETIME:
    case SNAP_K_TIMESTAMP: {
        if (!is_datetime_text(p, n))
            return bad(t, ci, err, "not a date and time", p, n);
        memcpy(tmp, p, n);
        tmp[10] = 'T';
        size_t len = n;
        if (c->kind == SNAP_K_TIMESTAMP) {
            /* MariaDB's zero TIMESTAMP is stored as 0 seconds: the decoder prints the epoch. */
            if (memcmp(tmp, "0000-00-00T00:00:00", 19) == 0)
                memcpy(tmp, "1970-01-01T00:00:00", 19);
            tmp[len++] = 'Z';
        }
        put_quoted_raw(b, tmp, len);
        break;
    }
    case SNAP_K_YEAR: {
        if (n != 4 || !all_of(p, n, "0123456789"))
            return bad(t, ci, err, "not a year", p, n);
        unsigned y =
            (unsigned)((p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0'));
        rl_buf_put_u64(b, y);
        break;
    }
    case SNAP_K_TEXT:
        if (c->json && scratch) {
            if (put_json_col(b, dec, scratch, c, p, n) != 0)
                return rl_err_set(err, -ENOMEM, "out of memory");
            break;
        }
        /* (Where the text goes through put_text below, or is UTF-8 or latin1.) */
        if ((!dec || c->cs <= 0 || c->cs == BINLOG_CS_UTF8 || c->cs == BINLOG_CS_LATIN1) &&
            is_plain_ascii(p, n)) {
            put_quoted_raw(b, p, n);
            break;
        }
        /* Through the decoder's own conversion (UTF-8 copied, latin1 as cp1252, others by
         * iconv, unconvertible bytes kept as an object): the same JSON as the binlog's. */
        if (dec && c->cs > 0) {
            if (binlog__put_charset_text(dec, b, c->cs, (const uint8_t *)p, n) != 0)
                return rl_err_set(err, -ENOMEM, "out of memory");
        } else {
            put_text(b, c, p, n);
        }
        break;
    case SNAP_K_BYTES:
        put_base64(b, p, n);
        break;
    case SNAP_K_BIT: {
        size_t want = (c->bits + 7) / 8;
        if (n > want || want > sizeof tmp)
            return bad(t, ci, err, "BIT value longer than its column", p, n);
        memset(tmp, 0, want - n);
        memcpy(tmp + (want - n), p, n);
        put_base64(b, tmp, want);
        break;
    }
    case SNAP_K_ENUM:
        put_text(b, c, p, n);
        break;
    case SNAP_K_SET: {
        rl_buf_putc(b, '[');
        size_t i = 0;
        while (i < n) {
            const char *comma = memchr(p + i, ',', n - i);
            size_t e = comma ? (size_t)(comma - p) : n;
            if (i)
                rl_buf_putc(b, ',');
            put_text(b, c, p + i, e - i);
            i = e + 1;
        }
        rl_buf_putc(b, ']');
        break;
    }
    default:
        return bad(t, ci, err, "column kind not rendered", p, n);
    }
    return rl_buf_ok(b) ? 0 : rl_err_set(err, -ENOMEM, "out of memory");
}

static void put_hex(rl_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        rl_buf_putc(b, hex[p[i] >> 4]);
        rl_buf_putc(b, hex[p[i] & 15]);
    }
}

/* Character set and collation names come from information_schema: letters, digits, '_'. */
static bool is_name(const char *s)
{
    return s && *s && all_of(s, strlen(s), "abcdefghijklmnopqrstuvwxyz0123456789_");
}

int binlog__snap_literal(rl_buf *b, const snap_col *c, const uint8_t *p, size_t n, rl_err *err)
{
    const char *s = (const char *)p;
    switch (c->kind) {
    case SNAP_K_INT:
    case SNAP_K_DECIMAL:
        if (!all_of(s, n, "-.0123456789"))
            return rl_err_set(err, RL_ECORRUPT, "key column `%s`: not a number", c->name);
        rl_buf_append(b, s, n);
        break;
    case SNAP_K_DATE:
    case SNAP_K_TIME:
    case SNAP_K_DATETIME:
    case SNAP_K_TIMESTAMP:
    case SNAP_K_YEAR:
        if (!all_of(s, n, "-:. 0123456789"))
            return rl_err_set(err, RL_ECORRUPT, "key column `%s`: not a temporal value", c->name);
        rl_buf_putc(b, '\'');
        rl_buf_append(b, s, n);
        rl_buf_putc(b, '\'');
        break;
    case SNAP_K_TEXT:
        if (!is_name(c->charset) || !is_name(c->collation))
            return rl_err_set(err, RL_ECORRUPT, "key column `%s`: character set unknown", c->name);
        rl_buf_printf(b, "_%s X'", c->charset);
        put_hex(b, p, n);
        rl_buf_printf(b, "' COLLATE %s", c->collation);
        break;
    case SNAP_K_BYTES:
        rl_buf_puts(b, "X'");
        put_hex(b, p, n);
        rl_buf_putc(b, '\'');
        break;
    default:
        return rl_err_set(err, RL_ECORRUPT, "key column `%s` cannot be paginated", c->name);
    }
    return rl_buf_ok(b) ? 0 : rl_err_set(err, -ENOMEM, "out of memory");
}

void binlog__snap_ident(rl_buf *b, const char *name)
{
    rl_buf_putc(b, '`');
    for (const char *q = name; *q; q++) {
        if (*q == '`')
            rl_buf_putc(b, '`');
        rl_buf_putc(b, *q);
    }
    rl_buf_putc(b, '`');
}
