/*
 * gtid_set.c - GTID sets of MySQL and MariaDB (gtid_set.h has the semantics).
 *
 * MySQL sets are kept as an array of (uuid, tag) entries sorted by uuid bytes then tag ("" first,
 * as MySQL prints them), each with a sorted array of disjoint, non-adjacent half-open gno
 * intervals [start, end), the representation of sql/rpl_gtid_set.cc. Adding the next gno of
 * the last interval (what a replica does at every commit) is O(1). MariaDB sets are an array
 * of (domain, server, seq) sorted by domain.
 *
 * Binary encoding (sql/rpl_gtid_set.cc Gtid_set::encode / add_gtid_encoding,
 * encode_nsids_format; libs/mysql/gtid/tsid.cpp encode_tsid), little-endian:
 *   off  size  field
 *   0    8     n_sids; tagged format (MySQL 8.3+): (1 << 56) | (n_sids << 8) | 1
 *   then n_sids times:
 *        16    uuid
 *        var   tagged format only: tag length as a serialization varlen (length << 1 for the
 *              lengths 0..32 a tag can have), then the tag bytes
 *        8     n_intervals
 *        16*n  (start i64, end i64), end exclusive, ascending, start > previous end
 */
#include "reader/gtid_set.h"
#include "reader/binlog_int.h"

#include <errno.h>
#include <stdlib.h>

typedef struct gs_iv {
    uint64_t start, end; /* [start, end) */
} gs_iv;

typedef struct gs_tsid {
    uint8_t uuid[16];
    uint8_t tag_len;
    char tag[BINLOG_GTID_TAG_MAX + 1]; /* lower case, NUL-terminated */
    gs_iv *iv;
    size_t n, cap;
} gs_tsid;

typedef struct gs_dom {
    uint32_t domain, server;
    uint64_t seq;
} gs_dom;

struct binlog_gtid_set {
    gs_tsid *ts; /* sorted by (uuid, tag); every entry has at least one interval */
    size_t nts, capts;
    gs_dom *dom; /* sorted by domain */
    size_t ndom, capdom;
};

/* ------------------------------------------------------------------ life cycle */

