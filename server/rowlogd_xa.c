/*
 * rowlogd_xa.c - prepared XA transactions held in the log until their outcome
 * (docs/format-binlog.md "XA transactions").
 *
 * The changes of an XA group (binlog_change.xid set) are not appended to their topics: each
 * goes to the internal topic "__rowlog_xa" (cleanup.policy=compact, kept forever), appended
 * before the prepare's checkpoint and made durable by the same log_store_commit, so a prepare
 * is held exactly once whatever the crash point. At its XA COMMIT the held changes are
 * appended to their real topics, in their order, in the commit's place in the stream, followed
 * by one tombstone per held record in __rowlog_xa, all before the XA COMMIT's checkpoint (one
 * log commit: either all of it or none of it survives a crash, and a replay from the previous
 * checkpoint finds the records still held). An XA ROLLBACK appends the tombstones only.
 *
 * Record of __rowlog_xa (one per held change):
 *   key   "<xid>\n<gen, 16 hex digits>\n<seq, 8 hex digits>": xid canonical (binlog_xid_parse),
 *         gen a number unique per prepared transaction (the largest held + 1: an XID may be
 *         reused after its outcome), seq the change's rank in its transaction from 0;
 *   value version u8 = 1, op u8 ('c', 'u', 'd'), ts_ms i64 BE, topic_len u16 BE, topic,
 *         key_len u32 BE (0xffffffff: null key), key, then the change's value to the end;
 *   a null value (tombstone) ends the held record of that key.
 * The records of one transaction spread over the topic's partitions (partitioned by key like
 * every topic); each is located by (partition, offset), its offset read from the partition's
 * log end right after the append (this thread is the store's only writer).
 *
 * Memory: per held transaction its XID and 12 bytes per change (partition, offset); the
 * changes themselves stay in the log and are read back at the XA COMMIT, one decoded batch per
 * partition at a time. Replay at start reads the whole topic once (compaction keeps it to the
 * transactions still held plus recent tombstones when compaction runs).
 *
 * Threading: the source thread only.
 */
#include "server/rowlogd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XA_TOPIC ROWLOGD_XA_TOPIC

typedef struct xa_rec {
    uint32_t part;
    int64_t off;
} xa_rec;

typedef struct xa_txn {
    char xid[BINLOG_XID_TEXT_MAX];
    uint64_t gen;
    bool prepared; /* its prepare was seen (or it came from the log) */
    xa_rec *rec;   /* by seq */
    uint32_t n, cap;
} xa_txn;

/* One decoded batch of a partition (read back at XA COMMIT). */
typedef struct xa_batch {
    int64_t first, last; /* offsets covered, first > last when empty */
    rl_buf data;         /* the values of its records, back to back */
    struct {
        int64_t off;
        size_t pos, len;
        bool null;
    } *r;
    size_t n, cap;
} xa_batch;

struct rowlogd_xa {
    log_store_t *store;
    xa_txn *t;
    size_t n, cap;
    uint64_t next_gen;
    size_t open; /* index of the transaction the last change was held for (SIZE_MAX: none):
                    the changes of one group come together, so one strcmp per change */
    rl_buf key, val, scratch;
};

static void txn_clear(xa_txn *t)
{
    free(t->rec);
    memset(t, 0, sizeof *t);
}

void rowlogd_xa_free(rowlogd_xa *xa)
{
    if (!xa)
        return;
    for (size_t i = 0; i < xa->n; i++)
        txn_clear(&xa->t[i]);
    free(xa->t);
    rl_buf_free(&xa->key);
    rl_buf_free(&xa->val);
    rl_buf_free(&xa->scratch);
    free(xa);
}

static xa_txn *txn_find(rowlogd_xa *xa, const char *xid, size_t xlen, uint64_t gen, bool any_gen)
{
    for (size_t i = 0; i < xa->n; i++) {
        xa_txn *t = &xa->t[i];
        if (strlen(t->xid) == xlen && memcmp(t->xid, xid, xlen) == 0 && (any_gen || t->gen == gen))
            return t;
    }
    return NULL;
}

