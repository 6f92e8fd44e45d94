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
 */
#include "reader/binlog_int.h"

#include <errno.h>
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
