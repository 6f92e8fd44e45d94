/*
 * kafka_offsets.c - committed offsets: OffsetCommit 2-7 and OffsetFetch 1-5, kept per group in
 * memory and, when kafka_server_opts.offsets_dir is set, made durable in a log_store of the
 * server's own (written only by the loop thread) before the commit is acknowledged.
 *
 * Sources: apache/kafka clients/src/main/resources/common/message/{OffsetCommit,OffsetFetch}
 * {Request,Response}.json (layouts); core/src/main/resources/common/message/OffsetCommitKey.json
 * and OffsetCommitValue.json (the record layout of Kafka's __consumer_offsets, reused here);
 * GroupCoordinator.scala (commit validation). Types as in kafka_api.c; mirrored in
 * docs/format-kafka.md.
 *
 * OffsetCommit (8) v2-7. Request: group_id string, generation_id int32, member_id string,
 * group_instance_id nullable string (v7+), retention_time_ms int64 (v2-4; ignored: committed
 * offsets do not expire), topics array of: name string, partitions array of:
 * partition_index int32, committed_offset int64, committed_leader_epoch int32 (v6+),
 * committed_metadata nullable string (null is stored as "", as Kafka does).
 * Response: throttle_time_ms int32 (v3+), topics array of: name string, partitions array of:
 * partition_index int32, error_code int16 (0; 3 UNKNOWN_TOPIC_OR_PARTITION: not a topic of
 * the log; 12 OFFSET_METADATA_TOO_LARGE: above 4096 bytes; 22 ILLEGAL_GENERATION; 24
 * INVALID_GROUP_ID; 25 UNKNOWN_MEMBER_ID; 27 REBALANCE_IN_PROGRESS; -1 the offsets log
 * failed, logged). A commit with generation -1 is accepted for a group without members.
 *
 * OffsetFetch (9) v1-5. Request: group_id string, topics array (nullable in v2+: null = every
 * committed offset of the group) of: name string, partition_indexes array of int32.
 * Response: throttle_time_ms int32 (v3+), topics array of: name string, partitions array of:
 * partition_index int32, committed_offset int64 (-1: none), committed_leader_epoch int32
 * (v5+; -1 when none was committed), metadata nullable string ("" when none), error_code
 * int16 (0); then error_code int16 (v2+; 0).
 *
 * Offsets store: topic "__consumer_offsets", one partition, one record per committed
 * partition offset, the latest record of a key wins (replayed in order at start):
 *   key   (OffsetCommitKey v1):   version int16 = 1, group string, topic string,
 *                                 partition int32
 *   value (OffsetCommitValue v3): version int16 = 3, offset int64, leader_epoch int32,
 *                                 metadata string, commit_timestamp int64 (ms)
 *   a null value (tombstone) deletes the key; records with a key version above 1 (Kafka's
 *   group metadata) are skipped.
 * Durability: the records of every OffsetCommit handled in one loop iteration are appended,
 * then made durable by one log_store_commit (group commit) before any of those requests is
 * answered; a failed commit poisons the store and every later commit is answered -1.
 * Compaction: the topic is cleanup.policy=compact (set at every open, so a store written
 * before keeps it too), segments roll at offsets_segment_bytes or after an hour, and a thread
 * of the server's own runs log_store_compact every offsets_compact_interval_ms. It cannot run
 * on the loop: a pass reads and rewrites whole segments (log.h: "ONE maintenance thread, not
 * the writer"), and the loop thread is this store's writer. Compaction keeps offsets, so a
 * replay walks batches that may hold no record; it goes on from each batch's last offset.
 * Not done: the fsync of a commit runs on the loop thread.
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct kafka_offset {
    kafka_hnode node; /* first: the group's offsets table */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    int64_t commit_ts;
    rl_buf metadata;
    size_t topic_len;
    char topic[]; /* topic_len bytes + NUL */
} kafka_offset;

typedef struct offset_key {
    rl_slice topic;
    int32_t partition;
} offset_key;

static uint32_t offset_hash(rl_slice topic, int32_t partition)
{
    return kafka__hash(topic.p, topic.len) ^ ((uint32_t)partition * 0x9e3779b1u);
}

static bool offset_eq(const kafka_hnode *n, const void *key)
{
    const kafka_offset *o = (const kafka_offset *)n;
    const offset_key *k = key;
    return o->partition == k->partition && o->topic_len == k->topic.len &&
           memcmp(o->topic, k->topic.p, k->topic.len) == 0;
}

