/*
 * json_binary.c - MySQL binary JSON (column type 245 on MySQL 5.7+) to JSON text, and the JSON
 * diffs of PARTIAL_UPDATE_ROWS applied to a before image.
 *
 * Sources: mysql-server sql-common/json_binary.cc (the format, parse_binary, parse_value,
 * parse_array_or_object, read_variable_length), sql-common/json_dom.cc (wrapper_to_string,
 * double_quote: how MySQL prints a document), strings/dtoa.cc (my_gcvt: doubles),
 * sql-common/my_time.cc (TIME_from_longlong_*_packed, my_TIME_to_str), sql/json_diff.cc
 * (Json_diff_vector::read_binary, apply_json_diffs). The output is specified in docs/events.md.
 * Integers little-endian.
 *
 * Document      type u8, value
 * Types         0x00 small object, 0x01 large object, 0x02 small array, 0x03 large array,
 *               0x04 literal (u8: 0 null, 1 true, 2 false), 0x05 int16, 0x06 uint16,
 *               0x07 int32, 0x08 uint32, 0x09 int64, 0x0a uint64, 0x0b double (IEEE 754),
 *               0x0c string (variable length + utf8mb4 bytes), 0x0f opaque (field type u8,
 *               variable length, bytes)
 * Object/array  count, size (2 bytes each when small, 4 when large; size counts every byte of
 *               the container from `count` on), then for objects count key entries
 *               (offset 2|4, length u16), then count value entries (type u8, offset 2|4 or
 *               the value inlined: literal, int16, uint16 always, int32, uint32 in large
 *               containers), then keys and values. Offsets count from `count`.
 * Variable len  1-5 bytes, 7 bits each, least significant first, high bit = more follows
 * Opaque        NEWDECIMAL (246): precision u8, scale u8, binary decimal; DATE (10), TIME (11),
 *               DATETIME (12), TIMESTAMP (7): 8-byte packed time (int64, integer part << 24 |
 *               microseconds; datetime integer part = ((year*13+month) << 5 | day) << 17 |
 *               hour << 12 | minute << 6 | second, time integer part = hour << 12 | minute << 6
 *               | second, negative times negated); VAR_STRING (253): a string; others: bytes.
 *
 * Printing follows MySQL (what SELECT and JSON_EXTRACT show): "{"a": 1, "b": [true, null]}"
 * with ", " and ": ", keys in stored order, strings escaped by double_quote (\" \\ \b \f \n
 * \r \t, other bytes below 0x20 as \u00xx, nothing else), doubles by my_gcvt (shortest
 * round-trip digits, 'e' form outside 1e-15..1e15) with ".0" appended when neither '.' nor
 * 'e' was printed, decimals with their scale's digits, temporal values quoted with 6
 * fractional digits ("2015-01-15 23:24:25.000000", "-838:59:59.000000", "2015-01-15"), other
 * opaque values as "base64:typeN:<base64 with a newline every 76 characters>".
 */
#include "reader/rows_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    JT_SMALL_OBJECT = 0x00,
    JT_LARGE_OBJECT = 0x01,
    JT_SMALL_ARRAY = 0x02,
    JT_LARGE_ARRAY = 0x03,
    JT_LITERAL = 0x04,
    JT_INT16 = 0x05,
    JT_UINT16 = 0x06,
    JT_INT32 = 0x07,
    JT_UINT32 = 0x08,
    JT_INT64 = 0x09,
    JT_UINT64 = 0x0a,
    JT_DOUBLE = 0x0b,
    JT_STRING = 0x0c,
    JT_OPAQUE = 0x0f,
};

enum {
    OPAQUE_TIMESTAMP = 7,
    OPAQUE_DATE = 10,
    OPAQUE_TIME = 11,
    OPAQUE_DATETIME = 12,
    OPAQUE_VAR_STRING = 253,
    OPAQUE_NEWDECIMAL = 246
};

enum { DIFF_REPLACE = 0, DIFF_INSERT = 1, DIFF_REMOVE = 2 };

#define NO_NODE UINT32_MAX

/* Where in the document an error happened: offsets are from the document's first byte. */
typedef struct jctx {
    const uint8_t *doc;
    rl_err *err;
} jctx;

static int jerr(const jctx *j, const uint8_t *at, const char *what)
{
    return rl_err_set(j->err, RL_ECORRUPT, "binary JSON: %s at byte %zu of the document", what,
                      at && j->doc && at >= j->doc ? (size_t)(at - j->doc) : (size_t)0);
}

