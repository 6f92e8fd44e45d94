/*
 * json_check.c - a strict, allocation-free JSON validator (RFC 8259) and the embedding rule
 * used by `rowlog tail` for record keys and values.
 *
 * Grammar (RFC 8259 sections 2-7):
 *   JSON-text = ws value ws
 *   value     = object / array / string / number / "true" / "false" / "null"
 *   object    = "{" ws [ string ws ":" ws value *( ws "," ws string ws ":" ws value ) ] ws "}"
 *   array     = "[" ws [ value *( ws "," ws value ) ] ws "]"
 *   number    = [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ]
 *               1*DIGIT ]
 *   string    = '"' *( unescaped UTF-8 >= U+0020 except '"' and '\' / escape ) '"'
 *   escape    = '\' ( '"' / '\' / '/' / 'b' / 'f' / 'n' / 'r' / 't' / 'u' 4HEXDIG )
 *   ws        = *( %x20 / %x09 / %x0A / %x0D )
 * UTF-8 well-formedness follows RFC 3629 section 4 (the table of valid byte sequences).
 *
 * The parser is iterative: the open containers are kept as a bit stack of fixed size
 * (TOOL_JSON_MAX_DEPTH), so neither deep nesting nor long input can exhaust the call stack.
 */
#include "tools/tools.h"

enum { J_ARRAY = 0, J_OBJECT = 1 };

typedef struct jstack {
    uint8_t bits[TOOL_JSON_MAX_DEPTH / 8];
    size_t depth;
} jstack;

static bool jstack_push(jstack *st, int kind)
{
    if (st->depth >= TOOL_JSON_MAX_DEPTH)
        return false;
    size_t d = st->depth++;
    if (kind == J_OBJECT)
        st->bits[d >> 3] |= (uint8_t)(1u << (d & 7));
    else
        st->bits[d >> 3] &= (uint8_t) ~(1u << (d & 7));
    return true;
}

static int jstack_top(const jstack *st)
{
    size_t d = st->depth - 1;
    return (st->bits[d >> 3] >> (d & 7)) & 1;
}

static size_t skip_ws(const uint8_t *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the well-formed UTF-8 sequence starting with a byte >= 0x80 at p[i] (RFC 3629
 * section 4), or 0 when it is ill-formed or truncated; then *bad is the offset of the first
 * byte that does not fit (n when the text ends inside the sequence). */
static size_t utf8_len(const uint8_t *p, size_t i, size_t n, size_t *bad)
{
    uint8_t c = p[i];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *bad = i;
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if (i + k >= n) {
            *bad = n;
            return 0;
        }
        uint8_t b = p[i + k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
            *bad = i + k;
            return 0;
        }
    }
    return len;
}

/* p[*i] is the opening quote. On success *i is just past the closing quote; on failure *i is
 * the offset of the offending byte (n when the string is unterminated). */
static bool scan_string(const uint8_t *p, size_t *i, size_t n)
{
    size_t k = *i + 1;
    for (;;) {
        /* Plain ASCII runs are the common case. */
        while (k < n && p[k] >= 0x20 && p[k] < 0x80 && p[k] != '"' && p[k] != '\\')
            k++;
        if (k >= n) {
            *i = n;
            return false;
        }
        uint8_t c = p[k];
        if (c == '"') {
            *i = k + 1;
            return true;
        }
        if (c == '\\') {
            if (k + 1 >= n) {
                *i = n;
                return false;
            }
            uint8_t e = p[k + 1];
            if (e == 'u') {
                for (size_t h = 0; h < 4; h++) {
                    if (k + 2 + h >= n) {
                        *i = n;
                        return false;
                    }
                    if (!is_hex(p[k + 2 + h])) {
                        *i = k + 2 + h;
                        return false;
                    }
                }
                k += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                k += 2;
            } else {
                *i = k + 1;
                return false;
            }
            continue;
        }
        if (c < 0x20) {
            *i = k;
            return false;
        }
        size_t sl = utf8_len(p, k, n, i);
        if (sl == 0)
            return false;
        k += sl;
    }
}

static bool is_digit(const uint8_t *p, size_t i, size_t n)
{
    return i < n && p[i] >= '0' && p[i] <= '9';
}