static kafka_offset *offset_find(kafka_htab *t, rl_slice topic, int32_t partition)
{
    offset_key k = {topic, partition};
    return (kafka_offset *)kafka__htab_find(t, offset_hash(topic, partition), offset_eq, &k);
}

static void offset_free(kafka_offset *o)
{
    rl_buf_free(&o->metadata);
    free(o);
}

/* Sets (group, topic, partition) to offset. Returns 0 or -ENOMEM (nothing changed). */
static int offset_set(kafka_group *g, rl_slice topic, int32_t partition, int64_t offset,
                      int32_t epoch, rl_slice metadata, int64_t ts)
{
    kafka_htab *t = kafka__group_offsets(g);
    kafka_offset *o = offset_find(t, topic, partition);
    bool fresh = o == NULL;
    if (fresh) {
        o = calloc(1, sizeof *o + topic.len + 1);
        if (!o)
            return -ENOMEM;
        o->node.hash = offset_hash(topic, partition);
        o->partition = partition;
        o->topic_len = topic.len;
        memcpy(o->topic, topic.p, topic.len);
    }
    rl_buf md = RL_BUF_INIT;
    rl_buf_append(&md, metadata.p, metadata.len);
    if (!rl_buf_ok(&md) || (fresh && kafka__htab_insert(t, &o->node) != 0)) {
        rl_buf_free(&md);
        if (fresh)
            free(o);
        return -ENOMEM;
    }
    rl_buf_free(&o->metadata);
    o->metadata = md;
    o->offset = offset;
    o->leader_epoch = epoch;
    o->commit_ts = ts;
    return 0;
}

static void offsets_free_one(kafka_hnode *n, void *ctx)
{
    (void)ctx;
    offset_free((kafka_offset *)n);
}

void kafka__offsets_free(kafka_htab *offsets)
{
    kafka__htab_each(offsets, offsets_free_one, NULL);
    kafka__htab_free(offsets);
}

/* ------------------------------------------------------------------ published copy */

void kafka__offsets_changed(kafka_server_t *srv)
{
    srv->pub_dirty = true;
    kafka__ready_kick(srv);
}

typedef struct pub_ctx {
    kafka_committed_offset *v;
    size_t n, cap;
    const kafka_group *group;
    bool oom;
} pub_ctx;

static void copy_cut(char dst[256], const void *src, size_t len)
{
    if (len > 255)
        len = 255;
    memcpy(dst, src, len);
    dst[len] = 0;
}

static void pub_offset(kafka_hnode *n, void *arg)
{
    pub_ctx *c = arg;
    const kafka_offset *o = (const kafka_offset *)n;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        kafka_committed_offset *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    kafka_committed_offset *e = &c->v[c->n++];
    rl_slice g = kafka__group_name(c->group);
    copy_cut(e->group, g.p, g.len);
    copy_cut(e->topic, o->topic, o->topic_len);
    e->partition = o->partition;
    e->offset = o->offset;
    e->commit_ms = o->commit_ts;
    size_t m = kafka__group_nmembers(c->group);
    e->members = m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
}

static void pub_group(kafka_hnode *n, void *arg)
{
    pub_ctx *c = arg;
    kafka_group *g = (kafka_group *)n;
    if (c->oom)
        return;
    c->group = g;
    kafka__htab_each(kafka__group_offsets(g), pub_offset, c);
}

static int pub_cmp(const void *a, const void *b)
{
    const kafka_committed_offset *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    if (c == 0)
        c = strcmp(x->topic, y->topic);
    if (c == 0)
        c = (x->partition > y->partition) - (x->partition < y->partition);
    return c;
}

void kafka__offsets_publish(kafka_server_t *srv)
{
    if (!srv->pub_dirty)
        return;
    pub_ctx c;
    memset(&c, 0, sizeof c);
    kafka__htab_each(&srv->groups, pub_group, &c);
    if (c.oom) {
        /* Keep the previous copy; pub_dirty stays set, so the next iteration tries again. */
        free(c.v);
        return;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof *c.v, pub_cmp);
    pthread_mutex_lock(&srv->pub_mu);
    kafka_committed_offset *old = srv->pub;
    srv->pub = c.v;
    srv->npub = c.n;
    pthread_mutex_unlock(&srv->pub_mu);
    free(old);
    srv->pub_dirty = false;
}

