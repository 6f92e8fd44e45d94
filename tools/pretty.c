/*
 * pretty.c - the human output of `rowlog tail --format pretty`: one line per change,
 *   OP DB.TABLE KEY COLUMNS
 * read from the change envelope (docs/events.md: {"before","after","source","op","ts_ms"}):
 *   c (insert), r (snapshot read): every column of `after`, as name=value;
 *   u (update): the columns whose value differs between `before` and `after`, as
 *       name=old->new (a column only in `after`, as MINIMAL row images give, as name=new);
 *   d (delete): every column of `before`.
 * Values are printed as their JSON text. Columns are compared by their JSON text, which is
 * exact for rowlog's envelopes (one encoding per value, compact). A record whose value is not
 * an envelope (a tombstone of a compacted topic, anything else) is printed as
 *   TOPIC[PARTITION]@OFFSET KEY VALUE          (VALUE "(tombstone)" for a null value)
 * With colour (ANSI SGR), the op letter is green (c, r), yellow (u) or red (d), the table bold,
 * the key cyan, old values red and new values green.
 */
#include "tools/tools.h"

#define SGR_RESET "\033[0m"
#define SGR_BOLD "\033[1m"
#define SGR_RED "\033[31m"
#define SGR_GREEN "\033[32m"
#define SGR_YELLOW "\033[33m"
#define SGR_CYAN "\033[36m"

static void pr_color(rl_buf *b, bool color, const char *sgr)
{
    if (color)
        rl_buf_puts(b, sgr);
}

int tool_envelope_op(const void *value, size_t len)
{
    if (!value || !tool_json_valid(value, len, NULL))
        return 0;
    rl_slice op;
    if (!tool_json_member(rl_slice_make(value, len), "op", &op))
        return 0;
    if (op.len != 3 || op.p[0] != '"' || op.p[2] != '"')
        return 0;
    switch (op.p[1]) {
    case 'c':
    case 'u':
    case 'd':
    case 'r':
        return op.p[1];
    default:
        return 0;
    }
}

/* Writes the raw JSON text v with CR/LF made spaces (a line stays one line). */
static void pr_raw(rl_buf *b, rl_slice v)
{
    size_t start = b->len;
    rl_buf_append(b, v.p, v.len);
    if (!rl_buf_ok(b))
        return;
    for (size_t i = start; i < b->len; i++) {
        if (b->p[i] == '\n' || b->p[i] == '\r')
            b->p[i] = ' ';
    }
}

/* " name=" with the column name's raw string text (escapes kept as written). */
static void pr_name(rl_buf *b, rl_slice name)
{
    rl_buf_putc(b, ' ');
    rl_buf_append(b, name.p, name.len);
    rl_buf_putc(b, '=');
}

/* Every member of the row object as name=value. */
static void pr_all_columns(rl_buf *b, rl_slice row, bool color, const char *sgr)
{
    size_t pos = 0;
    rl_slice k, v;
    while (tool_json_object_next(row, &pos, &k, &v)) {
        pr_name(b, k);
        pr_color(b, color, sgr);
        pr_raw(b, v);
        pr_color(b, color, SGR_RESET);
    }
}

static bool pr_slice_eq(rl_slice a, rl_slice x)
{
    return a.len == x.len && (a.len == 0 || memcmp(a.p, x.p, a.len) == 0);
}

/* The members of after that differ from before. */
static void pr_changed_columns(rl_buf *b, rl_slice before, rl_slice after, bool color)
{
    size_t pos = 0;
    rl_slice k, v;
    bool have_before = before.len && before.p[0] == '{';
    while (tool_json_object_next(after, &pos, &k, &v)) {
        rl_slice old = {NULL, 0};
        bool found = false;
        if (have_before) {
            size_t bpos = 0;
            rl_slice bk, bv;
            while (!found && tool_json_object_next(before, &bpos, &bk, &bv)) {
                if (pr_slice_eq(bk, k)) {
                    found = true;
                    old = bv;
                }
            }
        }
        if (found && pr_slice_eq(old, v))
            continue;
        pr_name(b, k);
        if (found) {
            pr_color(b, color, SGR_RED);
            pr_raw(b, old);
            pr_color(b, color, SGR_RESET);
            rl_buf_append(b, "->", 2);
        }
        pr_color(b, color, SGR_GREEN);
        pr_raw(b, v);
        pr_color(b, color, SGR_RESET);
    }
}

/* The raw text of a JSON string member without its quotes, or an empty slice. */
static rl_slice pr_string_member(rl_slice obj, const char *name)
{
    rl_slice v = {NULL, 0};
    if (!tool_json_member(obj, name, &v) || v.len < 2 || v.p[0] != '"')
        return (rl_slice){NULL, 0};
    return rl_slice_make(v.p + 1, v.len - 2);
}

static void pr_key(rl_buf *b, const void *key, size_t key_len, bool color)
{
    rl_buf_putc(b, ' ');
    pr_color(b, color, SGR_CYAN);
    tool_json_embed(b, key, key_len);
    pr_color(b, color, SGR_RESET);
}

void tool_pretty_format(rl_buf *b, const char *topic, int32_t partition, int64_t offset,
                        const void *key, size_t key_len, const void *value, size_t value_len,
                        bool color)
{
    int op = tool_envelope_op(value, value_len);
    if (!op) {
        pr_color(b, color, SGR_BOLD);
        rl_buf_puts(b, topic);
        pr_color(b, color, SGR_RESET);
        rl_buf_printf(b, "[%d]@%lld", (int)partition, (long long)offset);
        pr_key(b, key, key_len, color);
        rl_buf_putc(b, ' ');
        if (value)
            tool_json_embed(b, value, value_len);
        else
            rl_buf_puts(b, "(tombstone)");
        rl_buf_putc(b, '\n');
        return;
    }
    rl_slice env = rl_slice_make(value, value_len);
    rl_slice before = {NULL, 0}, after = {NULL, 0}, source = {NULL, 0};
    tool_json_member(env, "before", &before);
    tool_json_member(env, "after", &after);
    tool_json_member(env, "source", &source);
    const char *sgr = op == 'd' ? SGR_RED : op == 'u' ? SGR_YELLOW : SGR_GREEN;
    pr_color(b, color, sgr);
    rl_buf_putc(b, (char)op);
    pr_color(b, color, SGR_RESET);
    rl_buf_putc(b, ' ');
    rl_slice db = pr_string_member(source, "db"), table = pr_string_member(source, "table");
    pr_color(b, color, SGR_BOLD);
    if (table.p) {
        if (db.p) {
            rl_buf_append(b, db.p, db.len);
            rl_buf_putc(b, '.');
        }
        rl_buf_append(b, table.p, table.len);
    } else {
        rl_buf_puts(b, topic);
    }
    pr_color(b, color, SGR_RESET);
    pr_key(b, key, key_len, color);
    if (op == 'u')
        pr_changed_columns(b, before, after, color);
    else if (op == 'd')
        pr_all_columns(b, before, color, SGR_RED);
    else
        pr_all_columns(b, after, color, SGR_GREEN);
    rl_buf_putc(b, '\n');
}
