/*
 * snapshot_window.c - the watermark window of an on-demand snapshot (reader/snapshot.h
 * "on-demand window", docs/snapshots.md "On demand").
 *
 * Layout: the keys of the changes remembered sit in one byte arena; an entry per change
 * (murmur2 of the key, its place in the arena, the transaction it belongs to) is chained into
 * a power-of-two bucket array, newest first. Transactions have their GTID text in a second
 * arena. Entries of the transaction being read are at the end of the entry array and are
 * dropped by truncation (rollback) or stamped with the new transaction's index (commit).
 * Prune rebuilds both arrays without the transactions contained in the low watermark.
 * No allocation per change except amortised array growth.
 */
#include "reader/gtid_set.h"
#include "reader/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { WIN_PENDING = UINT32_MAX };

typedef struct win_entry {
    uint32_t hash;
    uint32_t next; /* index + 1 of the next entry in the bucket, 0 = end */
    uint32_t txn;  /* index into txns, WIN_PENDING while the transaction is open */
    uint32_t len;
    size_t off; /* key bytes in keys */
} win_entry;

typedef struct win_txn {
    size_t gtid_off; /* NUL-terminated GTID text in gtids; SIZE_MAX = none */
} win_txn;

struct binlog_snapshot_window {
    rl_buf keys, gtids;
    win_entry *e;
    size_t n, cap;
    size_t pending; /* first entry of the open transaction */
    win_txn *t;
    size_t nt, tcap;
    uint32_t *buckets; /* index + 1 of the newest entry, 0 = empty */
    size_t nbuckets;   /* power of two */
    binlog_gtid_set *stream, *low, *tmp;
    bool have_low;
};

int binlog_snapshot_window_new(binlog_snapshot_window **out)
{
    binlog_snapshot_window *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->nbuckets = 1024;
    w->buckets = calloc(w->nbuckets, sizeof *w->buckets);
    if (!w->buckets || binlog_gtid_set_new(&w->stream) != 0 || binlog_gtid_set_new(&w->low) != 0 ||
        binlog_gtid_set_new(&w->tmp) != 0) {
        binlog_snapshot_window_free(w);
        return -ENOMEM;
    }
    *out = w;
    return 0;
}

void binlog_snapshot_window_free(binlog_snapshot_window *w)
{
    if (!w)
        return;
    rl_buf_free(&w->keys);
    rl_buf_free(&w->gtids);
    free(w->e);
    free(w->t);
    free(w->buckets);
    binlog_gtid_set_free(w->stream);
    binlog_gtid_set_free(w->low);
    binlog_gtid_set_free(w->tmp);
    free(w);
}

void binlog_snapshot_window_reset(binlog_snapshot_window *w)
{
    rl_buf_reset(&w->keys);
    rl_buf_reset(&w->gtids);
    w->n = w->pending = w->nt = 0;
    memset(w->buckets, 0, w->nbuckets * sizeof *w->buckets);
    binlog_gtid_set_clear(w->stream);
    binlog_gtid_set_clear(w->low);
    w->have_low = false;
}

static void link_entry(binlog_snapshot_window *w, size_t i)
{
    size_t b = w->e[i].hash & (w->nbuckets - 1);
    w->e[i].next = w->buckets[b];
    w->buckets[b] = (uint32_t)(i + 1);
}

/* Doubles the buckets when the load passes 1 (keeps chains short). */
static int grow_buckets(binlog_snapshot_window *w)
{
    if (w->n < w->nbuckets)
        return 0;
    size_t nb = w->nbuckets * 2;
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = nb;
    for (size_t i = 0; i < w->n; i++)
        link_entry(w, i);
    return 0;
}

int binlog_snapshot_window_note(binlog_snapshot_window *w, rl_slice key)
{
    if (key.len > UINT32_MAX || w->n >= UINT32_MAX - 1)
        return -ENOMEM;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        win_entry *e = realloc(w->e, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        w->e = e;
        w->cap = cap;
    }
    size_t off = w->keys.len;
    rl_buf_append(&w->keys, key.p, key.len);
    if (!rl_buf_ok(&w->keys))
        return -ENOMEM;
    win_entry *e = &w->e[w->n];
    e->hash = rl_murmur2(key.p, key.len);
    e->txn = WIN_PENDING;
    e->len = (uint32_t)key.len;
    e->off = off;
    link_entry(w, w->n);
    w->n++;
    return grow_buckets(w);
}

void binlog_snapshot_window_rollback(binlog_snapshot_window *w)
{
    /* Entries of the open transaction are the newest: each is its bucket's head. */
    while (w->n > w->pending) {
        win_entry *e = &w->e[--w->n];
        w->buckets[e->hash & (w->nbuckets - 1)] = e->next;
        w->keys.len = e->off;
    }
}