int kafka_server_committed_offsets(kafka_server_t *srv, kafka_committed_offset **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc = 0;
    pthread_mutex_lock(&srv->pub_mu);
    if (srv->npub > 0) {
        kafka_committed_offset *v = malloc(srv->npub * sizeof *v);
        if (v) {
            memcpy(v, srv->pub, srv->npub * sizeof *v);
            *out = v;
            *n = srv->npub;
        } else {
            rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&srv->pub_mu);
    return rc;
}

/* ------------------------------------------------------------------ store records */

static void put_slice_str(rl_buf *b, rl_slice s)
{
    kafka__put_str(b, rl_slice_make(s.p ? s.p : (const uint8_t *)"", s.len));
}

/* Appends one committed offset to the offsets store (not yet durable). */
static int store_append(kafka_server_t *srv, rl_slice group, rl_slice topic, int32_t partition,
                        int64_t offset, int32_t epoch, rl_slice metadata, int64_t ts,
                        rl_err *err)
{
    rl_buf *b = &srv->offsets_scratch;
    rl_buf_reset(b);
    rl_buf_put_be16(b, 1);
    put_slice_str(b, group);
    put_slice_str(b, topic);
    rl_buf_put_be32(b, (uint32_t)partition);
    size_t key_len = b->len;
    rl_buf_put_be16(b, 3);
    rl_buf_put_be64(b, (uint64_t)offset);
    rl_buf_put_be32(b, (uint32_t)epoch);
    put_slice_str(b, metadata);
    rl_buf_put_be64(b, (uint64_t)ts);
    if (!rl_buf_ok(b))
        return rl_err_set(err, -ENOMEM, "out of memory encoding a committed offset");
    return log_store_append(srv->offsets, rl_slice_str(KAFKA_OFFSETS_TOPIC),
                            rl_slice_make(b->p, key_len),
                            rl_slice_make(b->p + key_len, b->len - key_len), ts, err);
}

typedef struct replay_ctx {
    kafka_server_t *srv;
    int64_t from; /* records below were applied by an earlier read */
    int64_t next;
    uint64_t applied;
    rl_err *err;
} replay_ctx;

static int replay_record(void *arg, const log_record *rec)
{
    replay_ctx *c = arg;
    if (rec->offset < c->from)
        return 0;
    c->next = rec->offset + 1;
    rl_reader rd = rl_reader_make(rec->key);
    int16_t kv = rl_get_i16be(&rd);
    if (!rd.err && (kv < 0 || kv > 1))
        return 0; /* not an offset commit (Kafka's group metadata key versions are 2+) */
    rl_slice group, topic;
    bool ok = kafka__get_str(&rd, false, &group) && kafka__get_str(&rd, false, &topic);
    int32_t partition = rl_get_i32be(&rd);
    if (!ok || rd.err || rl_reader_left(&rd) != 0)
        return rl_err_set(c->err, RL_ECORRUPT,
                          "offsets store: record at offset %" PRId64 ": malformed key",
                          rec->offset);
    kafka_group *g = kafka__group_get(c->srv, group, rec->value.p != NULL);
    if (!rec->value.p) {
        kafka_offset *o = g ? offset_find(kafka__group_offsets(g), topic, partition) : NULL;
        if (o) {
            kafka__htab_remove(kafka__group_offsets(g), &o->node);
            offset_free(o);
            kafka__group_maybe_free(g);
        }
        return 0;
    }
    if (!g)
        return rl_err_set(c->err, -ENOMEM, "offsets store: out of memory");
    rd = rl_reader_make(rec->value);
    int16_t vv = rl_get_i16be(&rd);
    int64_t offset = rl_get_i64be(&rd);
    int32_t epoch = rl_get_i32be(&rd);
    rl_slice md;
    ok = kafka__get_str(&rd, false, &md);
    int64_t ts = rl_get_i64be(&rd);
    if (vv != 3 || !ok || rd.err || rl_reader_left(&rd) != 0)
        return rl_err_set(c->err, RL_ECORRUPT,
                          "offsets store: record at offset %" PRId64
                          ": malformed value (version %d)",
                          rec->offset, vv);
    if (offset_set(g, topic, partition, offset, epoch, md, ts) != 0)
        return rl_err_set(c->err, -ENOMEM, "offsets store: out of memory");
    c->applied++;
    return 0;
}

/* Replays one partition of the offsets topic, in order. */
static int replay_partition(kafka_server_t *srv, uint32_t p, rl_err *err)
{
    int64_t start, hwm;
    int rc = log_store_offsets(srv->offsets, KAFKA_OFFSETS_TOPIC, p, &start, &hwm);
    if (rc != 0)
        return rl_err_set(err, rc, "offsets store: partition %u: %s", p, rl_strerror(rc));
    replay_ctx c = {srv, start, start, 0, err};
    rl_buf scratch = RL_BUF_INIT;
    while (c.next < hwm) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        c.from = c.next;
        rc = log_store_read(srv->offsets, KAFKA_OFFSETS_TOPIC, p, c.next, (size_t)1 << 20, &lr,
                            err);
        if (rc != 0) {
            log_read_release(&lr);
            goto out;
        }
        rl_slice bytes = lr.bytes;
        int64_t before = c.next;
        while (bytes.len > 0) {
            /* RecordBatch v2: baseOffset int64 at 0, lastOffsetDelta int32 at 23. */
            rl_reader hd = rl_reader_make(bytes);
            int64_t base = rl_get_i64be(&hd);
            rl_reader_skip(&hd, 15);
            int32_t last_delta = rl_get_i32be(&hd);
            int n = log_batch_decode(bytes, &scratch, (size_t)64 << 20, replay_record, &c, err);
            if (n == RL_EAGAIN)
                break;
            if (n < 0) {
                log_read_release(&lr);
                rc = rl_err_wrap(err, n, "offsets store: partition %u near offset %" PRId64, p,
                                 c.next);
                goto out;
            }
            /* A compacted batch may have lost its last records (or all of them). */
            if (!hd.err && last_delta >= 0 && base + last_delta + 1 > c.next)
                c.next = base + last_delta + 1;
            bytes.p += n;
            bytes.len -= (size_t)n;
        }
        log_read_release(&lr);
        if (c.next == before) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "offsets store: partition %u: no record readable at offset %" PRId64
                            " below the high watermark %" PRId64,
                            p, c.next, hwm);
            goto out;
        }
    }
    rl_info("kafka: offsets store: %" PRIu64 " committed offsets replayed (offsets %" PRId64
            " to %" PRId64 ")",
            c.applied, start, hwm);
    rc = 0;
