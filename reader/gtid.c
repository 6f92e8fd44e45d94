/*
 * gtid.c - MariaDB GTID state: the last committed GTID per replication domain, as text
 * "domain-server-seq[,domain-server-seq...]" sorted by domain (the form of MariaDB's
 * @@gtid_binlog_pos and @slave_connect_state; MariaDB sql/rpl_gtid.cc).
 *
 *   domain u32, server u32, seq u64, decimal, no signs, no leading '+'.
 *
 * The state is seeded by binlog_decoder_set_gtid_state(), completed by GTID_LIST events for
 * domains it does not know yet, and advanced at every commit of a MariaDB GTID group.
 * binlog_decoder_set_gtid_state() also takes a MySQL GTID set (text with a ':'), kept in the
 * decoder's binlog_gtid_set (gtid_set.c) instead.
 */
#include "reader/binlog_int.h"

#include <errno.h>
#include <stdlib.h>

static bool parse_u64(const char **sp, uint64_t max, uint64_t *out)
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

int binlog__gtid_parse_list(const char *text, binlog_gtid **out, size_t *n, rl_err *err)
{
    binlog_gtid *arr = NULL;
    size_t cnt = 0, cap = 0;
    const char *s = text ? text : "";
    *out = NULL;
    *n = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return 0;
    for (;;) {
        uint64_t d, sv, q;
        const char *at = s;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!parse_u64(&s, UINT32_MAX, &d) || *s++ != '-' || !parse_u64(&s, UINT32_MAX, &sv) ||
            *s++ != '-' || !parse_u64(&s, UINT64_MAX, &q)) {
            free(arr);
            return rl_err_set(err, RL_ECONFIG,
                              "malformed GTID state \"%s\" at \"%s\" (expected "
                              "domain-server-seq[,...])",
                              text, at);
        }
        for (size_t i = 0; i < cnt; i++) {
            if (arr[i].domain == (uint32_t)d) {
                free(arr);
                return rl_err_set(err, RL_ECONFIG, "GTID state \"%s\" names domain %llu twice",
                                  text, (unsigned long long)d);
            }
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            binlog_gtid *na = realloc(arr, ncap * sizeof *na);
            if (!na) {
                free(arr);
                return rl_err_set(err, -ENOMEM, "out of memory parsing the GTID state");
            }
            arr = na;
            cap = ncap;
        }
        /* Insertion keeps the array sorted by domain. */
        size_t i = cnt;
        while (i > 0 && arr[i - 1].domain > (uint32_t)d) {
            arr[i] = arr[i - 1];
            i--;
        }
        arr[i].domain = (uint32_t)d;
        arr[i].server = (uint32_t)sv;
        arr[i].seq = q;
        cnt++;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0')
            break;
        if (*s != ',') {
            free(arr);
            return rl_err_set(err, RL_ECONFIG, "malformed GTID state \"%s\" at \"%s\"", text, s);
        }
        s++;
    }
    *out = arr;
    *n = cnt;
    return 0;
}

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
    binlog_gtid *arr = NULL;
    size_t n = 0;
    int rc;
    if (gtid_state && strchr(gtid_state, ':')) {
        /* A MySQL GTID set (gtid_set.c); the MariaDB state is emptied. */
        rc = binlog_gtid_set_parse(dec->mset, gtid_state, err);
        if (rc < 0)
            return rc;
        dec->mset_seeded = true;
    } else {
        rc = binlog__gtid_parse_list(gtid_state, &arr, &n, err);
        if (rc < 0)
            return rc;
        binlog_gtid_set_clear(dec->mset);
        dec->mset_seeded = false;
    }
    free(dec->gstate);
    dec->gstate = arr;
    dec->gstate_n = n;
    dec->gstate_cap = n;
    return 0;
}