static xa_txn *txn_add(rowlogd_xa *xa, const char *xid, size_t xlen, uint64_t gen)
{
    if (xlen >= BINLOG_XID_TEXT_MAX)
        return NULL;
    if (xa->n == xa->cap) {
        size_t cap = xa->cap ? xa->cap * 2 : 8;
        xa_txn *nt = realloc(xa->t, cap * sizeof *nt);
        if (!nt)
            return NULL;
        xa->t = nt;
        xa->cap = cap;
    }
    xa_txn *t = &xa->t[xa->n++];
    memset(t, 0, sizeof *t);
    memcpy(t->xid, xid, xlen);
    t->xid[xlen] = '\0';
    t->gen = gen;
    if (gen >= xa->next_gen)
        xa->next_gen = gen + 1;
    return t;
}

static void txn_remove(rowlogd_xa *xa, xa_txn *t)
{
    txn_clear(t);
    size_t i = (size_t)(t - xa->t);
    memmove(xa->t + i, xa->t + i + 1, (xa->n - i - 1) * sizeof *xa->t);
    xa->n--;
    xa->open = SIZE_MAX;
}

static int txn_put(xa_txn *t, uint32_t seq, uint32_t part, int64_t off)
{
    if (seq >= t->cap) {
        uint32_t cap = t->cap ? t->cap : 16;
        while (cap <= seq)
            cap *= 2;
        xa_rec *nr = realloc(t->rec, cap * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        for (uint32_t i = t->cap; i < cap; i++)
            nr[i].off = -1;
        t->rec = nr;
        t->cap = cap;
    }
    t->rec[seq].part = part;
    t->rec[seq].off = off;
    if (seq + 1 > t->n)
        t->n = seq + 1;
    return 0;
}

/* Key "<xid>\n<gen>\n<seq>" split; false when it is not one of ours. */
static bool key_parse(rl_slice k, rl_slice *xid, uint64_t *gen, uint32_t *seq)
{
    if (!k.p || k.len < 1 + 16 + 1 + 8 || k.p[k.len - 9] != '\n' || k.p[k.len - 26] != '\n')
        return false;
    uint64_t g = 0, s = 0;
    for (size_t i = k.len - 25; i < k.len - 9; i++) {
        int d = k.p[i] >= '0' && k.p[i] <= '9' ? k.p[i] - '0'
                : k.p[i] >= 'a' && k.p[i] <= 'f' ? k.p[i] - 'a' + 10 : -1;
        if (d < 0)
            return false;
        g = g << 4 | (uint64_t)d;
    }
    for (size_t i = k.len - 8; i < k.len; i++) {
        int d = k.p[i] >= '0' && k.p[i] <= '9' ? k.p[i] - '0'
                : k.p[i] >= 'a' && k.p[i] <= 'f' ? k.p[i] - 'a' + 10 : -1;
        if (d < 0)
            return false;
        s = s << 4 | (uint64_t)d;
    }
    *xid = rl_slice_make(k.p, k.len - 26);
    *gen = g;
    *seq = (uint32_t)s;
    return true;
}

static void key_make(rl_buf *b, const char *xid, uint64_t gen, uint32_t seq)
{
    rl_buf_reset(b);
    rl_buf_printf(b, "%s\n%016" PRIx64 "\n%08" PRIx32, xid, gen, seq);
}

/* ------------------------------------------------------------------ replay */

typedef struct replay_ctx {
    rowlogd_xa *xa;
    uint32_t part;
    int64_t next;
    rl_err *err;
} replay_ctx;

static int replay_record(void *ctx, const log_record *rec)
{
    replay_ctx *c = ctx;
    if (rec->offset + 1 > c->next)
        c->next = rec->offset + 1;
    rl_slice xid;
    uint64_t gen;
    uint32_t seq;
    if (!key_parse(rec->key, &xid, &gen, &seq))
        return rl_err_set(c->err, RL_ECORRUPT, "%s: partition %u offset %" PRId64
                          ": not a held XA change's key", XA_TOPIC, c->part, rec->offset);
    xa_txn *t = txn_find(c->xa, (const char *)xid.p, xid.len, gen, false);
    if (!rec->value.p) {
        if (t && seq < t->n)
            t->rec[seq].off = -1;
        return 0;
    }
    if (!t && !(t = txn_add(c->xa, (const char *)xid.p, xid.len, gen)))
        return rl_err_set(c->err, -ENOMEM, "%s: out of memory", XA_TOPIC);
    t->prepared = true;
    if (txn_put(t, seq, c->part, rec->offset) != 0)
        return rl_err_set(c->err, -ENOMEM, "%s: out of memory", XA_TOPIC);
    return 0;
}

/* Calls fn on every record of partition p from offset `from` to its high watermark. */
static int scan_partition(rowlogd_xa *xa, uint32_t p, int64_t from,
                          int (*fn)(void *ctx, const log_record *rec), replay_ctx *c, rl_err *err)
{
    int64_t start, hwm;
    int rc = log_store_offsets(xa->store, XA_TOPIC, p, &start, &hwm);
    if (rc != 0)
        return rl_err_set(err, rc, "%s: partition %u: %s", XA_TOPIC, p, rl_strerror(rc));
    c->next = from > start ? from : start;
    while (c->next < hwm) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        int64_t before = c->next;
        rc = log_store_read(xa->store, XA_TOPIC, p, c->next, (size_t)1 << 20, &lr, err);
        if (rc != 0) {
            log_read_release(&lr);
            return rc;
        }
        rl_slice bytes = lr.bytes;
        while (bytes.len > 0) {
            /* RecordBatch v2: baseOffset int64 at 0, lastOffsetDelta int32 at 23. */
            rl_reader hd = rl_reader_make(bytes);
            int64_t base = rl_get_i64be(&hd);
            rl_reader_skip(&hd, 15);
            int32_t last_delta = rl_get_i32be(&hd);
            int n = log_batch_decode(bytes, &xa->scratch, (size_t)1 << 30, fn, c, err);
            if (n == RL_EAGAIN)
                break;
            if (n < 0) {
                log_read_release(&lr);
                return rl_err_wrap(err, n, "%s: partition %u near offset %" PRId64, XA_TOPIC, p,
                                   c->next);
            }
            if (!hd.err && last_delta >= 0 && base + last_delta + 1 > c->next)
                c->next = base + last_delta + 1; /* compaction may have emptied the batch */
            bytes.p += n;
            bytes.len -= (size_t)n;
        }
        log_read_release(&lr);
        if (c->next == before)
            return rl_err_set(err, RL_ECORRUPT,
                              "%s: partition %u: no record readable at offset %" PRId64, XA_TOPIC,
                              p, c->next);
    }
    return 0;
}