out:
    rl_buf_free(&scratch);
    return rc;
}

/* The compaction thread: one log_store_compact pass per interval until stopped. */
static void *compact_main(void *arg)
{
    kafka_server_t *srv = arg;
    uint32_t ms = srv->opts.offsets_compact_interval_ms;
    char last[sizeof(((rl_err *)0)->msg)] = "";
    pthread_mutex_lock(&srv->compact_mu);
    while (!srv->compact_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!srv->compact_stop &&
               pthread_cond_timedwait(&srv->compact_cv, &srv->compact_mu, &ts) == 0)
            ;
        if (srv->compact_stop)
            break;
        pthread_mutex_unlock(&srv->compact_mu);
        rl_err err = {0};
        int n = log_store_compact(srv->offsets, rl_now_ms(), &err);
        if (n > 0) {
            KAFKA_STAT_ADD(srv, offsets_compacted, (uint64_t)n);
            rl_debug("kafka: offsets store: %d segments compacted", n);
            last[0] = 0;
        } else if (n < 0 && strcmp(last, err.msg) != 0) {
            /* Said once per distinct failure, not every interval. */
            rl_warn("kafka: offsets store: compaction: %s", err.msg);
            snprintf(last, sizeof last, "%s", err.msg);
        }
        pthread_mutex_lock(&srv->compact_mu);
    }
    pthread_mutex_unlock(&srv->compact_mu);
    return NULL;
}

static int compact_start(kafka_server_t *srv, rl_err *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&srv->compact_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return rl_err_set(err, -rc, "kafka: offsets store: condition variable: %s",
                          strerror(rc));
    pthread_mutex_init(&srv->compact_mu, NULL);
    srv->compact_stop = false;
    rc = pthread_create(&srv->compact_thread, NULL, compact_main, srv);
    if (rc != 0) {
        pthread_cond_destroy(&srv->compact_cv);
        pthread_mutex_destroy(&srv->compact_mu);
        return rl_err_set(err, -rc, "kafka: offsets store: compaction thread: %s",
                          strerror(rc));
    }
    srv->compact_running = true;
    return 0;
}

