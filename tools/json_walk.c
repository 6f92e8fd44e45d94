/*
 * json_walk.c - reading fields out of JSON texts without building a tree: the `rowlog tail`
 * filters and pretty printer look at a few members of each change envelope (docs/events.md),
 * and `rowlog offsets` at rowlogd's /v1/offsets answer.
 *
 * The walker moves a position over the text and returns raw value texts as slices into it
 * (nothing is copied or allocated). It checks bounds on every byte, so it never reads outside
 * the slice whatever the input, but it only checks as much structure as it needs to find
 * value boundaries: callers that must reject malformed text run tool_json_valid first.
 * Grammar: RFC 8259 (see json_check.c).
 */
#include "tools/tools.h"

static bool jw_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t jw_skip_ws(rl_slice s, size_t i)
{
    while (i < s.len && jw_ws(s.p[i]))
        i++;
    return i;
}

/* i at an opening quote; returns the index after the closing quote, or 0 when unterminated. */
static size_t jw_skip_string(rl_slice s, size_t i)
{
    for (i++; i < s.len; i++) {
        if (s.p[i] == '\\')
            i++;
        else if (s.p[i] == '"')
            return i + 1;
    }
    return 0;
}

bool tool_json_skip(rl_slice s, size_t *pos, rl_slice *val)
{
    size_t i = jw_skip_ws(s, *pos);
    if (i >= s.len)
        return false;
    size_t start = i;
    uint8_t c = s.p[i];
    if (c == '"') {
        i = jw_skip_string(s, i);
        if (!i)
            return false;
    } else if (c == '{' || c == '[') {
        /* Brackets balance outside strings; depth is a count, not a stack, because only
         * the end of the value is wanted (mismatched kinds are the validator's business). */
        size_t depth = 0;
        while (i < s.len) {
            c = s.p[i];
            if (c == '"') {
                i = jw_skip_string(s, i);
                if (!i)
                    return false;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    i++;
                    break;
                }
            }
            i++;
        }
        if (depth != 0)
            return false;
    } else if (c == ',' || c == ':' || c == '}' || c == ']') {
        return false;
    } else {
        while (i < s.len && !jw_ws(s.p[i]) && s.p[i] != ',' && s.p[i] != '}' && s.p[i] != ']' &&
               s.p[i] != ':')
            i++;
    }
    if (val)
        *val = rl_slice_make(s.p + start, i - start);
    *pos = i;
    return true;
}

/* Shared by the object and array iterators: *pos is 0 before the first call, then just after
 * the previous value. Returns the index of the next element's first byte, or 0 at the end or
 * on malformed text. */
static size_t jw_next(rl_slice s, size_t *pos, uint8_t open, uint8_t close)
{
    size_t i = jw_skip_ws(s, *pos);
    if (*pos == 0) {
        if (i >= s.len || s.p[i] != open)
            return 0;
        i = jw_skip_ws(s, i + 1);
        if (i < s.len && s.p[i] == close)
            return 0;
        return i < s.len ? i : 0;
    }
    if (i >= s.len || s.p[i] != ',')
        return 0;
    i = jw_skip_ws(s, i + 1);
    return i < s.len ? i : 0;
}

bool tool_json_object_next(rl_slice obj, size_t *pos, rl_slice *key, rl_slice *val)
{
    size_t i = jw_next(obj, pos, '{', '}');
    if (!i || obj.p[i] != '"')
        return false;
    size_t end = jw_skip_string(obj, i);
    if (!end)
        return false;
    *key = rl_slice_make(obj.p + i + 1, end - i - 2);
    i = jw_skip_ws(obj, end);
    if (i >= obj.len || obj.p[i] != ':')
        return false;
    i++;
    if (!tool_json_skip(obj, &i, val))
        return false;
    *pos = i;
    return true;
}

bool tool_json_array_next(rl_slice arr, size_t *pos, rl_slice *val)
{
    size_t i = jw_next(arr, pos, '[', ']');
    if (!i)
        return false;
    if (!tool_json_skip(arr, &i, val))
        return false;
    *pos = i;
    return true;
}

bool tool_json_member(rl_slice obj, const char *key, rl_slice *val)
{
    size_t pos = 0;
    rl_slice k, v;
    while (tool_json_object_next(obj, &pos, &k, &v)) {
        if (rl_slice_eq_str(k, key)) {
            *val = v;
            return true;
        }
    }
    return false;
}

bool tool_json_int(rl_slice v, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t u = 0;
    if (v.len && v.p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i >= v.len || v.len - i > 19)
        return false;
    for (; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        u = u * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (u > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)u : (int64_t)u;
    return true;
}