/* ------------------------------------------------------------------ text helpers */

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). MySQL keeps
 * JSON strings and keys in utf8mb4, so anything else is a damaged document. */
static bool utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* MySQL's double_quote (sql-common/json_dom.cc). The bytes must be valid UTF-8 (checked by
 * the callers), so the output is valid JSON. */
static void put_quoted(rl_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    rl_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c > 0x1f && c != '"' && c != '\\')
            continue;
        rl_buf_append(b, p + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        rl_buf_append(b, esc, el);
    }
    rl_buf_append(b, p + run, n - run);
    rl_buf_putc(b, '"');
}

/* Shortest round-trip digits of a finite double (dtoa mode 0): digits without sign, leading
 * or trailing zeros ("0" for zero); the value is 0.DIGITS x 10^decpt. */
static int shortest_digits(double x, char dig[24], int *decpt)
{
    char tmp[40];
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*e", prec - 1, fabs(x));
        if (strtod(tmp, NULL) == fabs(x))
            break;
    }
    /* tmp: "d[.ddd]e[+-]XX" */
    int len = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            dig[len++] = *p;
    int e = *p == 'e' ? atoi(p + 1) : 0;
    while (len > 1 && dig[len - 1] == '0')
        len--;
    dig[len] = '\0';
    *decpt = dig[0] == '0' ? 1 : e + 1;
    (void)n;
    return len;
}

/* my_gcvt(x, MY_GCVT_ARG_DOUBLE, MY_GCVT_MAX_FIELD_WIDTH = 34) with shortest digits (dtoa
 * mode 4 with 34 digits yields the shortest round-trip string), then ".0" when neither '.'
 * nor 'e' was written, as wrapper_to_string does. Digits never need truncation at this width
 * (at most 17 digits, f format only for decpt in -14..15 or len > decpt). */
static void put_json_double(rl_buf *b, double x)
{
    char dig[24], out[64];
    int decpt;
    int len = shortest_digits(x, dig, &decpt);
    int width = 34;
    bool neg = signbit(x);
    if (x < 0.)
        width--;
    int exp_len = 1 + (decpt >= 101 || decpt <= -99) + (decpt >= 11 || decpt <= -9);
    bool have_space = (decpt <= 0                 ? len - decpt + 2
                       : decpt > 0 && decpt < len ? len + 1
                                                  : decpt) <= width;
    bool force_e = decpt <= 0 && width <= 2 - decpt && width >= 3 + exp_len;
    char *o = out;
    if ((have_space ||
         ((decpt <= width && (decpt >= -1 || (decpt == -2 && (len > 1 || !force_e)))) &&
          !force_e)) &&
        (!have_space || (decpt >= -15 + 1 && (decpt <= 15 || len > decpt)))) {
        if (neg)
            *o++ = '-';
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int z = decpt; z < 0; z++)
                *o++ = '0';
        }
        int i;
        for (i = 1; i <= len; i++) {
            *o++ = dig[i - 1];
            if (i == decpt && i < len)
                *o++ = '.';
        }
        while (i++ <= decpt)
            *o++ = '0';
    } else {
        int e = decpt - 1;
        bool eneg = e < 0;
        if (eneg)
            e = -e;
        if (neg)
            *o++ = '-';
        *o++ = dig[0];
        if (len > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)len - 1);
            o += len - 1;
        }
        *o++ = 'e';
        if (eneg)
            *o++ = '-';
        o += snprintf(o, 8, "%d", e);
    }
    bool has = false;
    for (char *q = out; q < o; q++)
        if (*q == '.' || *q == 'e')
            has = true;
    if (!has) {
        *o++ = '.';
        *o++ = '0';
    }
    rl_buf_append(b, out, (size_t)(o - out));
}

/* MySQL base64_encode (mysys/base64.cc): standard alphabet, padding, '\n' after every 76
 * characters (not at the end). */
static void put_mysql_base64(rl_buf *b, const uint8_t *p, size_t n)
{
    for (size_t at = 0; at < n; at += 57) {
        if (at)
            rl_buf_putc(b, '\n');
        rl_buf_base64(b, p + at, n - at < 57 ? n - at : 57);
    }
}

/* ------------------------------------------------------------------ scalars */

/* Reads a variable-length size (json_binary.cc read_variable_length). */
static bool get_varlen(rl_reader *rd, uint32_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 5; i++) {
        uint8_t c = rl_get_u8(rd);
        if (rd->err)
            return false;
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            if (v > UINT32_MAX)
                return false;
            *out = (uint32_t)v;
            return true;
        }
    }
    return false;
}