static void compact_stop(kafka_server_t *srv)
{
    if (!srv->compact_running)
        return;
    pthread_mutex_lock(&srv->compact_mu);
    srv->compact_stop = true;
    pthread_cond_signal(&srv->compact_cv);
    pthread_mutex_unlock(&srv->compact_mu);
    pthread_join(srv->compact_thread, NULL);
    pthread_cond_destroy(&srv->compact_cv);
    pthread_mutex_destroy(&srv->compact_mu);
    srv->compact_running = false;
}

int kafka__offsets_open(kafka_server_t *srv, rl_err *err)
{
    if (!srv->opts.offsets_dir[0])
        return 0;
    log_topic_config tc;
    log_topic_config_init(&tc);
    tc.cleanup = LOG_CLEANUP_COMPACT;
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 1;
    /* Small records: a small active segment keeps the reserved address space modest, and
     * only sealed segments are compacted. An idle store still rolls hourly. */
    lo.segment_bytes = srv->opts.offsets_segment_bytes;
    lo.segment_ms = 3600 * 1000;
    lo.topic_defaults = &tc;
    int rc = log_store_open(&srv->offsets, srv->opts.offsets_dir, &lo, err);
    if (rc != 0)
        return rl_err_wrap(err, rc, "kafka: offsets store %s", srv->opts.offsets_dir);
    /* A store written before compaction existed has the topic with the delete policy. */
    log_topic_config cur;
    if (log_store_topic_config_get(srv->offsets, KAFKA_OFFSETS_TOPIC, &cur) == 0 &&
        !(cur.cleanup & LOG_CLEANUP_COMPACT) &&
        (rc = log_store_topic_config(srv->offsets, KAFKA_OFFSETS_TOPIC, &tc, err)) != 0) {
        rl_err_wrap(err, rc, "kafka: offsets store %s", srv->opts.offsets_dir);
        kafka__offsets_close(srv);
        return rc;
    }
    int np = log_store_partitions(srv->offsets, KAFKA_OFFSETS_TOPIC);
    for (int p = 0; p < np; p++) {
        rc = replay_partition(srv, (uint32_t)p, err);
        if (rc != 0) {
            rl_err_wrap(err, rc, "kafka: offsets store %s", srv->opts.offsets_dir);
            kafka__offsets_close(srv);
            return rc;
        }
    }
    rc = compact_start(srv, err);
    if (rc != 0)
        kafka__offsets_close(srv);
    return rc;
}

void kafka__offsets_close(kafka_server_t *srv)
{
    compact_stop(srv);
    log_store_close(srv->offsets);
    srv->offsets = NULL;
    rl_buf_free(&srv->offsets_scratch);
}

/* ------------------------------------------------------------------ OffsetCommit */

typedef struct commit_hdr {
    rl_slice group_id, member_id;
    int32_t generation;
    rl_reader topics; /* at the topics array */
} commit_hdr;

static bool commit_parse_hdr(const kafka_req *req, commit_hdr *h)
{
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice instance;
    if (!kafka__get_str(&rd, false, &h->group_id))
        return false;
    h->generation = rl_get_i32be(&rd);
    if (!kafka__get_str(&rd, false, &h->member_id))
        return false;
    if (v >= 7 && !kafka__get_str(&rd, true, &instance))
        return false;
    if (v <= 4)
        (void)rl_get_i64be(&rd); /* retention_time_ms */
    h->topics = rd;
    return !rd.err;
}

/* Walks the topics array: fn is called per partition entry in order (index i). Returns the
 * number of entries, -1 when malformed or -2 when above the per-request bounds. */
typedef struct commit_entry {
    rl_slice topic;
    int32_t partition;
    int64_t offset;
    int32_t epoch;
    rl_slice metadata; /* p NULL for null */
} commit_entry;