/* p[*i] is '-' or a digit. */
static bool scan_number(const uint8_t *p, size_t *i, size_t n)
{
    size_t k = *i;
    if (p[k] == '-')
        k++;
    if (!is_digit(p, k, n))
        goto bad;
    if (p[k] == '0') {
        k++;
    } else {
        while (is_digit(p, k, n))
            k++;
    }
    if (k < n && p[k] == '.') {
        k++;
        if (!is_digit(p, k, n))
            goto bad;
        while (is_digit(p, k, n))
            k++;
    }
    if (k < n && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < n && (p[k] == '+' || p[k] == '-'))
            k++;
        if (!is_digit(p, k, n))
            goto bad;
        while (is_digit(p, k, n))
            k++;
    }
    *i = k;
    return true;
bad:
    *i = k;
    return false;
}

static bool scan_literal(const uint8_t *p, size_t *i, size_t n, const char *lit, size_t len)
{
    size_t k = *i;
    for (size_t j = 0; j < len; j++, k++) {
        if (k >= n || p[k] != (uint8_t)lit[j]) {
            *i = k;
            return false;
        }
    }
    *i = k;
    return true;
}

/* An object member's key and colon: on success *i is at the member's value (whitespace
 * skipped). */
static bool scan_key(const uint8_t *p, size_t *i, size_t n)
{
    if (*i >= n || p[*i] != '"')
        return false;
    if (!scan_string(p, i, n))
        return false;
    *i = skip_ws(p, *i, n);
    if (*i >= n || p[*i] != ':')
        return false;
    *i = skip_ws(p, *i + 1, n);
    return true;
}

bool tool_json_valid(const void *vp, size_t n, size_t *bad_at)
{
    const uint8_t *p = vp;
    jstack st = {{0}, 0};
    size_t i = skip_ws(p, 0, n);

    for (;;) {
        /* A value starts at i. */
        if (i >= n)
            goto bad;
        switch (p[i]) {
        case '{':
            if (!jstack_push(&st, J_OBJECT))
                goto bad;
            i = skip_ws(p, i + 1, n);
            if (i < n && p[i] == '}') {
                st.depth--;
                i++;
                break;
            }
            if (!scan_key(p, &i, n))
                goto bad;
            continue;
        case '[':
            if (!jstack_push(&st, J_ARRAY))
                goto bad;
            i = skip_ws(p, i + 1, n);
            if (i < n && p[i] == ']') {
                st.depth--;
                i++;
                break;
            }
            continue;
        case '"':
            if (!scan_string(p, &i, n))
                goto bad;
            break;
        case 't':
            if (!scan_literal(p, &i, n, "true", 4))
                goto bad;
            break;
        case 'f':
            if (!scan_literal(p, &i, n, "false", 5))
                goto bad;
            break;
        case 'n':
            if (!scan_literal(p, &i, n, "null", 4))
                goto bad;
            break;
        default:
            if (p[i] != '-' && (p[i] < '0' || p[i] > '9'))
                goto bad;
            if (!scan_number(p, &i, n))
                goto bad;
            break;
        }

        /* A value ended just before i: close containers until one wants another value. */
        for (;;) {
            i = skip_ws(p, i, n);
            if (st.depth == 0) {
                if (i == n)
                    return true;
                goto bad;
            }
            if (i >= n)
                goto bad;
            int kind = jstack_top(&st);
            if (p[i] == ',') {
                i = skip_ws(p, i + 1, n);
                if (kind == J_OBJECT && !scan_key(p, &i, n))
                    goto bad;
                break;
            }
            if ((kind == J_OBJECT && p[i] == '}') || (kind == J_ARRAY && p[i] == ']')) {
                st.depth--;
                i++;
                continue;
            }
            goto bad;
        }
    }

bad:
    if (bad_at)
        *bad_at = i < n ? i : n;
    return false;
}

void tool_json_embed(rl_buf *b, const void *p, size_t n)
{
    if (!p) {
        rl_buf_append(b, "null", 4);
        return;
    }
    if (!tool_json_valid(p, n, NULL)) {
        rl_buf_json_str(b, p, n);
        return;
    }
    size_t at = b->len;
    rl_buf_append(b, p, n);
    if (!rl_buf_ok(b))
        return;
    /* In valid JSON a CR or LF can only be whitespace between tokens. */
    for (size_t k = at; k < b->len; k++) {
        if (b->p[k] == '\n' || b->p[k] == '\r')
            b->p[k] = ' ';
    }
}