static int put_packed_time(const jctx *j, rl_buf *b, uint8_t ftype, const uint8_t *at,
                           rl_slice data)
{
    if (data.len != 8)
        return jerr(j, at, "temporal value not 8 bytes");
    rl_reader r = rl_reader_make(data);
    int64_t v = (int64_t)rl_get_u64le(&r);
    bool neg = v < 0;
    uint64_t a = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint32_t usec = (uint32_t)(a & 0xFFFFFF);
    uint64_t ip = a >> 24;
    char tmp[64];
    int n;
    if (usec > 999999)
        return jerr(j, at, "temporal fraction out of range");
    if (ftype == OPAQUE_TIME) {
        unsigned h = (unsigned)((ip >> 12) % (1u << 10)), mi = (unsigned)((ip >> 6) % 64),
                 s = (unsigned)(ip % 64);
        if (mi > 59 || s > 59)
            return jerr(j, at, "TIME out of range");
        n = snprintf(tmp, sizeof tmp, "\"%s%02u:%02u:%02u.%06u\"", neg ? "-" : "", h, mi, s, usec);
    } else {
        uint64_t ymd = ip >> 17, ym = ymd >> 5, hms = ip % (1u << 17);
        unsigned d = (unsigned)(ymd % 32), m = (unsigned)(ym % 13), y = (unsigned)(ym / 13);
        unsigned s = (unsigned)(hms % 64), mi = (unsigned)((hms >> 6) % 64),
                 h = (unsigned)(hms >> 12);
        if (neg || y > 9999 || mi > 59 || s > 59 || h > 23)
            return jerr(j, at, "DATE/DATETIME out of range");
        if (ftype == OPAQUE_DATE)
            n = snprintf(tmp, sizeof tmp, "\"%04u-%02u-%02u\"", y, m, d);
        else
            n = snprintf(tmp, sizeof tmp, "\"%04u-%02u-%02u %02u:%02u:%02u.%06u\"", y, m, d, h, mi,
                         s, usec);
    }
    rl_buf_append(b, tmp, (size_t)n);
    return 0;
}

static int put_opaque(const jctx *j, rl_buf *b, const uint8_t *at, uint8_t ftype, rl_slice data)
{
    switch (ftype) {
    case OPAQUE_NEWDECIMAL: {
        if (data.len < 2)
            return jerr(j, at, "DECIMAL without precision and scale");
        unsigned prec = data.p[0], scale = data.p[1];
        if (prec == 0 || prec > 65 || scale > prec || scale > 30)
            return jerr(j, at, "DECIMAL precision or scale out of range");
        unsigned intg = prec - scale;
        size_t size = (intg / 9) * 4u + binlog__dig2bytes[intg % 9] + (scale / 9) * 4u +
                      binlog__dig2bytes[scale % 9];
        if (data.len - 2 != size)
            return jerr(j, at, "DECIMAL size does not match its precision");
        char txt[160];
        int n = binlog__decimal_text(txt, data.p + 2, prec, scale, size);
        if (n < 0)
            return jerr(j, at, "DECIMAL digit group out of range");
        rl_buf_append(b, txt, (size_t)n);
        return 0;
    }
    case OPAQUE_DATE:
    case OPAQUE_TIME:
    case OPAQUE_DATETIME:
    case OPAQUE_TIMESTAMP:
        return put_packed_time(j, b, ftype, at, data);
    case OPAQUE_VAR_STRING:
        if (!utf8_valid(data.p, data.len))
            return jerr(j, at, "string not valid UTF-8");
        put_quoted(b, data.p, data.len);
        return 0;
    default: {
        /* "base64:typeN:..." is a JSON string: its line breaks are escaped as \n. */
        rl_buf tmp = RL_BUF_INIT;
        char head[32];
        int n = snprintf(head, sizeof head, "base64:type%u:", ftype);
        rl_buf_append(&tmp, head, (size_t)n);
        put_mysql_base64(&tmp, data.p, data.len);
        if (!rl_buf_ok(&tmp)) {
            rl_buf_free(&tmp);
            return rl_err_set(j->err, -ENOMEM, "out of memory");
        }
        put_quoted(b, tmp.p, tmp.len);
        rl_buf_free(&tmp);
        return 0;
    }
    }
}