static int64_t commit_walk(rl_reader rd, int16_t v,
                           void (*fn)(void *ctx, size_t i, const commit_entry *e, bool topic_start,
                                      int32_t nparts),
                           void *ctx)
{
    int32_t nt = kafka__get_count(&rd, false);
    if (nt < 0)
        return -1;
    if (kafka__bound(nt, 0, 0, NULL) != 0)
        return -2;
    size_t i = 0;
    for (int32_t t = 0; t < nt; t++) {
        commit_entry e;
        if (!kafka__get_str(&rd, false, &e.topic))
            return -1;
        int32_t np = kafka__get_count(&rd, false);
        if (np < 0)
            return -1;
        if (kafka__bound(0, (int64_t)i + np, 0, NULL) != 0)
            return -2;
        if (fn)
            fn(ctx, i, &e, true, np);
        for (int32_t k = 0; k < np; k++) {
            e.partition = rl_get_i32be(&rd);
            e.offset = rl_get_i64be(&rd);
            e.epoch = v >= 6 ? rl_get_i32be(&rd) : -1;
            if (!kafka__get_str(&rd, true, &e.metadata))
                return -1;
            if (fn)
                fn(ctx, i, &e, false, np);
            i++;
        }
    }
    return (int64_t)i;
}

typedef struct commit_ctx {
    kafka_conn *conn;
    commit_hdr *h;
    int16_t group_error;
    int rc; /* first store error */
    rl_err *err;
    bool appended;
    int commit_rc; /* answering: result of the durable commit */
    kafka_group *group;
    int64_t now;
    uint64_t committed;
} commit_ctx;

/* First pass: the error code of each entry; appends the accepted ones to the store. */
static void commit_check_one(void *arg, size_t i, const commit_entry *e, bool topic_start,
                             int32_t nparts)
{
    commit_ctx *c = arg;
    kafka_server_t *srv = c->conn->srv;
    (void)nparts;
    if (topic_start)
        return;
    int16_t ec = c->group_error;
    if (ec == KAFKA_ERR_NONE) {
        char z[KAFKA_TOPIC_MAX + 1];
        int np = -1;
        if (kafka__topic_valid(e->topic)) {
            memcpy(z, e->topic.p, e->topic.len);
            z[e->topic.len] = 0;
            np = log_store_partitions(srv->store, z);
        }
        if (np < 0 || e->partition < 0 || e->partition >= np)
            ec = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (e->metadata.len > KAFKA_OFFSET_METADATA_MAX)
            ec = KAFKA_ERR_OFFSET_METADATA_TOO_LARGE;
    }
    if (ec == KAFKA_ERR_NONE && srv->offsets) {
        rl_err e2 = {0};
        int rc = store_append(srv, c->h->group_id, e->topic, e->partition, e->offset, e->epoch,
                              e->metadata, c->now, &e2);
        if (rc != 0) {
            if (c->rc == 0)
                rl_error("kafka: offsets store: %s", e2.msg);
            c->rc = rc;
            ec = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        } else {
            c->appended = true;
        }
    }
    c->conn->commit_err[i] = ec;
}

/* Second pass (answer): applies accepted entries to memory and writes the response. */
static void commit_answer_one(void *arg, size_t i, const commit_entry *e, bool topic_start,
                              int32_t nparts)
{
    commit_ctx *c = arg;
    rl_buf *b = &c->conn->obuf;
    if (topic_start) {
        kafka__put_str(b, e->topic);
        rl_buf_put_be32(b, (uint32_t)nparts);
        return;
    }
    int16_t ec = c->conn->commit_err[i];
    if (ec == KAFKA_ERR_NONE && c->commit_rc != 0)
        ec = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    if (ec == KAFKA_ERR_NONE) {
        if (!c->group)
            c->group = kafka__group_get(c->conn->srv, c->h->group_id, true);
        if (!c->group ||
            offset_set(c->group, e->topic, e->partition, e->offset, e->epoch,
                       e->metadata.p ? e->metadata : rl_slice_str(""), c->now) != 0)
            ec = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        else
            c->committed++;
    }
    rl_buf_put_be32(b, (uint32_t)e->partition);
    rl_buf_put_be16(b, (uint16_t)ec);
}

static int commit_answer(kafka_conn *conn, int commit_rc, rl_err *err)
{
    const kafka_req *req = &conn->req;
    commit_hdr h;
    (void)commit_parse_hdr(req, &h); /* checked when the request arrived */
    commit_ctx c;
    memset(&c, 0, sizeof c);
    c.conn = conn;
    c.h = &h;
    c.commit_rc = commit_rc;
    c.now = rl_now_ms();
    kafka__resp_begin(conn, req->correlation_id);
    if (req->api_version >= 3)
        rl_buf_put_be32(&conn->obuf, 0);
    rl_reader rd = h.topics;
    int32_t nt = kafka__get_count(&rd, false);
    rl_buf_put_be32(&conn->obuf, (uint32_t)nt);
    (void)commit_walk(h.topics, req->api_version, commit_answer_one, &c);
    KAFKA_STAT_ADD(conn->srv, offset_commits, c.committed);
    if (c.committed > 0)
        kafka__offsets_changed(conn->srv);
    return kafka__resp_end(conn, err);
}