int binlog_snapshot_window_commit(binlog_snapshot_window *w, const char *gtid,
                                  const char *gtid_state, rl_err *err)
{
    int rc = binlog_gtid_set_parse(w->tmp, gtid_state, err);
    if (rc != 0)
        return rc;
    if (w->n > w->pending) {
        if (w->nt == w->tcap) {
            size_t cap = w->tcap ? w->tcap * 2 : 64;
            win_txn *t = realloc(w->t, cap * sizeof *t);
            if (!t)
                return rl_err_set(err, -ENOMEM, "out of memory");
            w->t = t;
            w->tcap = cap;
        }
        size_t goff = SIZE_MAX;
        if (gtid && gtid[0]) {
            goff = w->gtids.len;
            rl_buf_append(&w->gtids, gtid, strlen(gtid) + 1);
            if (!rl_buf_ok(&w->gtids))
                return rl_err_set(err, -ENOMEM, "out of memory");
        }
        w->t[w->nt].gtid_off = goff;
        for (size_t i = w->pending; i < w->n; i++)
            w->e[i].txn = (uint32_t)w->nt;
        w->nt++;
        w->pending = w->n;
    }
    /* The stream's state: swap the parsed one in. */
    binlog_gtid_set *s = w->stream;
    w->stream = w->tmp;
    w->tmp = s;
    return 0;
}

int binlog_snapshot_window_ready(binlog_snapshot_window *w, const char *high, rl_err *err)
{
    int rc = binlog_gtid_set_parse(w->tmp, high, err);
    if (rc != 0)
        return rc;
    if (binlog_gtid_set_is_empty(w->tmp))
        return 1;
    if (binlog_gtid_set_is_empty(w->stream))
        return 0;
    /* high - stream is empty exactly when the stream contains high (for MariaDB: every
     * domain of high at a sequence number the stream has reached). */
    rc = binlog_gtid_set_subtract(w->tmp, w->stream);
    if (rc == RL_ECONFIG)
        return rl_err_set(err, RL_ECONFIG, "GTID state '%s' is of another flavor than the "
                                           "stream's",
                          high);
    if (rc != 0)
        return rl_err_set(err, rc, "out of memory");
    return binlog_gtid_set_is_empty(w->tmp) ? 1 : 0;
}

int binlog_snapshot_window_set_low(binlog_snapshot_window *w, const char *low, rl_err *err)
{
    int rc = binlog_gtid_set_parse(w->low, low, err);
    w->have_low = rc == 0;
    return rc;
}

/* A committed transaction inside the window: not contained in low (a transaction without a
 * GTID cannot be placed, so it counts as inside). */
static bool txn_inside(const binlog_snapshot_window *w, uint32_t txn)
{
    size_t off = w->t[txn].gtid_off;
    if (off == SIZE_MAX || !w->have_low)
        return true;
    return binlog_gtid_set_contains_text(w->low, (const char *)w->gtids.p + off) != 1;
}

bool binlog_snapshot_window_keep(binlog_snapshot_window *w, rl_slice key)
{
    uint32_t h = rl_murmur2(key.p, key.len);
    for (uint32_t i = w->buckets[h & (w->nbuckets - 1)]; i; i = w->e[i - 1].next) {
        const win_entry *e = &w->e[i - 1];
        if (e->hash != h || e->len != key.len || e->txn == WIN_PENDING ||
            memcmp(w->keys.p + e->off, key.p, key.len) != 0)
            continue;
        if (txn_inside(w, e->txn))
            return false;
    }
    return true;
}

size_t binlog_snapshot_window_prune(binlog_snapshot_window *w)
{
    if (!w->have_low)
        return w->pending;
    /* Per transaction: kept or not, and its new index. */
    size_t nt = 0, goff = 0;
    uint32_t *map = malloc((w->nt ? w->nt : 1) * sizeof *map);
    if (!map)
        return w->pending; /* nothing forgotten: correct, only bigger */
    for (size_t i = 0; i < w->nt; i++) {
        if (!txn_inside(w, (uint32_t)i)) {
            map[i] = WIN_PENDING;
            continue;
        }
        size_t off = w->t[i].gtid_off;
        if (off != SIZE_MAX) {
            size_t len = strlen((const char *)w->gtids.p + off) + 1;
            memmove(w->gtids.p + goff, w->gtids.p + off, len);
            w->t[nt].gtid_off = goff;
            goff += len;
        } else {
            w->t[nt].gtid_off = SIZE_MAX;
        }
        map[i] = (uint32_t)nt++;
    }
    w->gtids.len = goff;
    w->nt = nt;
    size_t n = 0, koff = 0, committed = 0;
    for (size_t i = 0; i < w->n; i++) {
        win_entry e = w->e[i];
        if (e.txn != WIN_PENDING) {
            if (map[e.txn] == WIN_PENDING)
                continue;
            e.txn = map[e.txn];
            committed++; /* committed entries precede the open transaction's */
        }
        memmove(w->keys.p + koff, w->keys.p + e.off, e.len);
        e.off = koff;
        koff += e.len;
        w->e[n++] = e;
    }
    w->pending = committed;
    free(map);
    w->keys.len = koff;
    w->n = n;
    memset(w->buckets, 0, w->nbuckets * sizeof *w->buckets);
    for (size_t i = 0; i < w->n; i++)
        link_entry(w, i);
    return w->pending;
}

size_t binlog_snapshot_window_size(const binlog_snapshot_window *w)
{
    return w->pending;
}