/* Prints a scalar of type t whose bytes start at v (v.len = bytes available). */
static int put_scalar(const jctx *j, rl_buf *b, uint8_t t, rl_slice v)
{
    rl_reader r = rl_reader_make(v);
    switch (t) {
    case JT_LITERAL: {
        uint8_t l = rl_get_u8(&r);
        if (r.err || l > 2)
            return jerr(j, v.p, "bad literal");
        static const char *const lit[] = {"null", "true", "false"};
        rl_buf_puts(b, lit[l]);
        return 0;
    }
    case JT_INT16:
        rl_buf_put_i64(b, (int16_t)rl_get_u16le(&r));
        break;
    case JT_UINT16:
        rl_buf_put_u64(b, rl_get_u16le(&r));
        break;
    case JT_INT32:
        rl_buf_put_i64(b, (int32_t)rl_get_u32le(&r));
        break;
    case JT_UINT32:
        rl_buf_put_u64(b, rl_get_u32le(&r));
        break;
    case JT_INT64:
        rl_buf_put_i64(b, (int64_t)rl_get_u64le(&r));
        break;
    case JT_UINT64:
        rl_buf_put_u64(b, rl_get_u64le(&r));
        break;
    case JT_DOUBLE: {
        uint64_t x = rl_get_u64le(&r);
        double d;
        memcpy(&d, &x, sizeof d);
        if (r.err)
            break;
        if (!isfinite(d))
            return jerr(j, v.p, "double is not finite");
        put_json_double(b, d);
        return 0;
    }
    case JT_STRING: {
        uint32_t n;
        if (!get_varlen(&r, &n))
            return jerr(j, v.p, "bad string length");
        rl_slice s = rl_get_bytes(&r, n);
        if (r.err)
            return jerr(j, v.p, "string runs past its container");
        if (!utf8_valid(s.p, s.len))
            return jerr(j, v.p, "string not valid UTF-8");
        put_quoted(b, s.p, s.len);
        return 0;
    }
    case JT_OPAQUE: {
        uint8_t ft = rl_get_u8(&r);
        uint32_t n;
        if (r.err || !get_varlen(&r, &n))
            return jerr(j, v.p, "bad opaque value header");
        rl_slice s = rl_get_bytes(&r, n);
        if (r.err)
            return jerr(j, v.p, "opaque value runs past its container");
        return put_opaque(j, b, v.p, ft, s);
    }
    default:
        return jerr(j, v.p, "unknown value type");
    }
    if (r.err)
        return jerr(j, v.p, "number runs past its container");
    return 0;
}

/* ------------------------------------------------------------------ containers */

typedef struct jcont {
    const uint8_t *base; /* first byte (the count) */
    size_t size;         /* bytes of the container */
    uint32_t count;
    bool large, object;
} jcont;

static bool is_container(uint8_t t)
{
    return t <= JT_LARGE_ARRAY;
}

static int cont_open(const jctx *j, jcont *c, uint8_t t, rl_slice v)
{
    c->large = t == JT_LARGE_OBJECT || t == JT_LARGE_ARRAY;
    c->object = t == JT_SMALL_OBJECT || t == JT_LARGE_OBJECT;
    c->base = v.p;
    size_t os = c->large ? 4 : 2;
    rl_reader r = rl_reader_make(v);
    c->count = (uint32_t)rl_get_uNle(&r, os);
    uint64_t size = rl_get_uNle(&r, os);
    if (r.err)
        return jerr(j, v.p, "container header runs past the data");
    if (size > v.len)
        return jerr(j, v.p, "container size beyond the data");
    c->size = (size_t)size;
    uint64_t hdr =
        2 * os + (uint64_t)c->count * (c->object ? os + 2 : 0) + (uint64_t)c->count * (1 + os);
    if (hdr > c->size)
        return jerr(j, v.p, "container header larger than the container");
    return 0;
}

static int cont_key(const jctx *j, const jcont *c, uint32_t i, rl_slice *key)
{
    size_t os = c->large ? 4 : 2;
    const uint8_t *e = c->base + 2 * os + (size_t)i * (os + 2);
    rl_reader r = rl_reader_make(rl_slice_make(e, os + 2));
    uint64_t off = rl_get_uNle(&r, os);
    uint16_t len = rl_get_u16le(&r);
    if (off > c->size || len > c->size - off)
        return jerr(j, e, "key out of its object");
    *key = rl_slice_make(c->base + off, len);
    if (!utf8_valid(key->p, key->len))
        return jerr(j, e, "key not valid UTF-8");
    return 0;
}