int kafka__offset_commit(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    commit_hdr h;
    if (!commit_parse_hdr(req, &h))
        return rl_err_set(err, RL_EPROTO, "malformed group_id, generation, member_id, "
                                          "group_instance_id or retention_time_ms");
    int64_t n = commit_walk(h.topics, req->api_version, NULL, NULL);
    if (n == -2)
        return rl_err_set(err, RL_ETOOBIG, "more than %d topics or %d partitions in one request",
                          KAFKA_MAX_REQ_TOPICS, KAFKA_MAX_REQ_PARTITIONS);
    if (n < 0)
        return rl_err_set(err, RL_EPROTO, "malformed topic or partition entry");
    if ((size_t)n > conn->commit_err_cap) {
        size_t cap = (size_t)n < 64 ? 64 : (size_t)n;
        int16_t *p = realloc(conn->commit_err, cap * sizeof *p);
        if (!p)
            return rl_err_set(err, -ENOMEM, "out of memory for %" PRId64 " partitions", n);
        conn->commit_err = p;
        conn->commit_err_cap = cap;
    }
    commit_ctx c;
    memset(&c, 0, sizeof c);
    c.conn = conn;
    c.h = &h;
    c.err = err;
    c.now = rl_now_ms();
    if (h.group_id.len == 0 || h.group_id.len > KAFKA_GROUP_ID_MAX)
        c.group_error = KAFKA_ERR_INVALID_GROUP_ID;
    else
        c.group_error = kafka__group_commit_check(kafka__group_get(srv, h.group_id, false),
                                                  h.generation, h.member_id);
    (void)commit_walk(h.topics, req->api_version, commit_check_one, &c);
    if (!c.appended)
        return commit_answer(conn, 0, err);
    /* Wait for the group commit (kafka__offsets_flush, before the loop blocks). */
    kafka__wait_begin(conn, KAFKA_WAIT_COMMIT, NULL);
    conn->wait_prev = NULL;
    conn->wait_next = srv->commit_waiters;
    if (srv->commit_waiters)
        srv->commit_waiters->wait_prev = conn;
    srv->commit_waiters = conn;
    srv->commit_pending = true;
    kafka__ready_kick(srv);
    return KAFKA_PARKED;
}

void kafka__offsets_conn_gone(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    if (conn->wait_prev)
        conn->wait_prev->wait_next = conn->wait_next;
    else
        srv->commit_waiters = conn->wait_next;
    if (conn->wait_next)
        conn->wait_next->wait_prev = conn->wait_prev;
    conn->wait_prev = conn->wait_next = NULL;
}

void kafka__offsets_flush(kafka_server_t *srv)
{
    if (!srv->commit_pending)
        return;
    srv->commit_pending = false;
    rl_err err = {0};
    int rc = log_store_commit(srv->offsets, rl_slice_str("rowlog-offsets"), &err);
    KAFKA_STAT_ADD(srv, offset_commit_syncs, 1);
    if (rc != 0)
        rl_error("kafka: offsets store: commit failed; committed offsets are refused until "
                 "restart: %s",
                 err.msg);
    while (srv->commit_waiters) {
        kafka_conn *conn = srv->commit_waiters;
        kafka__offsets_conn_gone(conn);
        rl_err e2 = {0};
        if (commit_answer(conn, rc, &e2) < 0) {
            rl_warn("kafka: connection from %s: %s; closing", conn->peer, e2.msg);
            conn->doomed = true;
        }
        kafka__wait_done(conn);
    }
}

/* ------------------------------------------------------------------ OffsetFetch */

static void fetch_put_one(rl_buf *b, int16_t v, int32_t partition, const kafka_offset *o)
{
    rl_buf_put_be32(b, (uint32_t)partition);
    rl_buf_put_be64(b, (uint64_t)(o ? o->offset : -1));
    if (v >= 5)
        rl_buf_put_be32(b, (uint32_t)(o ? o->leader_epoch : -1));
    kafka__put_str(b, o ? rl_slice_make(o->metadata.p ? o->metadata.p : (const uint8_t *)"",
                                        o->metadata.len)
                        : rl_slice_str(""));
    rl_buf_put_be16(b, KAFKA_ERR_NONE);
}