int binlog_gtid_set_new(binlog_gtid_set **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void binlog_gtid_set_clear(binlog_gtid_set *set)
{
    for (size_t i = 0; i < set->nts; i++)
        free(set->ts[i].iv);
    set->nts = 0;
    set->ndom = 0;
}

void binlog_gtid_set_free(binlog_gtid_set *set)
{
    if (!set)
        return;
    binlog_gtid_set_clear(set);
    free(set->ts);
    free(set->dom);
    free(set);
}

int binlog_gtid_set_flavor(const binlog_gtid_set *set)
{
    if (set->nts)
        return BINLOG_GTID_MYSQL;
    if (set->ndom)
        return BINLOG_GTID_MARIADB;
    return BINLOG_GTID_NONE;
}

bool binlog_gtid_set_is_empty(const binlog_gtid_set *set)
{
    return set->nts == 0 && set->ndom == 0;
}

/* Swaps the contents of two sets (used to commit a result built aside). */
static void set_swap(binlog_gtid_set *a, binlog_gtid_set *b)
{
    binlog_gtid_set t = *a;
    *a = *b;
    *b = t;
}

int binlog_gtid_set_copy(binlog_gtid_set *dst, const binlog_gtid_set *src)
{
    if (dst == src)
        return 0;
    binlog_gtid_set tmp = {0};
    if (src->nts) {
        tmp.ts = calloc(src->nts, sizeof *tmp.ts);
        if (!tmp.ts)
            return -ENOMEM;
        tmp.capts = src->nts;
        for (size_t i = 0; i < src->nts; i++) {
            gs_tsid *t = &tmp.ts[i];
            *t = src->ts[i];
            t->iv = malloc(src->ts[i].n * sizeof *t->iv);
            if (!t->iv) {
                tmp.nts = i;
                binlog_gtid_set_clear(&tmp);
                free(tmp.ts);
                return -ENOMEM;
            }
            memcpy(t->iv, src->ts[i].iv, src->ts[i].n * sizeof *t->iv);
            t->cap = t->n;
            tmp.nts = i + 1;
        }
    }
    if (src->ndom) {
        tmp.dom = malloc(src->ndom * sizeof *tmp.dom);
        if (!tmp.dom) {
            binlog_gtid_set_clear(&tmp);
            free(tmp.ts);
            return -ENOMEM;
        }
        memcpy(tmp.dom, src->dom, src->ndom * sizeof *tmp.dom);
        tmp.ndom = tmp.capdom = src->ndom;
    }
    set_swap(dst, &tmp);
    binlog_gtid_set_clear(&tmp);
    free(tmp.ts);
    free(tmp.dom);
    return 0;
}

/* ------------------------------------------------------------------ MySQL entries */

static int tsid_cmp(const uint8_t *uuid, const char *tag, const gs_tsid *t)
{
    int c = memcmp(uuid, t->uuid, 16);
    return c ? c : strcmp(tag, t->tag);
}

/* Index of (uuid, tag), or where it would be inserted (*found false). */
static size_t tsid_find(const binlog_gtid_set *set, const uint8_t *uuid, const char *tag,
                        bool *found)
{
    size_t lo = 0, hi = set->nts;
    /* Fast path: the most recent transactions usually come from the last entry. */
    if (hi && tsid_cmp(uuid, tag, &set->ts[hi - 1]) == 0) {
        *found = true;
        return hi - 1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tsid_cmp(uuid, tag, &set->ts[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = false;
    return lo;
}

/* Inserts an entry without intervals at idx. Returns it, or NULL on OOM. */
static gs_tsid *tsid_insert(binlog_gtid_set *set, size_t idx, const uint8_t *uuid, const char *tag,
                            size_t tag_len)
{
    if (set->nts == set->capts) {
        size_t ncap = set->capts ? set->capts * 2 : 4;
        gs_tsid *na = realloc(set->ts, ncap * sizeof *na);
        if (!na)
            return NULL;
        set->ts = na;
        set->capts = ncap;
    }
    memmove(set->ts + idx + 1, set->ts + idx, (set->nts - idx) * sizeof *set->ts);
    gs_tsid *t = &set->ts[idx];
    memset(t, 0, sizeof *t);
    memcpy(t->uuid, uuid, 16);
    memcpy(t->tag, tag, tag_len);
    t->tag[tag_len] = '\0';
    t->tag_len = (uint8_t)tag_len;
    set->nts++;
    return t;
}

static void tsid_remove(binlog_gtid_set *set, size_t idx)
{
    free(set->ts[idx].iv);
    memmove(set->ts + idx, set->ts + idx + 1, (set->nts - idx - 1) * sizeof *set->ts);
    set->nts--;
}

static int iv_reserve(gs_tsid *t, size_t more)
{
    if (t->n + more <= t->cap)
        return 0;
    size_t ncap = t->cap ? t->cap * 2 : 2;
    while (ncap < t->n + more)
        ncap *= 2;
    gs_iv *na = realloc(t->iv, ncap * sizeof *na);
    if (!na)
        return -ENOMEM;
    t->iv = na;
    t->cap = ncap;
    return 0;
}

/* Adds [s, e) (s < e) to t's intervals, merging overlapping and adjacent ones. */
static int iv_add(gs_tsid *t, uint64_t s, uint64_t e)
{
    size_t n = t->n;
    if (n && t->iv[n - 1].end == s) { /* the next gno(s) after the last interval */
        t->iv[n - 1].end = e > t->iv[n - 1].end ? e : t->iv[n - 1].end;
        return 0;
    }
    if (n == 0 || t->iv[n - 1].end < s) {
        if (iv_reserve(t, 1) < 0)
            return -ENOMEM;
        t->iv[t->n].start = s;
        t->iv[t->n].end = e;
        t->n++;
        return 0;
    }
    /* i: first interval that ends at or after s (may touch or overlap [s, e)). */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->iv[mid].end < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t i = lo;
    /* j: one past the last interval that starts at or before e. */
    size_t j = i;
    while (j < n && t->iv[j].start <= e)
        j++;
    if (i == j) { /* no contact: insert */
        if (iv_reserve(t, 1) < 0)
            return -ENOMEM;
        memmove(t->iv + i + 1, t->iv + i, (n - i) * sizeof *t->iv);
        t->iv[i].start = s;
        t->iv[i].end = e;
        t->n++;
        return 0;
    }
    uint64_t ns = t->iv[i].start < s ? t->iv[i].start : s;
    uint64_t ne = t->iv[j - 1].end > e ? t->iv[j - 1].end : e;
    t->iv[i].start = ns;
    t->iv[i].end = ne;
    memmove(t->iv + i + 1, t->iv + j, (n - j) * sizeof *t->iv);
    t->n -= j - i - 1;
    return 0;
}

static bool iv_contains(const gs_tsid *t, uint64_t g)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) { /* first interval with end > g */
        size_t mid = lo + (hi - lo) / 2;
        if (t->iv[mid].end <= g)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->iv[lo].start <= g;
}

static bool tag_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* Lower-cases and checks a tag into out (BINLOG_GTID_TAG_MAX + 1 bytes). */
static bool tag_norm(const char *tag, size_t len, char *out)
{
    if (len > BINLOG_GTID_TAG_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!tag_char(tag[i], i == 0))
            return false;
        out[i] = (tag[i] >= 'A' && tag[i] <= 'Z') ? (char)(tag[i] - 'A' + 'a') : tag[i];
    }
    out[len] = '\0';
    return true;
}

/* Adds [s, e) for (uuid, normalized tag). */
static int add_range(binlog_gtid_set *set, const uint8_t *uuid, const char *tag, size_t tag_len,
                     uint64_t s, uint64_t e)
{
    bool found;
    size_t idx = tsid_find(set, uuid, tag, &found);
    gs_tsid *t;
    if (found) {
        t = &set->ts[idx];
    } else {
        t = tsid_insert(set, idx, uuid, tag, tag_len);
        if (!t)
            return -ENOMEM;
    }
    if (iv_add(t, s, e) < 0) {
        if (!found)
            tsid_remove(set, idx);
        return -ENOMEM;
    }
    return 0;
}

int binlog_gtid_set_add_mysql(binlog_gtid_set *set, const uint8_t uuid[16], const char *tag,
                              size_t tag_len, uint64_t gno)
{
    char nt[BINLOG_GTID_TAG_MAX + 1];
    if (set->ndom || gno == 0 || gno > BINLOG_GTID_GNO_MAX || !tag_norm(tag, tag_len, nt))
        return RL_ECONFIG;
    return add_range(set, uuid, nt, tag_len, gno, gno + 1);
}

bool binlog_gtid_set_contains_mysql(const binlog_gtid_set *set, const uint8_t uuid[16],
                                    const char *tag, size_t tag_len, uint64_t gno)
{
    char nt[BINLOG_GTID_TAG_MAX + 1];
    if (!tag_norm(tag, tag_len, nt))
        return false;
    bool found;
    size_t idx = tsid_find(set, uuid, nt, &found);
    return found && iv_contains(&set->ts[idx], gno);
}

/* ------------------------------------------------------------------ MariaDB entries */

static size_t dom_find(const binlog_gtid_set *set, uint32_t domain, bool *found)
{
    size_t lo = 0, hi = set->ndom;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->dom[mid].domain == domain) {
            *found = true;
            return mid;
        }
        if (set->dom[mid].domain < domain)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int dom_put(binlog_gtid_set *set, gs_dom g)
{
    bool found;
    size_t i = dom_find(set, g.domain, &found);
    if (found) {
        set->dom[i] = g;
        return 0;
    }
    if (set->ndom == set->capdom) {
        size_t ncap = set->capdom ? set->capdom * 2 : 4;
        gs_dom *na = realloc(set->dom, ncap * sizeof *na);
        if (!na)
            return -ENOMEM;
        set->dom = na;
        set->capdom = ncap;
    }
    memmove(set->dom + i + 1, set->dom + i, (set->ndom - i) * sizeof *set->dom);
    set->dom[i] = g;
    set->ndom++;
    return 0;
}

int binlog_gtid_set_add_mariadb(binlog_gtid_set *set, uint32_t domain, uint32_t server,
                                uint64_t seq)
{
    if (set->nts)
        return RL_ECONFIG;
    gs_dom g = {domain, server, seq};
    return dom_put(set, g);
}

size_t binlog_gtid_set_mariadb_count(const binlog_gtid_set *set)
{
    return set->ndom;
}

void binlog_gtid_set_mariadb_at(const binlog_gtid_set *set, size_t i, uint32_t *domain,
                                uint32_t *server, uint64_t *seq)
{
    *domain = set->dom[i].domain;
    *server = set->dom[i].server;
    *seq = set->dom[i].seq;
}

bool binlog_gtid_set_contains_mariadb(const binlog_gtid_set *set, uint32_t domain, uint32_t server,
                                      uint64_t seq)
{
    (void)server; /* seq_no orders a whole domain, whichever server wrote it */
    bool found;
    size_t i = dom_find(set, domain, &found);
    return found && set->dom[i].seq >= seq;
}

/* ------------------------------------------------------------------ text */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_ws(const char *s)
{
    while (is_ws(*s))
        s++;
    return s;
}

static bool parse_dec(const char **sp, uint64_t max, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *sp = s;
    *out = v;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 8-4-4-4-12 hex digits (or 32 without dashes, which MySQL also reads). */
static bool parse_uuid(const char **sp, uint8_t *uuid)
{
    const char *s = *sp;
    bool dashes = strnlen(s, 9) == 9 && s[8] == '-';
    for (int i = 0; i < 16; i++) {
        if (dashes && (i == 4 || i == 6 || i == 8 || i == 10)) {
            if (*s != '-')
                return false;
            s++;
        }
        int hi = hexval(s[0]);
        if (hi < 0)
            return false;
        int lo = hexval(s[1]);
        if (lo < 0)
            return false;
        uuid[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    *sp = s;
    return true;
}

/* A tag at *sp: letters, digits, '_', not starting with a digit. */
static bool parse_tag(const char **sp, char *out, size_t *len)
{
    const char *s = *sp;
    size_t n = 0;
    while (tag_char(s[n], n == 0))
        n++;
    if (n == 0 || !tag_norm(s, n, out))
        return false;
    *len = n;
    *sp = s + n;
    return true;
}

static int parse_mysql(binlog_gtid_set *set, const char *text, rl_err *err)
{
    const char *s = skip_ws(text);
    while (*s) {
        const char *at = s;
        uint8_t uuid[16];
        if (!parse_uuid(&s, uuid))
            return rl_err_set(err, RL_ECONFIG,
                              "malformed GTID set \"%.200s\": bad uuid at \"%.60s\"", text, at);
        char tag[BINLOG_GTID_TAG_MAX + 1] = "";
        size_t tag_len = 0;
        bool tag_pending = false, any = false;
        s = skip_ws(s);
        while (*s == ':') {
            s = skip_ws(s + 1);
            at = s;
            if (*s >= '0' && *s <= '9') {
                uint64_t a, b;
                if (!parse_dec(&s, UINT64_MAX, &a))
                    goto bad;
                b = a;
                s = skip_ws(s);
                if (*s == '-') {
                    s = skip_ws(s + 1);
                    if (!parse_dec(&s, UINT64_MAX, &b))
                        goto bad;
                }
                if (a == 0 || b < a || b > BINLOG_GTID_GNO_MAX)
                    return rl_err_set(err, RL_ECONFIG,
                                      "GTID set \"%.200s\": interval at \"%.60s\" is empty or "
                                      "outside 1..%llu",
                                      text, at, (unsigned long long)BINLOG_GTID_GNO_MAX);
                if (add_range(set, uuid, tag, tag_len, a, b + 1) < 0)
                    return rl_err_set(err, -ENOMEM, "out of memory parsing a GTID set");
                tag_pending = false;
                any = true;
            } else if (parse_tag(&s, tag, &tag_len)) {
                tag_pending = true;
            } else {
                goto bad;
            }
            s = skip_ws(s);
        }
        if (tag_pending || !any) {
            at = s;
            goto bad;
        }
        if (*s == ',') {
            s = skip_ws(s + 1);
            if (!*s)
                goto bad;
            continue;
        }
        if (*s) {
            at = s;
            goto bad;
        }
        break;
    bad:
        return rl_err_set(err, RL_ECONFIG,
                          "malformed GTID set \"%.200s\" at \"%.60s\" (expected "
                          "uuid[:tag]:N[-M][:...][,...])",
                          text, at);
    }
    return 0;
}

static int parse_mariadb(binlog_gtid_set *set, const char *text, rl_err *err)
{
    const char *s = skip_ws(text);
    while (*s) {
        uint64_t d, sv, q;
        const char *at = s;
        if (!parse_dec(&s, UINT32_MAX, &d) || *s++ != '-' || !parse_dec(&s, UINT32_MAX, &sv) ||
            *s++ != '-' || !parse_dec(&s, UINT64_MAX, &q))
            return rl_err_set(err, RL_ECONFIG,
                              "malformed GTID state \"%.200s\" at \"%.60s\" (expected "
                              "domain-server-seq[,...])",
                              text, at);
        bool found;
        dom_find(set, (uint32_t)d, &found);
        if (found)
            return rl_err_set(err, RL_ECONFIG, "GTID state \"%.200s\" names domain %llu twice",
                              text, (unsigned long long)d);
        gs_dom g = {(uint32_t)d, (uint32_t)sv, q};
        if (dom_put(set, g) < 0)
            return rl_err_set(err, -ENOMEM, "out of memory parsing a GTID state");
        s = skip_ws(s);
        if (*s == ',') {
            s = skip_ws(s + 1);
            if (!*s)
                return rl_err_set(err, RL_ECONFIG, "GTID state \"%.200s\" ends with a comma", text);
            continue;
        }
        if (*s)
            return rl_err_set(err, RL_ECONFIG, "malformed GTID state \"%.200s\" at \"%.60s\"", text,
                              s);
    }
    return 0;
}

int binlog_gtid_set_parse(binlog_gtid_set *set, const char *text, rl_err *err)
{
    binlog_gtid_set tmp = {0};
    const char *t = text ? text : "";
    int rc = strchr(t, ':') ? parse_mysql(&tmp, t, err) : parse_mariadb(&tmp, t, err);
    if (rc == 0)
        set_swap(set, &tmp);
    binlog_gtid_set_clear(&tmp);
    free(tmp.ts);
    free(tmp.dom);
    return rc;
}

static void put_uuid(rl_buf *b, const uint8_t *u)
{
    static const char hex[] = "0123456789abcdef";
    char t[36];
    char *o = t;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    rl_buf_append(b, t, sizeof t);
}

int binlog_gtid_set_format(const binlog_gtid_set *set, rl_buf *out)
{
    for (size_t i = 0; i < set->nts; i++) {
        const gs_tsid *t = &set->ts[i];
        if (i == 0 || memcmp(t->uuid, set->ts[i - 1].uuid, 16) != 0) {
            if (i)
                rl_buf_putc(out, ',');
            put_uuid(out, t->uuid);
        }
        if (t->tag_len) {
            rl_buf_putc(out, ':');
            rl_buf_append(out, t->tag, t->tag_len);
        }
        for (size_t k = 0; k < t->n; k++) {
            rl_buf_putc(out, ':');
            rl_buf_put_u64(out, t->iv[k].start);
            if (t->iv[k].end - 1 != t->iv[k].start) {
                rl_buf_putc(out, '-');
                rl_buf_put_u64(out, t->iv[k].end - 1);
            }
        }
    }
    for (size_t i = 0; i < set->ndom; i++) {
        if (i)
            rl_buf_putc(out, ',');
        rl_buf_put_u64(out, set->dom[i].domain);
        rl_buf_putc(out, '-');
        rl_buf_put_u64(out, set->dom[i].server);
        rl_buf_putc(out, '-');
        rl_buf_put_u64(out, set->dom[i].seq);
    }
    return rl_buf_ok(out) ? 0 : -ENOMEM;
}

/* One GTID as text: MySQL "uuid[:tag]:gno" or MariaDB "d-s-n". kind is the flavor. */
typedef struct one_gtid {
    int kind;
    uint8_t uuid[16];
    char tag[BINLOG_GTID_TAG_MAX + 1];
    size_t tag_len;
    uint64_t gno;
    gs_dom dom;
} one_gtid;

static bool parse_one(const char *text, one_gtid *g)
{
    const char *s = skip_ws(text ? text : "");
    memset(g, 0, sizeof *g);
    if (strchr(s, ':')) {
        g->kind = BINLOG_GTID_MYSQL;
        if (!parse_uuid(&s, g->uuid) || *s++ != ':')
            return false;
        if (!(*s >= '0' && *s <= '9')) {
            if (!parse_tag(&s, g->tag, &g->tag_len) || *s++ != ':')
                return false;
        }
        if (!parse_dec(&s, BINLOG_GTID_GNO_MAX, &g->gno) || g->gno == 0)
            return false;
    } else {
        uint64_t d, sv;
        g->kind = BINLOG_GTID_MARIADB;
        if (!parse_dec(&s, UINT32_MAX, &d) || *s++ != '-' || !parse_dec(&s, UINT32_MAX, &sv) ||
            *s++ != '-' || !parse_dec(&s, UINT64_MAX, &g->dom.seq))
            return false;
        g->dom.domain = (uint32_t)d;
        g->dom.server = (uint32_t)sv;
    }
    return *skip_ws(s) == '\0';
}

int binlog_gtid_set_add_text(binlog_gtid_set *set, const char *gtid, rl_err *err)
{
    one_gtid g;
    if (!parse_one(gtid, &g))
        return rl_err_set(err, RL_ECONFIG, "malformed GTID \"%.100s\"", gtid ? gtid : "");
    int rc = g.kind == BINLOG_GTID_MYSQL
                 ? binlog_gtid_set_add_mysql(set, g.uuid, g.tag, g.tag_len, g.gno)
                 : binlog_gtid_set_add_mariadb(set, g.dom.domain, g.dom.server, g.dom.seq);
    if (rc == RL_ECONFIG)
        return rl_err_set(err, rc, "GTID \"%.100s\" is not of the set's flavor", gtid);
    if (rc < 0)
        return rl_err_set(err, rc, "out of memory adding a GTID");
    return 0;
}

int binlog_gtid_set_contains_text(const binlog_gtid_set *set, const char *gtid)
{
    one_gtid g;
    if (!parse_one(gtid, &g))
        return RL_ECONFIG;
    if (g.kind == BINLOG_GTID_MYSQL)
        return binlog_gtid_set_contains_mysql(set, g.uuid, g.tag, g.tag_len, g.gno);
    return binlog_gtid_set_contains_mariadb(set, g.dom.domain, g.dom.server, g.dom.seq);
}

/* ------------------------------------------------------------------ set algebra */

static bool flavors_clash(const binlog_gtid_set *a, const binlog_gtid_set *b)
{
    int fa = binlog_gtid_set_flavor(a), fb = binlog_gtid_set_flavor(b);
    return fa != BINLOG_GTID_NONE && fb != BINLOG_GTID_NONE && fa != fb;
}

int binlog_gtid_set_union(binlog_gtid_set *set, const binlog_gtid_set *other)
{
    if (flavors_clash(set, other))
        return RL_ECONFIG;
    if (set == other)
        return 0;
    for (size_t i = 0; i < other->nts; i++) {
        const gs_tsid *t = &other->ts[i];
        for (size_t k = 0; k < t->n; k++)
            if (add_range(set, t->uuid, t->tag, t->tag_len, t->iv[k].start, t->iv[k].end) < 0)
                return -ENOMEM;
    }
    for (size_t i = 0; i < other->ndom; i++) {
        bool found;
        size_t j = dom_find(set, other->dom[i].domain, &found);
        if (found && set->dom[j].seq >= other->dom[i].seq)
            continue;
        if (dom_put(set, other->dom[i]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* a - b for one entry's intervals, into a new array. */
static int iv_subtract(gs_tsid *a, const gs_tsid *b)
{
    gs_iv *res = malloc((a->n + b->n) * sizeof *res);
    if (!res)
        return -ENOMEM;
    size_t n = 0, j = 0;
    for (size_t i = 0; i < a->n; i++) {
        uint64_t s = a->iv[i].start, e = a->iv[i].end;
        while (j < b->n && b->iv[j].end <= s)
            j++;
        size_t k = j;
        while (s < e) {
            if (k >= b->n || b->iv[k].start >= e) {
                res[n].start = s;
                res[n].end = e;
                n++;
                break;
            }
            if (b->iv[k].start > s) {
                res[n].start = s;
                res[n].end = b->iv[k].start;
                n++;
            }
            s = b->iv[k].end;
            if (b->iv[k].end <= e)
                k++;
            else
                break;
        }
    }
    free(a->iv);
    a->cap = a->n + b->n;
    a->iv = res;
    a->n = n;
    return 0;
}

int binlog_gtid_set_subtract(binlog_gtid_set *set, const binlog_gtid_set *other)
{
    if (flavors_clash(set, other))
        return RL_ECONFIG;
    if (set == other) {
        binlog_gtid_set_clear(set);
        return 0;
    }
    for (size_t i = 0; i < other->nts; i++) {
        const gs_tsid *t = &other->ts[i];
        bool found;
        size_t idx = tsid_find(set, t->uuid, t->tag, &found);
        if (!found)
            continue;
        if (iv_subtract(&set->ts[idx], t) < 0)
            return -ENOMEM;
        if (set->ts[idx].n == 0)
            tsid_remove(set, idx);
    }
    size_t o = 0;
    for (size_t i = 0; i < set->ndom; i++) {
        const gs_dom *g = &set->dom[i];
        if (!binlog_gtid_set_contains_mariadb(other, g->domain, g->server, g->seq))
            set->dom[o++] = *g;
    }
    set->ndom = o;
    return 0;
}

bool binlog_gtid_set_equal(const binlog_gtid_set *a, const binlog_gtid_set *b)
{
    if (a->nts != b->nts || a->ndom != b->ndom)
        return false;
    for (size_t i = 0; i < a->nts; i++) {
        const gs_tsid *x = &a->ts[i], *y = &b->ts[i];
        if (memcmp(x->uuid, y->uuid, 16) != 0 || strcmp(x->tag, y->tag) != 0 || x->n != y->n ||
            memcmp(x->iv, y->iv, x->n * sizeof *x->iv) != 0)
            return false;
    }
    for (size_t i = 0; i < a->ndom; i++)
        if (a->dom[i].domain != b->dom[i].domain || a->dom[i].server != b->dom[i].server ||
            a->dom[i].seq != b->dom[i].seq)
            return false;
    return true;
}

/* ------------------------------------------------------------------ binary encoding */

static void put_u64le(rl_buf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    rl_buf_append(b, t, 8);
}

int binlog_gtid_set_encode(const binlog_gtid_set *set, rl_buf *out)
{
    if (set->ndom)
        return RL_ECONFIG;
    bool tagged = false;
    for (size_t i = 0; i < set->nts; i++)
        tagged |= set->ts[i].tag_len > 0;
    uint64_t n = set->nts;
    put_u64le(out, tagged ? (1ull << 56) | (n << 8) | 1u : n);
    for (size_t i = 0; i < set->nts; i++) {
        const gs_tsid *t = &set->ts[i];
        rl_buf_append(out, t->uuid, 16);
        if (tagged) {
            /* serialization varlen of a length <= 32: one byte, value << 1 */
            rl_buf_putc(out, (char)(t->tag_len << 1));
            rl_buf_append(out, t->tag, t->tag_len);
        }
        put_u64le(out, t->n);
        for (size_t k = 0; k < t->n; k++) {
            put_u64le(out, t->iv[k].start);
            put_u64le(out, t->iv[k].end);
        }
    }
    return rl_buf_ok(out) ? 0 : -ENOMEM;
}

int binlog_gtid_set_decode_add(binlog_gtid_set *set, rl_slice bytes, rl_err *err)
{
    if (set->ndom)
        return rl_err_set(err, RL_ECONFIG, "a MySQL GTID set cannot be added to a MariaDB one");
    rl_reader rd = rl_reader_make(bytes);
    binlog_gtid_set tmp = {0};
    int rc = 0;
    uint64_t word = rl_get_u64le(&rd);
    uint8_t format = (uint8_t)(word >> 56);
    uint64_t n;
    if (rd.err) {
        rc = rl_err_set(err, RL_ECORRUPT, "GTID set of %zu bytes has no count", bytes.len);
        goto out;
    }
    if (format == 0) {
        n = word;
    } else if (format == 1 && (word & 0xff) == 1) {
        n = (word >> 8) & 0xffffffffffffull;
    } else {
        rc = rl_err_set(err, RL_ECORRUPT, "GTID set with unknown format word 0x%016llx",
                        (unsigned long long)word);
        goto out;
    }
    if (n > rl_reader_left(&rd) / 24) {
        rc = rl_err_set(err, RL_ECORRUPT, "GTID set claims %llu uuids in %zu bytes",
                        (unsigned long long)n, bytes.len);
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        size_t at = bytes.len - rl_reader_left(&rd);
        rl_slice uuid = rl_get_bytes(&rd, 16);
        char tag[BINLOG_GTID_TAG_MAX + 1] = "";
        size_t tag_len = 0;
        if (format == 1) {
            uint64_t tl = binlog__get_varlen(&rd);
            rl_slice tb = rl_get_bytes(&rd, tl <= BINLOG_GTID_TAG_MAX ? (size_t)tl : SIZE_MAX);
            if (rd.err || !tag_norm((const char *)tb.p, tb.len, tag)) {
                rc = rl_err_set(err, RL_ECORRUPT, "GTID set entry %llu at byte %zu: bad tag",
                                (unsigned long long)i, at);
                goto out;
            }
            tag_len = tb.len;
        }
        uint64_t niv = rl_get_u64le(&rd);
        if (rd.err || niv == 0 || niv > rl_reader_left(&rd) / 16) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "GTID set entry %llu at byte %zu: %llu intervals do not fit",
                            (unsigned long long)i, at, (unsigned long long)niv);
            goto out;
        }
        uint64_t last = 0;
        for (uint64_t k = 0; k < niv; k++) {
            uint64_t s = rl_get_u64le(&rd), e = rl_get_u64le(&rd);
            if (s <= last || e <= s || e > (uint64_t)INT64_MAX) {
                rc = rl_err_set(err, RL_ECORRUPT,
                                "GTID set entry %llu at byte %zu: interval [%llu, %llu) out of "
                                "order or empty",
                                (unsigned long long)i, at, (unsigned long long)s,
                                (unsigned long long)e);
                goto out;
            }
            last = e;
            if (add_range(&tmp, uuid.p, tag, tag_len, s, e) < 0) {
                rc = rl_err_set(err, -ENOMEM, "out of memory decoding a GTID set");
                goto out;
            }
        }
    }
    if (rl_reader_left(&rd) != 0) {
        rc = rl_err_set(err, RL_ECORRUPT, "GTID set: %zu bytes left after the last entry",
                        rl_reader_left(&rd));
        goto out;
    }
    {
        /* Commit: union into a copy so that an OOM leaves the set as it was. */
        binlog_gtid_set res = {0};
        if (binlog_gtid_set_copy(&res, set) < 0 || binlog_gtid_set_union(&res, &tmp) < 0) {
            binlog_gtid_set_clear(&res);
            free(res.ts);
            free(res.dom);
            rc = rl_err_set(err, -ENOMEM, "out of memory decoding a GTID set");
            goto out;
        }
        set_swap(set, &res);
        binlog_gtid_set_clear(&res);
        free(res.ts);
        free(res.dom);
    }
out:
    binlog_gtid_set_clear(&tmp);
    free(tmp.ts);
    free(tmp.dom);
    return rc;
}