int rowlogd_xa_open(rowlogd_xa **out, log_store_t *store, rl_err *err)
{
    *out = NULL;
    rowlogd_xa *xa = calloc(1, sizeof *xa);
    if (!xa)
        return rl_err_set(err, -ENOMEM, "out of memory");
    xa->store = store;
    xa->open = SIZE_MAX;
    /* Held changes must outlive any retention the user sets for topics; compaction may drop
     * the records whose tombstone came. */
    log_topic_config tc;
    log_topic_config_init(&tc);
    tc.retention_ms = -1;
    tc.retention_bytes = -1;
    tc.cleanup = LOG_CLEANUP_COMPACT;
    int rc = log_store_topic_config(store, XA_TOPIC, &tc, err);
    if (rc != 0)
        goto fail;
    int np = log_store_partitions(store, XA_TOPIC);
    for (int p = 0; p < np; p++) {
        replay_ctx c = {xa, (uint32_t)p, 0, err};
        if ((rc = scan_partition(xa, (uint32_t)p, 0, replay_record, &c, err)) != 0)
            goto fail;
    }
    /* Transactions whose every record has its tombstone are over. */
    for (size_t i = 0; i < xa->n;) {
        bool any = false;
        for (uint32_t s = 0; s < xa->t[i].n && !any; s++)
            any = xa->t[i].rec[s].off >= 0;
        if (!any)
            txn_remove(xa, &xa->t[i]);
        else
            i++;
    }
    *out = xa;
    return 0;
fail:
    rowlogd_xa_free(xa);
    return rc;
}

size_t rowlogd_xa_held(const rowlogd_xa *xa)
{
    return xa ? xa->n : 0;
}

/* ------------------------------------------------------------------ hold */