typedef struct collect_ctx {
    kafka_offset **v;
    size_t n;
} collect_ctx;

static void collect_one(kafka_hnode *n, void *arg)
{
    collect_ctx *c = arg;
    c->v[c->n++] = (kafka_offset *)n;
}

static int offset_cmp(const void *a, const void *b)
{
    const kafka_offset *x = *(kafka_offset *const *)a, *y = *(kafka_offset *const *)b;
    size_t n = x->topic_len < y->topic_len ? x->topic_len : y->topic_len;
    int c = memcmp(x->topic, y->topic, n);
    if (c != 0)
        return c;
    if (x->topic_len != y->topic_len)
        return x->topic_len < y->topic_len ? -1 : 1;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

int kafka__offset_fetch(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);
    rl_buf *b = &conn->obuf;
    rl_slice group_id;
    if (!kafka__get_str(&rd, false, &group_id))
        return rl_err_set(err, RL_EPROTO, "malformed group_id");
    int32_t nt = kafka__get_count(&rd, v >= 2);
    if (nt < -1)
        return rl_err_set(err, RL_EPROTO, "malformed topics count");
    int rc = kafka__bound(nt, 0, 0, err);
    if (rc != 0)
        return rc;
    int64_t total = 0;
    kafka_group *g = kafka__group_get(srv, group_id, false);
    kafka_htab *t = g ? kafka__group_offsets(g) : NULL;

    kafka__resp_begin(conn, req->correlation_id);
    if (v >= 3)
        rl_buf_put_be32(b, 0);
    if (nt >= 0) {
        rl_buf_put_be32(b, (uint32_t)nt);
        for (int32_t i = 0; i < nt; i++) {
            rl_slice topic;
            int32_t np;
            if (!kafka__get_str(&rd, false, &topic) || (np = kafka__get_count(&rd, false)) < 0)
                goto bad;
            total += np;
            /* Each answer may carry up to 4 KiB of committed metadata: bound the response
             * as well as the count. */
            if ((rc = kafka__bound(0, total, kafka__resp_len(conn), err)) != 0) {
                kafka__resp_abort(conn);
                return rc;
            }
            kafka__put_str(b, topic);
            rl_buf_put_be32(b, (uint32_t)np);
            for (int32_t k = 0; k < np; k++) {
                int32_t partition = rl_get_i32be(&rd);
                if (rd.err)
                    goto bad;
                fetch_put_one(b, v, partition, t ? offset_find(t, topic, partition) : NULL);
                if ((k & 1023) == 1023 &&
                    (rc = kafka__bound(0, 0, kafka__resp_len(conn), err)) != 0) {
                    kafka__resp_abort(conn);
                    return rc;
                }
            }
        }
    } else {
        /* Every committed offset of the group, by topic and partition. */
        collect_ctx c = {NULL, 0};
        if (t && t->count > 0) {
            c.v = malloc(t->count * sizeof *c.v);
            if (!c.v) {
                kafka__resp_abort(conn);
                return rl_err_set(err, -ENOMEM, "out of memory listing committed offsets");
            }
            kafka__htab_each(t, collect_one, &c);
            qsort(c.v, c.n, sizeof *c.v, offset_cmp);
        }
        size_t at = b->len;
        uint32_t ntopics = 0;
        rl_buf_put_be32(b, 0);
        for (size_t i = 0; i < c.n;) {
            size_t j = i;
            while (j < c.n && c.v[j]->topic_len == c.v[i]->topic_len &&
                   memcmp(c.v[j]->topic, c.v[i]->topic, c.v[i]->topic_len) == 0)
                j++;
            kafka__put_str(b, rl_slice_make(c.v[i]->topic, c.v[i]->topic_len));
            rl_buf_put_be32(b, (uint32_t)(j - i));
            for (size_t k = i; k < j; k++)
                fetch_put_one(b, v, c.v[k]->partition, c.v[k]);
            ntopics++;
            i = j;
        }
        free(c.v);
        if (rl_buf_ok(b))
            rl_buf_patch_be32(b, at, ntopics);
    }
    if (v >= 2)
        rl_buf_put_be16(b, KAFKA_ERR_NONE);
    return kafka__resp_end(conn, err);
bad:
    kafka__resp_abort(conn);
    return rl_err_set(err, RL_EPROTO, "malformed topic or partition entry");
}