/* Value i: its type and its bytes (for inlined values, the entry's value field). */
static int cont_value(const jctx *j, const jcont *c, uint32_t i, uint8_t *t, rl_slice *v)
{
    size_t os = c->large ? 4 : 2;
    const uint8_t *e =
        c->base + 2 * os + (c->object ? (size_t)c->count * (os + 2) : 0) + (size_t)i * (1 + os);
    *t = e[0];
    bool inl = *t == JT_LITERAL || *t == JT_INT16 || *t == JT_UINT16 ||
               (c->large && (*t == JT_INT32 || *t == JT_UINT32));
    if (inl) {
        *v = rl_slice_make(e + 1, os);
        return 0;
    }
    rl_reader r = rl_reader_make(rl_slice_make(e + 1, os));
    uint64_t off = rl_get_uNle(&r, os);
    if (off >= c->size)
        return jerr(j, e, "value offset out of its container");
    *v = rl_slice_make(c->base + off, c->size - (size_t)off);
    return 0;
}

static int print_value(const jctx *j, rl_buf *b, uint8_t t, rl_slice v, unsigned depth)
{
    if (!is_container(t))
        return put_scalar(j, b, t, v);
    if (depth + 1 > BINLOG_JSON_MAX_DEPTH)
        return jerr(j, v.p, "document nested deeper than 100 levels");
    jcont c;
    int rc = cont_open(j, &c, t, v);
    if (rc < 0)
        return rc;
    rl_buf_putc(b, c.object ? '{' : '[');
    for (uint32_t i = 0; i < c.count; i++) {
        if (i)
            rl_buf_append(b, ", ", 2);
        if (c.object) {
            rl_slice k;
            rc = cont_key(j, &c, i, &k);
            if (rc < 0)
                return rc;
            put_quoted(b, k.p, k.len);
            rl_buf_append(b, ": ", 2);
        }
        uint8_t et;
        rl_slice ev;
        rc = cont_value(j, &c, i, &et, &ev);
        if (rc == 0)
            rc = print_value(j, b, et, ev, depth + 1);
        if (rc < 0)
            return rc;
    }
    rl_buf_putc(b, c.object ? '}' : ']');
    return 0;
}

