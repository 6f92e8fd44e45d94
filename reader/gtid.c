/*
 * gtid.c - MariaDB GTID state: the last committed GTID per replication domain, as text
 * "domain-server-seq[,domain-server-seq...]" sorted by domain (the form of MariaDB's
 * @@gtid_binlog_pos and @slave_connect_state; MariaDB sql/rpl_gtid.cc).
 *
 *   domain u32, server u32, seq u64, decimal, no signs, no leading '+'.
 *
 * The state is seeded by binlog_decoder_set_gtid_state() (the text grammar is gtid_set.c's,
 * binlog_gtid_set_parse), completed by GTID_LIST events for domains it does not know yet, and
 * advanced at every commit of a MariaDB GTID group.
 * binlog_decoder_set_gtid_state() also takes a MySQL GTID set (text with a ':'), kept in the
 * decoder's binlog_gtid_set (gtid_set.c) instead.
 *
 * Also the XIDs of XA transactions (binlog_xid_parse, binlog__xid_format): the canonical text
 * "X'<gtrid hex>',X'<bqual hex>',<formatID>" is what MySQL's XID::serialize writes into its
 * binlog QUERY events (mysql-server sql/xa.cc) and what MariaDB 10.5+ writes too (sql/xa.cc
 * XID serialization); older texts with quoted strings parse to the same key.
 */
#include "reader/binlog_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int binlog__gtid_state_put(binlog_decoder_t *dec, binlog_gtid g, bool only_if_absent)
{
    size_t i = 0;
    while (i < dec->gstate_n && dec->gstate[i].domain < g.domain)
        i++;
    if (i < dec->gstate_n && dec->gstate[i].domain == g.domain) {
        if (!only_if_absent)
            dec->gstate[i] = g;
        return 0;
    }
    if (dec->gstate_n == dec->gstate_cap) {
        size_t ncap = dec->gstate_cap ? dec->gstate_cap * 2 : 4;
        binlog_gtid *na = realloc(dec->gstate, ncap * sizeof *na);
        if (!na)
            return -ENOMEM;
        dec->gstate = na;
        dec->gstate_cap = ncap;
    }
    memmove(dec->gstate + i + 1, dec->gstate + i, (dec->gstate_n - i) * sizeof *dec->gstate);
    dec->gstate[i] = g;
    dec->gstate_n++;
    return 0;
}

const char *binlog__gtid_state_text(binlog_decoder_t *dec)
{
    rl_buf *b = &dec->gstate_text;
    rl_buf_reset(b);
    for (size_t i = 0; i < dec->gstate_n; i++) {
        if (i)
            rl_buf_putc(b, ',');
        rl_buf_put_u64(b, dec->gstate[i].domain);
        rl_buf_putc(b, '-');
        rl_buf_put_u64(b, dec->gstate[i].server);
        rl_buf_putc(b, '-');
        rl_buf_put_u64(b, dec->gstate[i].seq);
    }
    return rl_buf_cstr(b);
}

