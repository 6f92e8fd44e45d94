/*
 * json_mini.h - a small strict JSON reader for the reader tests: parses the decoder's keys and
 * envelopes into a tree (RFC 8259 grammar: no trailing commas, no raw control characters in
 * strings, numbers per the grammar), so a test both checks that the output is valid JSON and
 * reads values back. Strings are decoded to UTF-8 (surrogate pairs joined); numbers keep their
 * text. Test code only: aborts on out of memory.
 */
#ifndef JSON_MINI_H
#define JSON_MINI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { JNULL, JBOOL, JNUM, JSTR, JARR, JOBJ };

typedef struct jv {
    int type;
    bool b;
    char *s; /* JSTR: decoded bytes (NUL-terminated), JNUM: the number's text */
    size_t slen;
    struct jv *items; /* JARR items, JOBJ values */
    char **keys;      /* JOBJ keys */
    size_t n;
} jv;

typedef struct jparser {
    const char *p, *end;
    bool bad;
} jparser;

static void *jm_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void jm_ws(jparser *js)
{
    while (js->p < js->end && (*js->p == ' ' || *js->p == '\t' || *js->p == '\n' || *js->p == '\r'))
        js->p++;
}

static void jm_put_utf8(char *o, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (char)(0xC0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*n)++] = (char)(0xE0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*n)++] = (char)(0xF0 | (cp >> 18));
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int jm_hex4(jparser *js, uint32_t *out)
{
    if (js->end - js->p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = js->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    js->p += 4;
    *out = v;
    return 0;
}

static char *jm_string(jparser *js, size_t *len)
{
    if (js->p >= js->end || *js->p != '"') {
        js->bad = true;
        return NULL;
    }
    js->p++;
    /* Escapes never expand: the raw span up to the closing quote bounds the output. */
    const char *q = js->p;
    while (q < js->end && *q != '"')
        q += (*q == '\\' && q + 1 < js->end) ? 2 : 1;
    char *o = malloc((size_t)(q - js->p) + 1);
    if (!o)
        abort();
    size_t n = 0;
    while (js->p < js->end && *js->p != '"') {
        unsigned char c = (unsigned char)*js->p++;
        if (c < 0x20) {
            js->bad = true;
            break;
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        if (js->p >= js->end) {
            js->bad = true;
            break;
        }
        char e = *js->p++;
        switch (e) {
        case '"':
            o[n++] = '"';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '/':
            o[n++] = '/';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (jm_hex4(js, &cp) < 0) {
                js->bad = true;
                break;
            }
            if (cp >= 0xD800 && cp < 0xDC00 && js->end - js->p >= 6 && js->p[0] == '\\' &&
                js->p[1] == 'u') {
                js->p += 2;
                if (jm_hex4(js, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
                    js->bad = true;
                    break;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            jm_put_utf8(o, &n, cp);
            break;
        }
        default:
            js->bad = true;
        }
        if (js->bad)
            break;
    }
    if (js->p >= js->end || *js->p != '"')
        js->bad = true;
    else
        js->p++;
    o[n] = '\0';
    *len = n;
    return o;
}

static void jm_value(jparser *js, jv *v, int depth);

static void jm_number(jparser *js, jv *v)
{
    const char *s = js->p;
    if (js->p < js->end && *js->p == '-')
        js->p++;
    if (js->p >= js->end || *js->p < '0' || *js->p > '9') {
        js->bad = true;
        return;
    }
    if (*js->p == '0')
        js->p++;
    else
        while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
            js->p++;
    if (js->p < js->end && *js->p == '.') {
        js->p++;
        if (js->p >= js->end || *js->p < '0' || *js->p > '9')
            js->bad = true;
        while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
            js->p++;
    }
    if (js->p < js->end && (*js->p == 'e' || *js->p == 'E')) {
        js->p++;
        if (js->p < js->end && (*js->p == '+' || *js->p == '-'))
            js->p++;
        if (js->p >= js->end || *js->p < '0' || *js->p > '9')
            js->bad = true;
        while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
            js->p++;
    }
    v->type = JNUM;
    v->slen = (size_t)(js->p - s);
    v->s = jm_alloc(v->slen + 1);
    memcpy(v->s, s, v->slen);
}

static bool jm_lit(jparser *js, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(js->end - js->p) >= n && memcmp(js->p, w, n) == 0) {
        js->p += n;
        return true;
    }
    return false;
}

static void jm_value(jparser *js, jv *v, int depth)
{
    memset(v, 0, sizeof *v);
    jm_ws(js);
    if (js->p >= js->end || depth > 64) {
        js->bad = true;
        return;
    }
    char c = *js->p;
    if (c == '"') {
        v->type = JSTR;
        v->s = jm_string(js, &v->slen);
    } else if (c == '{' || c == '[') {
        bool obj = c == '{';
        v->type = obj ? JOBJ : JARR;
        js->p++;
        size_t cap = 0;
        jm_ws(js);
        if (js->p < js->end && *js->p == (obj ? '}' : ']')) {
            js->p++;
            return;
        }
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->items = realloc(v->items, cap * sizeof *v->items);
                if (obj)
                    v->keys = realloc(v->keys, cap * sizeof *v->keys);
                if (!v->items || (obj && !v->keys))
                    abort();
            }
            if (obj) {
                jm_ws(js);
                size_t kl;
                v->keys[v->n] = jm_string(js, &kl);
                jm_ws(js);
                if (js->bad || js->p >= js->end || *js->p != ':') {
                    js->bad = true;
                    memset(&v->items[v->n], 0, sizeof v->items[0]);
                    v->n++;
                    return;
                }
                js->p++;
            }
            jm_value(js, &v->items[v->n], depth + 1);
            v->n++;
            if (js->bad)
                return;
            jm_ws(js);
            if (js->p < js->end && *js->p == ',') {
                js->p++;
                continue;
            }
            if (js->p < js->end && *js->p == (obj ? '}' : ']')) {
                js->p++;
                return;
            }
            js->bad = true;
            return;
        }
    } else if (jm_lit(js, "null")) {
        v->type = JNULL;
    } else if (jm_lit(js, "true")) {
        v->type = JBOOL;
        v->b = true;
    } else if (jm_lit(js, "false")) {
        v->type = JBOOL;
    } else {
        jm_number(js, v);
    }
}

static inline void jfree(jv *v)
{
    if (!v)
        return;
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

/* Parses exactly one JSON value spanning [p, p+n). Returns 0 or -1 (v is freed then). */
static inline int jparse(const void *p, size_t n, jv *v)
{
    jparser js = {(const char *)p, (const char *)p + n, false};
    jm_value(&js, v, 0);
    jm_ws(&js);
    if (js.bad || js.p != js.end) {
        jfree(v);
        return -1;
    }
    return 0;
}

static inline const jv *jget(const jv *obj, const char *key)
{
    if (!obj || obj->type != JOBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (obj->keys[i] && strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

/* Standard base64 decode (RFC 4648 section 4). Returns the decoded length or -1. */
static inline long jm_base64_decode(const char *s, size_t n, uint8_t *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n % 4)
        return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            v <<= 6;
            if (c == '=') {
                if (i + 4 != n || k < 2)
                    return -1;
                pad++;
                continue;
            }
            if (pad)
                return -1;
            const char *q = memchr(tab, c, 64);
            if (!q || !c)
                return -1;
            v |= (uint32_t)(q - tab);
        }
        out[o++] = (uint8_t)(v >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(v >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)v;
    }
    return o;
}

#endif /* JSON_MINI_H */