int binlog__json_print(rl_buf *out, rl_slice doc, rl_err *err)
{
    jctx j = {doc.p, err};
    if (doc.len == 0) {
        rl_buf_puts(out, "null");
    } else {
        int rc = print_value(&j, out, doc.p[0], rl_slice_make(doc.p + 1, doc.len - 1), 0);
        if (rc < 0)
            return rc;
    }
    if (!rl_buf_ok(out))
        return rl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------------ documents as nodes */

typedef struct jdom {
    struct binlog_charsets *cs;
    jctx j;
} jdom;

static uint32_t node_new(jdom *d, uint8_t kind)
{
    struct binlog_charsets *cs = d->cs;
    if (cs->nnodes == cs->nodes_cap) {
        size_t nc = cs->nodes_cap ? cs->nodes_cap * 2 : 64;
        if (nc >= NO_NODE)
            return NO_NODE;
        binlog_jnode *nn = realloc(cs->nodes, nc * sizeof *nn);
        if (!nn)
            return NO_NODE;
        cs->nodes = nn;
        cs->nodes_cap = nc;
    }
    uint32_t i = (uint32_t)cs->nnodes++;
    binlog_jnode *n = &cs->nodes[i];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->first = n->next = NO_NODE;
    return i;
}

static binlog_jnode *node(jdom *d, uint32_t i)
{
    return &d->cs->nodes[i];
}

/* Builds the nodes of a binary value; returns its node index or NO_NODE (error set). */
static uint32_t build_value(jdom *d, uint8_t t, rl_slice v, unsigned depth, int *rc)
{
    if (!is_container(t)) {
        uint32_t ni = node_new(d, BINLOG_JN_SCALAR);
        if (ni == NO_NODE) {
            *rc = rl_err_set(d->j.err, -ENOMEM, "out of memory");
            return NO_NODE;
        }
        size_t off = d->cs->jtext.len;
        *rc = put_scalar(&d->j, &d->cs->jtext, t, v);
        if (*rc < 0)
            return NO_NODE;
        node(d, ni)->text_off = off;
        node(d, ni)->text_len = d->cs->jtext.len - off;
        return ni;
    }
    if (depth + 1 > BINLOG_JSON_MAX_DEPTH) {
        *rc = jerr(&d->j, v.p, "document nested deeper than 100 levels");
        return NO_NODE;
    }
    jcont c;
    *rc = cont_open(&d->j, &c, t, v);
    if (*rc < 0)
        return NO_NODE;
    uint32_t ni = node_new(d, c.object ? BINLOG_JN_OBJECT : BINLOG_JN_ARRAY);
    if (ni == NO_NODE) {
        *rc = rl_err_set(d->j.err, -ENOMEM, "out of memory");
        return NO_NODE;
    }
    uint32_t last = NO_NODE;
    for (uint32_t i = 0; i < c.count; i++) {
        rl_slice k = {NULL, 0};
        if (c.object && (*rc = cont_key(&d->j, &c, i, &k)) < 0)
            return NO_NODE;
        uint8_t et;
        rl_slice ev;
        if ((*rc = cont_value(&d->j, &c, i, &et, &ev)) < 0)
            return NO_NODE;
        uint32_t ci = build_value(d, et, ev, depth + 1, rc);
        if (ci == NO_NODE)
            return NO_NODE;
        node(d, ci)->key_off = d->cs->jtext.len;
        node(d, ci)->key_len = k.len;
        rl_buf_append(&d->cs->jtext, k.p, k.len);
        if (last == NO_NODE)
            node(d, ni)->first = ci;
        else
            node(d, last)->next = ci;
        last = ci;
    }
    return ni;
}

static uint32_t build_doc(jdom *d, rl_slice doc, int *rc)
{
    jctx saved = d->j;
    d->j.doc = doc.p;
    uint32_t ni;
    if (doc.len == 0) {
        /* The empty document is the JSON null literal (json_binary.cc parse_binary). */
        static const uint8_t null_lit[1] = {0};
        ni = build_value(d, JT_LITERAL, rl_slice_make(null_lit, 1), 0, rc);
    } else {
        ni = build_value(d, doc.p[0], rl_slice_make(doc.p + 1, doc.len - 1), 0, rc);
    }
    d->j = saved;
    return ni;
}

static void print_node(jdom *d, rl_buf *b, uint32_t ni)
{
    binlog_jnode *n = node(d, ni);
    if (n->kind == BINLOG_JN_SCALAR) {
        rl_buf_append(b, d->cs->jtext.p + n->text_off, n->text_len);
        return;
    }
    bool obj = n->kind == BINLOG_JN_OBJECT;
    rl_buf_putc(b, obj ? '{' : '[');
    for (uint32_t ci = n->first; ci != NO_NODE; ci = node(d, ci)->next) {
        if (ci != n->first)
            rl_buf_append(b, ", ", 2);
        if (obj) {
            put_quoted(b, d->cs->jtext.p + node(d, ci)->key_off, node(d, ci)->key_len);
            rl_buf_append(b, ": ", 2);
        }
        print_node(d, b, ci);
    }
    rl_buf_putc(b, obj ? '}' : ']');
}

/* ------------------------------------------------------------------ paths and diffs */

/* One path leg: a member name (decoded, in jtext) or an array index. */
typedef struct jleg {
    bool member;
    size_t key_off, key_len;
    uint64_t index;
} jleg;

enum { MAX_LEGS = BINLOG_JSON_MAX_DEPTH + 1 };

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(rl_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    rl_buf_append(b, u, n);
}

/* Parses a MySQL JSON path as Json_path::to_string writes it ("$", "$.a", "$.\"b c\"[3]"):
 * member names bare (ECMAScript identifiers) or double-quoted with JSON escapes, array
 * indexes as [N]. Decoded member names go to jtext. Returns the number of legs or -1. */
static int parse_path(jdom *d, rl_slice path, jleg *legs)
{
    const uint8_t *p = path.p, *e = path.p + path.len;
    rl_buf *t = &d->cs->jtext;
    if (p == e || *p != '$')
        return -1;
    p++;
    int n = 0;
    while (p < e) {
        while (p < e && *p == ' ')
            p++;
        if (p == e)
            break;
        if (n == MAX_LEGS)
            return -1;
        jleg *l = &legs[n++];
        if (*p == '[') {
            p++;
            uint64_t v = 0;
            const uint8_t *s = p;
            while (p < e && *p >= '0' && *p <= '9') {
                if (v > (UINT64_MAX - 9) / 10)
                    return -1;
                v = v * 10 + (uint64_t)(*p++ - '0');
            }
            if (p == s || p == e || *p != ']')
                return -1;
            p++;
            l->member = false;
            l->index = v;
            continue;
        }
        if (*p != '.')
            return -1;
        p++;
        l->member = true;
        l->key_off = t->len;
        if (p < e && *p == '"') {
            p++;
            for (;;) {
                if (p == e)
                    return -1;
                uint8_t c = *p++;
                if (c == '"')
                    break;
                if (c != '\\') {
                    rl_buf_putc(t, (char)c);
                    continue;
                }
                if (p == e)
                    return -1;
                c = *p++;
                switch (c) {
                case 'b':
                    rl_buf_putc(t, '\b');
                    break;
                case 'f':
                    rl_buf_putc(t, '\f');
                    break;
                case 'n':
                    rl_buf_putc(t, '\n');
                    break;
                case 'r':
                    rl_buf_putc(t, '\r');
                    break;
                case 't':
                    rl_buf_putc(t, '\t');
                    break;
                case 'u': {
                    uint32_t cp = 0;
                    for (int k = 0; k < 4; k++) {
                        int h = p < e ? hexval(*p++) : -1;
                        if (h < 0)
                            return -1;
                        cp = cp << 4 | (uint32_t)h;
                    }
                    if (cp >= 0xD800 && cp < 0xDC00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                        uint32_t lo = 0;
                        for (int k = 2; k < 6; k++) {
                            int h = hexval(p[k]);
                            if (h < 0)
                                return -1;
                            lo = lo << 4 | (uint32_t)h;
                        }
                        if (lo < 0xDC00 || lo > 0xDFFF)
                            return -1;
                        p += 6;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    put_utf8(t, cp);
                    break;
                }
                default:
                    rl_buf_putc(t, (char)c);
                }
            }
        } else {
            const uint8_t *s = p;
            while (p < e && *p != '.' && *p != '[' && *p != ' ')
                p++;
            if (p == s)
                return -1;
            rl_buf_append(t, s, (size_t)(p - s));
        }
        l->key_len = t->len - l->key_off;
        if (rl_buf_ok(t) && !utf8_valid(t->p + l->key_off, l->key_len))
            return -1;
    }
    return n;
}

static bool key_eq(jdom *d, uint32_t ni, const jleg *l)
{
    const binlog_jnode *n = node(d, ni);
    return n->key_len == l->key_len &&
           memcmp(d->cs->jtext.p + n->key_off, d->cs->jtext.p + l->key_off, l->key_len) == 0;
}

/* Finds the child of `parent` that leg names; *prev receives its predecessor (NO_NODE when it
 * is the first). Returns NO_NODE when absent or when the leg does not fit the parent. */
static uint32_t find_child(jdom *d, uint32_t parent, const jleg *l, uint32_t *prev)
{
    binlog_jnode *p = node(d, parent);
    *prev = NO_NODE;
    if ((p->kind == BINLOG_JN_OBJECT) != l->member || p->kind == BINLOG_JN_SCALAR)
        return NO_NODE;
    uint64_t i = 0;
    for (uint32_t ci = p->first; ci != NO_NODE; ci = node(d, ci)->next, i++) {
        if (l->member ? key_eq(d, ci, l) : i == l->index)
            return ci;
        *prev = ci;
    }
    return NO_NODE;
}

/* MySQL's Json_object orders members by key length, then bytes (Json_key_comparator). */
static bool key_before(jdom *d, uint32_t a, const jleg *l)
{
    const binlog_jnode *n = node(d, a);
    if (n->key_len != l->key_len)
        return n->key_len < l->key_len;
    return memcmp(d->cs->jtext.p + n->key_off, d->cs->jtext.p + l->key_off, l->key_len) < 0;
}

static void link_after(jdom *d, uint32_t parent, uint32_t prev, uint32_t ni)
{
    if (prev == NO_NODE) {
        node(d, ni)->next = node(d, parent)->first;
        node(d, parent)->first = ni;
    } else {
        node(d, ni)->next = node(d, prev)->next;
        node(d, prev)->next = ni;
    }
}

static int apply_one(jdom *d, uint32_t *root, uint8_t op, rl_slice path, rl_slice value)
{
    jleg legs[MAX_LEGS];
    int n = parse_path(d, path, legs);
    if (!rl_buf_ok(&d->cs->jtext))
        return rl_err_set(d->j.err, -ENOMEM, "out of memory");
    if (n < 0)
        return rl_err_set(d->j.err, RL_ECORRUPT, "JSON diff: bad path \"%.*s\"",
                          (int)(path.len > 200 ? 200 : path.len), (const char *)path.p);
    uint32_t nv = NO_NODE;
    if (op != DIFF_REMOVE) {
        int rc = 0;
        nv = build_doc(d, value, &rc);
        if (nv == NO_NODE)
            return rl_err_wrap(d->j.err, rc, "JSON diff value for \"%.*s\"",
                               (int)(path.len > 200 ? 200 : path.len), (const char *)path.p);
    }
    if (n == 0) {
        if (op != DIFF_REPLACE)
            return rl_err_set(d->j.err, RL_ECORRUPT, "JSON diff: %s of the whole document",
                              op == DIFF_INSERT ? "INSERT" : "REMOVE");
        *root = nv;
        return 0;
    }
    uint32_t parent = *root, prev;
    for (int i = 0; i < n - 1; i++) {
        parent = find_child(d, parent, &legs[i], &prev);
        if (parent == NO_NODE)
            return rl_err_set(d->j.err, RL_ECORRUPT,
                              "JSON diff: path \"%.*s\" not in the before image",
                              (int)(path.len > 200 ? 200 : path.len), (const char *)path.p);
    }
    const jleg *l = &legs[n - 1];
    uint32_t cur = find_child(d, parent, l, &prev);
    binlog_jnode *pn = node(d, parent);
    bool fits = pn->kind != BINLOG_JN_SCALAR && (pn->kind == BINLOG_JN_OBJECT) == l->member;
    if (op == DIFF_INSERT && fits && cur == NO_NODE) {
        if (l->member) {
            /* Keep the object's member order. */
            prev = NO_NODE;
            for (uint32_t ci = pn->first; ci != NO_NODE && key_before(d, ci, l);
                 ci = node(d, ci)->next)
                prev = ci;
            node(d, nv)->key_off = l->key_off;
            node(d, nv)->key_len = l->key_len;
        } else {
            /* Past the end appends (Json_array::insert_alias). */
            prev = NO_NODE;
            uint64_t i = 0;
            for (uint32_t ci = pn->first; ci != NO_NODE && i < l->index;
                 ci = node(d, ci)->next, i++)
                prev = ci;
        }
        link_after(d, parent, prev, nv);
        return 0;
    }
    if (op == DIFF_INSERT && fits && !l->member) {
        /* Inserting at an existing index shifts the rest right. */
        link_after(d, parent, prev, nv);
        return 0;
    }
    if (cur == NO_NODE)
        return rl_err_set(d->j.err, RL_ECORRUPT, "JSON diff: path \"%.*s\" not in the before image",
                          (int)(path.len > 200 ? 200 : path.len), (const char *)path.p);
    uint32_t after = node(d, cur)->next;
    if (prev == NO_NODE)
        node(d, parent)->first = after;
    else
        node(d, prev)->next = after;
    if (op == DIFF_REMOVE)
        return 0;
    /* REPLACE, or INSERT of an existing member (Json_object::add_alias replaces it). */
    node(d, nv)->key_off = node(d, cur)->key_off;
    node(d, nv)->key_len = node(d, cur)->key_len;
    link_after(d, parent, prev, nv);
    return 0;
}

int binlog__json_apply_diffs(struct binlog_charsets *cs, rl_slice before, rl_slice diffs,
                             rl_buf *out, rl_err *err)
{
    jdom d = {cs, {before.p, err}};
    cs->nnodes = 0;
    rl_buf_reset(&cs->jtext);
    int rc = 0;
    uint32_t root = build_doc(&d, before, &rc);
    if (root == NO_NODE)
        return rl_err_wrap(err, rc, "before image");
    rl_reader r = rl_reader_make(diffs);
    unsigned k = 0;
    while (rl_reader_left(&r) > 0) {
        uint8_t op = rl_get_u8(&r);
        uint64_t pl = rl_get_lenenc(&r);
        rl_slice path = rl_get_bytes(&r, r.err ? 0 : (size_t)pl);
        rl_slice value = {NULL, 0};
        if (!r.err && op != DIFF_REMOVE) {
            uint64_t vl = rl_get_lenenc(&r);
            value = rl_get_bytes(&r, r.err ? 0 : (size_t)vl);
        }
        if (r.err || op > DIFF_REMOVE)
            return rl_err_set(err, RL_ECORRUPT, "JSON diff %u: bad operation %u or length", k + 1,
                              op);
        d.j.doc = value.p;
        rc = apply_one(&d, &root, op, path, value);
        if (rc < 0)
            return rl_err_wrap(err, rc, "JSON diff %u", k + 1);
        k++;
    }
    print_node(&d, out, root);
    if (!rl_buf_ok(out) || !rl_buf_ok(&cs->jtext))
        return rl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}