int binlog_decoder_set_gtid_state(binlog_decoder_t *dec, const char *gtid_state, rl_err *err)
{
    if (gtid_state && strchr(gtid_state, ':')) {
        /* A MySQL GTID set (gtid_set.c); the MariaDB state is emptied. */
        int rc = binlog_gtid_set_parse(dec->mset, gtid_state, err);
        if (rc < 0)
            return rc;
        dec->mset_seeded = true;
        dec->gstate_n = 0;
        return 0;
    }
    /* A MariaDB state: parsed as a GTID set (one text grammar, gtid_set.c), then copied into
     * the sorted per-domain array the decoder advances at every commit. */
    binlog_gtid_set *tmp = NULL;
    binlog_gtid *arr = NULL;
    int rc = binlog_gtid_set_new(&tmp);
    if (rc < 0)
        return rl_err_set(err, rc, "out of memory parsing the GTID state");
    rc = binlog_gtid_set_parse(tmp, gtid_state, err);
    if (rc < 0)
        goto out;
    size_t n = binlog_gtid_set_mariadb_count(tmp);
    if (n) {
        arr = malloc(n * sizeof *arr);
        if (!arr) {
            rc = rl_err_set(err, -ENOMEM, "out of memory parsing the GTID state");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        binlog_gtid_set_mariadb_at(tmp, i, &arr[i].domain, &arr[i].server, &arr[i].seq);
    binlog_gtid_set_clear(dec->mset);
    dec->mset_seeded = false;
    free(dec->gstate);
    dec->gstate = arr;
    dec->gstate_n = n;
    dec->gstate_cap = n;
    rc = 0;
out:
    binlog_gtid_set_free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ XA XIDs */

void binlog__xid_format(char *out, int64_t format_id, const uint8_t *gtrid, size_t gl,
                        const uint8_t *bqual, size_t bl)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    const uint8_t *part[2] = {gtrid, bqual};
    size_t len[2] = {gl > 64 ? 64 : gl, bl > 64 ? 64 : bl};
    for (int k = 0; k < 2; k++) {
        *o++ = 'X';
        *o++ = '\'';
        for (size_t i = 0; i < len[k]; i++) {
            *o++ = hex[part[k][i] >> 4];
            *o++ = hex[part[k][i] & 15];
        }
        *o++ = '\'';
        *o++ = ',';
    }
    snprintf(o, BINLOG_XID_TEXT_MAX - (size_t)(o - out), "%lld", (long long)format_id);
}

static int hexdig(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void xid_skip_space(rl_slice *s)
{
    while (s->len && (s->p[0] == ' ' || s->p[0] == '\t' || s->p[0] == '\n' || s->p[0] == '\r')) {
        s->p++;
        s->len--;
    }
}

/* One gtrid or bqual: 'text', "text", X'hex', x'hex' or 0xhex, into out (64 bytes max). */
static bool xid_part(rl_slice *s, uint8_t *out, size_t *n)
{
    *n = 0;
    xid_skip_space(s);
    if (s->len >= 2 && (s->p[0] == 'X' || s->p[0] == 'x') && s->p[1] == '\'') {
        size_t i = 2;
        while (i < s->len && s->p[i] != '\'')
            i++;
        if (i >= s->len || (i - 2) % 2 || (i - 2) / 2 > 64)
            return false;
        for (size_t j = 2; j < i; j += 2) {
            int h = hexdig(s->p[j]), l = hexdig(s->p[j + 1]);
            if (h < 0 || l < 0)
                return false;
            out[(*n)++] = (uint8_t)(h << 4 | l);
        }
        s->p += i + 1;
        s->len -= i + 1;
        return true;
    }
    if (s->len >= 2 && s->p[0] == '0' && (s->p[1] == 'x' || s->p[1] == 'X')) {
        size_t i = 2;
        while (i < s->len && hexdig(s->p[i]) >= 0)
            i++;
        size_t digits = i - 2;
        if (digits == 0 || (digits + 1) / 2 > 64)
            return false;
        size_t j = 2;
        if (digits % 2) { /* 0xabc is 0x0abc */
            out[(*n)++] = (uint8_t)hexdig(s->p[j]);
            j++;
        }
        for (; j < i; j += 2)
            out[(*n)++] = (uint8_t)(hexdig(s->p[j]) << 4 | hexdig(s->p[j + 1]));
        s->p += i;
        s->len -= i;
        return true;
    }
    if (s->len >= 1 && (s->p[0] == '\'' || s->p[0] == '"')) {
        uint8_t q = s->p[0];
        size_t i = 1;
        for (;;) {
            if (i >= s->len)
                return false;
            uint8_t c = s->p[i];
            if (c == '\\' && i + 1 < s->len) {
                c = s->p[i + 1];
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '0' ? 0 : c;
                i += 2;
            } else if (c == q && i + 1 < s->len && s->p[i + 1] == q) {
                i += 2;
            } else if (c == q) {
                i++;
                break;
            } else {
                i++;
            }
            if (*n == 64)
                return false;
            out[(*n)++] = c;
        }
        s->p += i;
        s->len -= i;
        return true;
    }
    return false;
}

int binlog_xid_parse(rl_slice sql, char *out, rl_slice *rest)
{
    uint8_t g[64], b[64];
    size_t gl = 0, bl = 0;
    int64_t fmt = 1;
    out[0] = '\0';
    rl_slice s = sql;
    if (!xid_part(&s, g, &gl))
        return RL_ECORRUPT;
    xid_skip_space(&s);
    if (s.len && s.p[0] == ',') {
        s.p++;
        s.len--;
        if (!xid_part(&s, b, &bl))
            return RL_ECORRUPT;
        xid_skip_space(&s);
        if (s.len && s.p[0] == ',') {
            s.p++;
            s.len--;
            xid_skip_space(&s);
            bool neg = s.len && s.p[0] == '-';
            if (neg) {
                s.p++;
                s.len--;
            }
            size_t i = 0;
            uint64_t v = 0;
            while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && i < 19)
                v = v * 10 + (uint64_t)(s.p[i++] - '0');
            /* formatID is a C long in MySQL's XID; both servers keep it to 32 bits. */
            if (i == 0 || (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') ||
                v > (neg ? INT32_MAX + 1ull : (uint64_t)INT32_MAX))
                return RL_ECORRUPT;
            fmt = neg ? -(int64_t)v : (int64_t)v;
            s.p += i;
            s.len -= i;
        }
    }
    /* The XID must end at a word boundary: white space, a comment or the end. */
    if (s.len && !(s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\n' || s.p[0] == '\r' ||
                   s.p[0] == '/' || s.p[0] == ';'))
        return RL_ECORRUPT;
    binlog__xid_format(out, fmt, g, gl, b, bl);
    if (rest)
        *rest = s;
    return 0;
}