int rowlogd_xa_hold(rowlogd_xa *xa, const binlog_change *ch, rl_err *err)
{
    size_t xlen = strlen(ch->xid);
    xa_txn *t = NULL;
    if (xa->open < xa->n && !xa->t[xa->open].prepared && strcmp(xa->t[xa->open].xid, ch->xid) == 0)
        t = &xa->t[xa->open];
    for (size_t i = 0; !t && i < xa->n; i++)
        if (!xa->t[i].prepared && strcmp(xa->t[i].xid, ch->xid) == 0)
            t = &xa->t[i];
    if (!t && !(t = txn_add(xa, ch->xid, xlen, xa->next_gen)))
        return rl_err_set(err, -ENOMEM, "out of memory holding an XA change");
    xa->open = (size_t)(t - xa->t);
    if (ch->topic.len > UINT16_MAX)
        return rl_err_set(err, RL_ECONFIG, "topic name of %zu bytes", ch->topic.len);
    uint32_t seq = t->n;
    key_make(&xa->key, t->xid, t->gen, seq);
    rl_buf *v = &xa->val;
    rl_buf_reset(v);
    rl_buf_putc(v, 1);
    rl_buf_putc(v, ch->op);
    rl_buf_put_be64(v, (uint64_t)ch->ts_ms);
    rl_buf_put_be16(v, (uint16_t)ch->topic.len);
    rl_buf_append(v, ch->topic.p, ch->topic.len);
    rl_buf_put_be32(v, ch->key.p ? (uint32_t)ch->key.len : UINT32_MAX);
    if (ch->key.p)
        rl_buf_append(v, ch->key.p, ch->key.len);
    rl_buf_append(v, ch->value.p, ch->value.len);
    if (!rl_buf_ok(v) || !rl_buf_ok(&xa->key))
        return rl_err_set(err, -ENOMEM, "out of memory holding an XA change");
    int rc = log_store_append(xa->store, rl_slice_str(XA_TOPIC), rl_buf_slice(&xa->key),
                              rl_buf_slice(v), ch->ts_ms, err);
    if (rc != 0)
        return rc;
    int np = log_store_partitions(xa->store, XA_TOPIC);
    if (np <= 0)
        return rl_err_set(err, RL_ECORRUPT, "%s: no partition after an append", XA_TOPIC);
    uint32_t p = rl_partition_for_key(xa->key.p, xa->key.len, (uint32_t)np);
    int64_t leo;
    if ((rc = log_store_log_end_offset(xa->store, XA_TOPIC, p, &leo)) != 0)
        return rl_err_set(err, rc, "%s: partition %u vanished", XA_TOPIC, p);
    if (txn_put(t, seq, p, leo - 1) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory holding an XA change");
    return 0;
}

void rowlogd_xa_prepared(rowlogd_xa *xa, const char *xid)
{
    for (size_t i = 0; i < xa->n; i++)
        if (!xa->t[i].prepared && strcmp(xa->t[i].xid, xid) == 0)
            xa->t[i].prepared = true;
}

bool rowlogd_xa_needs_commit(rowlogd_xa *xa, const char *xid)
{
    xa_txn *t = txn_find(xa, xid, strlen(xid), 0, true);
    if (!t)
        return false;
    for (uint32_t s = 0; s < t->n; s++) {
        int64_t start, hwm;
        if (t->rec[s].off >= 0 &&
            (log_store_offsets(xa->store, XA_TOPIC, t->rec[s].part, &start, &hwm) != 0 ||
             t->rec[s].off >= hwm))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ end */

static int batch_record(void *ctx, const log_record *rec)
{
    xa_batch *b = ctx;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        void *nr = realloc(b->r, cap * sizeof *b->r);
        if (!nr)
            return -ENOMEM;
        b->r = nr;
        b->cap = cap;
    }
    b->r[b->n].off = rec->offset;
    b->r[b->n].pos = b->data.len;
    b->r[b->n].len = rec->value.len;
    b->r[b->n].null = rec->value.p == NULL;
    b->n++;
    if (rec->value.p)
        rl_buf_append(&b->data, rec->value.p, rec->value.len);
    return rl_buf_ok(&b->data) ? 0 : -ENOMEM;
}

/* Loads into b the batch of partition p that holds offset off. */
static int batch_load(rowlogd_xa *xa, xa_batch *b, uint32_t p, int64_t off, rl_err *err)
{
    b->n = 0;
    rl_buf_reset(&b->data);
    b->first = 1;
    b->last = 0;
    log_read lr;
    memset(&lr, 0, sizeof lr);
    int rc = log_store_read(xa->store, XA_TOPIC, p, off, (size_t)1, &lr, err);
    if (rc != 0) {
        log_read_release(&lr);
        return rl_err_wrap(err, rc, "%s: reading held change at partition %u offset %" PRId64,
                           XA_TOPIC, p, off);
    }
    rl_reader hd = rl_reader_make(lr.bytes);
    int64_t base = rl_get_i64be(&hd);
    rl_reader_skip(&hd, 15);
    int32_t last_delta = rl_get_i32be(&hd);
    int n = log_batch_decode(lr.bytes, &xa->scratch, (size_t)1 << 30, batch_record, b, err);
    log_read_release(&lr);
    if (n < 0 || hd.err)
        return rl_err_wrap(err, n < 0 ? n : RL_ECORRUPT,
                           "%s: partition %u batch at offset %" PRId64, XA_TOPIC, p, off);
    b->first = base;
    b->last = base + last_delta;
    return 0;
}

int rowlogd_xa_end(rowlogd_xa *xa, const char *xid, bool commit,
                   int (*publish)(void *ctx, const binlog_change *ch), void *ctx, rl_err *err)
{
    xa_txn *t = NULL;
    for (size_t i = 0; i < xa->n; i++)
        if (xa->t[i].prepared && strcmp(xa->t[i].xid, xid) == 0)
            t = &xa->t[i];
    if (!t)
        return 0;
    int np = log_store_partitions(xa->store, XA_TOPIC);
    xa_batch *bs = NULL;
    int rc = 0;
    int count = 0;
    if (commit && np > 0) {
        bs = calloc((size_t)np, sizeof *bs);
        if (!bs)
            return rl_err_set(err, -ENOMEM, "out of memory");
        for (int p = 0; p < np; p++) {
            bs[p].first = 1;
            bs[p].last = 0;
        }
    }
    for (uint32_t s = 0; commit && s < t->n; s++) {
        xa_rec r = t->rec[s];
        if (r.off < 0)
            continue;
        if (r.part >= (uint32_t)np) {
            rc = rl_err_set(err, RL_ECORRUPT, "%s: held change in partition %u of %d", XA_TOPIC,
                            r.part, np);
            goto out;
        }
        xa_batch *b = &bs[r.part];
        if (r.off < b->first || r.off > b->last) {
            if ((rc = batch_load(xa, b, r.part, r.off, err)) != 0)
                goto out;
        }
        size_t i = 0;
        while (i < b->n && b->r[i].off != r.off)
            i++;
        if (i == b->n || b->r[i].null) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: held change %u of xid %s missing at partition %u offset %" PRId64,
                            XA_TOPIC, s, xid, r.part, r.off);
            goto out;
        }
        rl_reader rd = rl_reader_make(rl_slice_make(b->data.p + b->r[i].pos, b->r[i].len));
        uint8_t ver = rl_get_u8(&rd);
        binlog_change ch;
        memset(&ch, 0, sizeof ch);
        ch.op = (char)rl_get_u8(&rd);
        ch.ts_ms = rl_get_i64be(&rd);
        uint16_t tl = (uint16_t)rl_get_uNbe(&rd, 2);
        ch.topic = rl_get_bytes(&rd, tl);
        uint32_t kl = (uint32_t)rl_get_uNbe(&rd, 4);
        if (kl != UINT32_MAX)
            ch.key = rl_get_bytes(&rd, kl);
        ch.value = rl_get_rest(&rd);
        if (rd.err || ver != 1 || (ch.op != 'c' && ch.op != 'u' && ch.op != 'd')) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: held change at partition %u offset %" PRId64 " is malformed",
                            XA_TOPIC, r.part, r.off);
            goto out;
        }
        if ((rc = publish(ctx, &ch)) != 0)
            goto out;
        count++;
    }
    /* The tombstones: the transaction is no longer held once this commit is durable. */
    for (uint32_t s = 0; s < t->n; s++) {
        if (t->rec[s].off < 0)
            continue;
        key_make(&xa->key, t->xid, t->gen, s);
        if (!rl_buf_ok(&xa->key)) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        rc = log_store_append(xa->store, rl_slice_str(XA_TOPIC), rl_buf_slice(&xa->key),
                              rl_slice_make(NULL, 0), rl_now_ms(), err);
        if (rc != 0)
            goto out;
    }
    txn_remove(xa, t);
    rc = count;
out:
    for (int p = 0; bs && p < np; p++) {
        rl_buf_free(&bs[p].data);
        free(bs[p].r);
    }
    free(bs);
    return rc;
}
