/*
 * rowlogd_ondemand.c - on-demand snapshots while streaming, on the source thread of
 * rowlogd_source.c (rowlogd_int.h "source thread internals").
 *
 * `rowlog snapshot DB.TABLE...` while streaming (docs/snapshots.md "On demand"). The request
 * (POST /v1/snapshots, HTTP thread) is validated there (rowlogd_ondemand_validate), handed
 * to this thread under src->lock and made durable at the next transaction boundary as
 * checkpoint lines "ondemand_table=db.table TOKEN" (TOKEN: the last chunk stored, empty at
 * first), which a restart resumes. Tables are read one after the other by a chunk reader
 * thread: per chunk a new consistent snapshot (binlog_snapshot_open with max_chunks 1), whose
 * exact GTID state S is the chunk's low and high watermark, queued (at most OD_QUEUE chunks:
 * memory is bounded by them). This thread notes the keys of the table that every streamed
 * transaction changes (binlog_snapshot_window), and at a transaction boundary where the
 * stream's GTID state contains S it appends the chunk without the rows whose key a streamed
 * transaction outside S changed, commits it together with the new token, and forgets the
 * transactions S contains.
 */
#include "server/rowlogd_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef rowlogd_source_run source_run;
typedef rowlogd_snap_entry snap_entry;
typedef rowlogd_snap_state snap_state;
typedef rowlogd_od_run od_run;

enum { OD_QUEUE = 2, OD_RETRY_MS = 5000, OD_REQ_MAX = 64 };

typedef struct od_chunk {
    rl_buf data;
    size_t *recs; /* 4 per row: key off, key len, value off, value len */
    size_t nrecs, cap;
    rl_buf topic;
    char gtid[BINLOG_GTID_STATE_MAX]; /* S: the chunk's read view */
    char *token;
    uint64_t rows_done, chunks_done, rows_estimated;
    bool table_done, skipped;
} od_chunk;

typedef struct od_reader {
    const rowlogd_opts *opts;
    char *db, *table, *token; /* owned */
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    od_chunk *q[OD_QUEUE]; /* FIFO */
    size_t qn;
    bool finished;
    int rc;
    rl_err err;
    atomic_bool stop;
    binlog_snapshot_t *snap; /* the snapshot being read (under mu), for interrupt */
} od_reader;

struct rowlogd_od_run {
    snap_state list; /* ondemand_table lines: tables not complete, in order */
    binlog_snapshot_window *win;
    rl_buf topic;      /* topic of list.e[0], the table being read ("" none) */
    od_reader *rd;     /* chunk reader of list.e[0], NULL when none runs */
    int64_t retry_ns;  /* no new reader before this (after a reader error) */
    uint64_t req_seen; /* src->od_req_gen taken */
    char base_file[sizeof((binlog_pos *)0)->file];
    uint64_t base_pos;
    char base_gtid[BINLOG_GTID_STATE_MAX];
};

static void od_chunk_free(od_chunk *c)
{
    if (!c)
        return;
    rl_buf_free(&c->data);
    rl_buf_free(&c->topic);
    free(c->recs);
    free(c->token);
    free(c);
}

typedef struct od_collect {
    od_chunk *c;
    rl_err *err;
} od_collect;

static int od_on_row(void *ctx, const binlog_change *ch)
{
    od_chunk *c = ((od_collect *)ctx)->c;
    if (c->nrecs == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        size_t *r = realloc(c->recs, cap * 4 * sizeof *r);
        if (!r)
            return -ENOMEM;
        c->recs = r;
        c->cap = cap;
    }
    if (c->topic.len == 0)
        rl_buf_append(&c->topic, ch->topic.p, ch->topic.len);
    size_t *r = c->recs + 4 * c->nrecs++;
    r[0] = c->data.len;
    r[1] = ch->key.len;
    rl_buf_append(&c->data, ch->key.p, ch->key.len);
    r[2] = c->data.len;
    r[3] = ch->value.len;
    rl_buf_append(&c->data, ch->value.p, ch->value.len);
    return rl_buf_ok(&c->data) && rl_buf_ok(&c->topic) ? 0 : -ENOMEM;
}

static int od_on_progress(void *ctx, const binlog_snapshot_progress *pr)
{
    od_chunk *c = ((od_collect *)ctx)->c;
    char *t = strdup(pr->resume_token);
    if (!t)
        return -ENOMEM;
    free(c->token);
    c->token = t;
    c->rows_done = pr->rows_done;
    c->chunks_done = pr->chunks_done;
    c->rows_estimated = pr->rows_estimated;
    c->table_done = pr->table_done;
    c->skipped = pr->skipped;
    if (c->topic.len == 0)
        rl_buf_append(&c->topic, pr->topic.p, pr->topic.len);
    return rl_buf_ok(&c->topic) ? 0 : -ENOMEM;
}

/* "^(db\.table)$" with the regex metacharacters of the names escaped. */
static void od_exact_regex(rl_buf *b, const char *db, const char *table)
{
    const char *parts[2] = {db, table};
    for (int i = 0; i < 2; i++) {
        if (i)
            rl_buf_puts(b, "\\.");
        for (const char *p = parts[i]; *p; p++) {
            if (strchr(".^$*+?()[]{}|\\", *p))
                rl_buf_putc(b, '\\');
            rl_buf_putc(b, *p);
        }
    }
    rl_buf_putc(b, 0);
}

static void od_snapshot_opts(const rowlogd_opts *o, binlog_snapshot_opts *so, const char *include)
{
    memset(so, 0, sizeof *so);
    so->source = o->source;
    so->topic_prefix = o->topic_prefix;
    so->include = include;
    so->threads = 1;
    so->chunk_rows = o->snapshot_chunk_rows;
    so->max_chunks = 1;
    so->incremental = true;
}

/* One chunk: a new snapshot (its own read view and exact GTID state), the table resumed
 * after token, one chunk read. */
static int od_read_chunk(od_reader *r, od_chunk *c)
{
    rl_buf re = RL_BUF_INIT;
    od_exact_regex(&re, r->db, r->table);
    if (!rl_buf_ok(&re))
        return rl_err_set(&r->err, -ENOMEM, "out of memory");
    binlog_snapshot_opts so;
    od_snapshot_opts(r->opts, &so, (const char *)re.p);
    binlog_snapshot_t *snap = NULL;
    int rc = binlog_snapshot_open(&snap, &so, &r->err);
    rl_buf_free(&re);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    r->snap = snap;
    bool stopping = atomic_load(&r->stop);
    pthread_mutex_unlock(&r->mu);
    if (stopping)
        binlog_snapshot_interrupt(snap);
    snprintf(c->gtid, sizeof c->gtid, "%s", binlog_snapshot_get_point(snap)->gtid_state);
    if (binlog_snapshot_table_count(snap) == 0) {
        /* Dropped (or renamed) since the request: done, the stream carries the drop. */
        rl_warn("on-demand snapshot: %s.%s no longer exists: finished", r->db, r->table);
        c->table_done = c->skipped = true;
        c->token = strdup("");
        rc = c->token ? 0 : rl_err_set(&r->err, -ENOMEM, "out of memory");
    } else {
        rc = binlog_snapshot_resume_table(snap, r->db, r->table, r->token, false, &r->err);
        od_collect col = {c, &r->err};
        binlog_snapshot_handler h = {
            .ctx = &col, .on_change = od_on_row, .on_progress = od_on_progress};
        if (rc == 0)
            rc = binlog_snapshot_run(snap, &h, &r->err);
        if (rc == 0 && !c->token)
            rc = rl_err_set(&r->err, RL_ESOURCE, "%s.%s: the chunk read gave no progress", r->db,
                            r->table);
    }
    pthread_mutex_lock(&r->mu);
    r->snap = NULL;
    pthread_mutex_unlock(&r->mu);
    binlog_snapshot_close(snap);
    return rc;
}

static void *od_reader_main(void *arg)
{
    od_reader *r = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int rc = 0;
    while (!atomic_load(&r->stop)) {
        od_chunk *c = calloc(1, sizeof *c);
        if (!c) {
            rc = rl_err_set(&r->err, -ENOMEM, "out of memory");
            break;
        }
        rc = od_read_chunk(r, c);
        if (rc != 0) {
            od_chunk_free(c);
            break;
        }
        char *t = strdup(c->token);
        if (!t) {
            od_chunk_free(c);
            rc = rl_err_set(&r->err, -ENOMEM, "out of memory");
            break;
        }
        free(r->token);
        r->token = t;
        bool done = c->table_done;
        pthread_mutex_lock(&r->mu);
        while (r->qn == OD_QUEUE && !atomic_load(&r->stop))
            pthread_cond_wait(&r->cv, &r->mu);
        if (atomic_load(&r->stop)) {
            pthread_mutex_unlock(&r->mu);
            od_chunk_free(c);
            break;
        }
        r->q[r->qn++] = c;
        pthread_mutex_unlock(&r->mu);
        if (done)
            break;
    }
    pthread_mutex_lock(&r->mu);
    r->rc = rc == RL_ESTOPPED ? 0 : rc;
    r->finished = true;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void od_reader_free(od_reader *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        atomic_store(&r->stop, true);
        if (r->snap)
            binlog_snapshot_interrupt(r->snap);
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    for (size_t i = 0; i < r->qn; i++)
        od_chunk_free(r->q[i]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->db);
    free(r->table);
    free(r->token);
    free(r);
}

static int od_reader_start(od_reader **out, const rowlogd_opts *opts, const snap_entry *e)
{
    od_reader *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->opts = opts;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->stop, false);
    r->db = strdup(e->db);
    r->table = strdup(e->table);
    r->token = strdup(e->token);
    if (!r->db || !r->table || !r->token) {
        od_reader_free(r);
        return -ENOMEM;
    }
    int rc = pthread_create(&r->th, NULL, od_reader_main, r);
    if (rc != 0) {
        od_reader_free(r);
        return -rc;
    }
    r->started = true;
    *out = r;
    return 0;
}

/* The checkpoint lines of the on-demand tables, after file/pos/gtid_state. */
static void od_checkpoint_lines(rl_buf *b, const snap_state *list)
{
    for (size_t i = 0; i < list->n; i++)
        rowlogd__checkpoint_table_line(b, "ondemand_table", &list->e[i], true);
}

/* The checkpoint of the last boundary with the current on-demand lines. */
int rowlogd__od_checkpoint(source_run *run)
{
    od_run *od = run->od;
    rowlogd__checkpoint_format(&run->checkpoint, od->base_file, od->base_pos, od->base_gtid);
    od_checkpoint_lines(&run->checkpoint, &od->list);
    return rl_buf_ok(&run->checkpoint) ? 0 : rl_err_set(run->err, -ENOMEM, "out of memory");
}

/* Publishes the on-demand progress for /metrics and GET /v1/snapshots: the tables of the
 * list (the first one is being read) and those completed by this process. */
static int od_publish(rowlogd_source *src, const snap_entry *e, bool done, uint64_t dropped)
{
    rowlogd_source_stats *st = &src->stats;
    rl_buf nm = RL_BUF_INIT;
    rl_buf_printf(&nm, "%s.%s", e->db, e->table);
    rl_buf_putc(&nm, 0);
    if (!rl_buf_ok(&nm))
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&st->lock);
    rowlogd_snapshot_table_stats *t = NULL;
    for (size_t i = 0; i < st->od_ntables; i++)
        if (strcmp(st->od_tables[i].name, (const char *)nm.p) == 0)
            t = &st->od_tables[i];
    if (!t) {
        rowlogd_snapshot_table_stats *a = realloc(st->od_tables, (st->od_ntables + 1) * sizeof *a);
        char *name = strdup((const char *)nm.p);
        if (!a || !name) {
            free(name);
            if (a)
                st->od_tables = a;
            rc = -ENOMEM;
            goto out;
        }
        st->od_tables = a;
        t = &a[st->od_ntables++];
        memset(t, 0, sizeof *t);
        t->name = name;
    }
    t->rows_read = e->rows;
    t->chunks = e->chunks;
    if (e->rows_estimated)
        t->rows_estimated = e->rows_estimated;
    t->rows_dropped += dropped;
    t->done = done;
out:
    pthread_mutex_unlock(&st->lock);
    rl_buf_free(&nm);
    return rc;
}

/* Takes the tables requested since the last call ("db.table" lines, names percent-encoded)
 * into the list. Returns the request generation taken (0: none new). */
static uint64_t od_take_requests(source_run *run, int *rc)
{
    rowlogd_source *src = run->src;
    od_run *od = run->od;
    *rc = 0;
    /* Called at every boundary: no lock unless a request came (the generation is stored
     * under the lock with release order). */
    if (__atomic_load_n(&src->od_req_gen, __ATOMIC_ACQUIRE) == od->req_seen)
        return 0;
    /* A copy: the text is cleared only once the tables are stored (od_poll), so a failed
     * commit leaves the request for the next connection's run. */
    pthread_mutex_lock(&src->lock);
    uint64_t gen = src->od_req_gen;
    char *req = src->od_request ? strdup(src->od_request) : NULL;
    bool oom = src->od_request && !req;
    pthread_mutex_unlock(&src->lock);
    if (oom) {
        *rc = rl_err_set(run->err, -ENOMEM, "out of memory");
        return 0;
    }
    snap_state add = {0};
    for (char *line = req, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if ((*rc = rowlogd__snap_parse_line(&add, line, strlen(line), false, run->err)) != 0)
            break;
    }
    for (size_t i = 0; *rc == 0 && i < add.n; i++) {
        if (rowlogd__snap_state_find(&od->list, add.e[i].db, add.e[i].table))
            continue; /* already queued or being read */
        snap_entry *e = rowlogd__snap_state_add(&od->list, add.e[i].db, strlen(add.e[i].db),
                                                add.e[i].table, strlen(add.e[i].table));
        if (!e)
            *rc = rl_err_set(run->err, -ENOMEM, "out of memory");
        else
            *rc = od_publish(src, e, false, 0);
        if (*rc == 0)
            rl_info("on-demand snapshot: %s.%s queued", e->db, e->table);
    }
    rowlogd__snap_state_free(&add);
    free(req);
    return *rc == 0 ? gen : 0;
}

/* Stream side: notes the keys of the table being read. */
int rowlogd__od_note_change(source_run *run, const binlog_change *ch)
{
    od_run *od = run->od;
    if (!od->rd || ch->topic.len != od->topic.len ||
        memcmp(ch->topic.p, od->topic.p, ch->topic.len) != 0)
        return 0;
    int rc = binlog_snapshot_window_note(od->win, ch->key);
    return rc == 0 ? 0 : rl_err_set(run->err, rc, "out of memory");
}

/* Stream side, at a transaction's commit (run->checkpoint holds its file/pos/gtid_state):
 * the on-demand lines follow them, and the window learns the transaction. */
int rowlogd__od_on_commit(source_run *run, const binlog_checkpoint *cp)
{
    od_run *od = run->od;
    snprintf(od->base_file, sizeof od->base_file, "%s", cp->file);
    od->base_pos = cp->pos;
    snprintf(od->base_gtid, sizeof od->base_gtid, "%s", cp->gtid_state ? cp->gtid_state : "");
    od_checkpoint_lines(&run->checkpoint, &od->list);
    if (!od->rd)
        return 0;
    return binlog_snapshot_window_commit(od->win, cp->gtid, cp->gtid_state, run->err);
}

/* Appends a ready chunk without the rows changed inside its window; 1 when it was
 * appended, 0 when the stream has not reached its state yet. */
static int od_apply_chunk(source_run *run, od_chunk *c)
{
    od_run *od = run->od;
    rl_err *err = run->err;
    int rc = binlog_snapshot_window_ready(od->win, c->gtid, err);
    if (rc != 1)
        return rc;
    if ((rc = binlog_snapshot_window_set_low(od->win, c->gtid, err)) != 0)
        return rc;
    uint64_t kept = 0, dropped = 0;
    rl_slice topic = rl_buf_slice(&c->topic);
    int64_t now = rl_now_ms();
    for (size_t i = 0; i < c->nrecs; i++) {
        const size_t *r = c->recs + 4 * i;
        rl_slice key = rl_slice_make(c->data.p + r[0], r[1]);
        if (!binlog_snapshot_window_keep(od->win, key)) {
            dropped++;
            continue;
        }
        rl_slice val = rl_slice_make(c->data.p + r[2], r[3]);
        if ((rc = log_store_append(run->src->store, topic, key, val, now, err)) != 0)
            return rc;
        rowlogd__stat_add(&run->src->stats.appended_bytes, key.len + val.len);
        kept++;
    }
    rowlogd__stat_add(&run->src->stats.snapshot_rows, kept);
    binlog_snapshot_window_prune(od->win);
    snap_entry *e = &od->list.e[0];
    char *t = strdup(c->token);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    free(e->token);
    e->token = t;
    e->rows = c->rows_done;
    e->chunks = c->chunks_done;
    e->rows_estimated = c->rows_estimated;
    if ((rc = od_publish(run->src, e, c->table_done, dropped)) != 0)
        return rl_err_set(err, rc, "out of memory");
    if (c->table_done) {
        rl_info("on-demand snapshot: %s.%s complete: %llu rows read in %llu chunks", e->db,
                e->table, (unsigned long long)e->rows, (unsigned long long)e->chunks);
        free(e->db);
        free(e->table);
        free(e->token);
        memmove(&od->list.e[0], &od->list.e[1], (od->list.n - 1) * sizeof *od->list.e);
        od->list.n--;
        od->list.last_hit = 0;
    }
    if ((rc = rowlogd__od_checkpoint(run)) != 0)
        return rc;
    /* The rows and their token are durable together (a crash re-reads from the token). */
    if ((rc = rowlogd__commit_now(run)) != 0)
        return rc;
    return 1;
}

/* At a transaction boundary (nothing appended since): takes new requests (durable before
 * the HTTP request is answered), starts the chunk reader of the first table, appends the
 * chunks whose window the stream has passed. */
int rowlogd__od_poll(source_run *run)
{
    rowlogd_source *src = run->src;
    od_run *od = run->od;
    int rc;
    uint64_t gen = od_take_requests(run, &rc);
    if (rc != 0)
        return rc;
    if (gen) {
        if ((rc = rowlogd__od_checkpoint(run)) != 0 || (rc = rowlogd__commit_now(run)) != 0)
            return rc;
        od->req_seen = gen;
        pthread_mutex_lock(&src->lock);
        if (src->od_req_gen == gen) { /* else later requests are in the text: taken next */
            free(src->od_request);
            src->od_request = NULL;
        }
        src->od_req_done = gen;
        pthread_cond_broadcast(&src->od_cond);
        pthread_mutex_unlock(&src->lock);
    }
    if (!od->rd && od->list.n && rl_mono_ns() >= od->retry_ns) {
        /* A new table (or a retry): the window starts empty here. Every chunk's state S is
         * read after this point, so it contains everything streamed before: only what the
         * stream carries from now on can fall inside a window. */
        binlog_snapshot_window_reset(od->win);
        rl_buf_reset(&od->topic);
        binlog_snapshot_topic(&od->topic, src->opts->topic_prefix, od->list.e[0].db,
                              od->list.e[0].table);
        if (!rl_buf_ok(&od->topic))
            return rl_err_set(run->err, -ENOMEM, "out of memory");
        if ((rc = binlog_snapshot_window_commit(od->win, "", od->base_gtid, run->err)) != 0)
            return rc;
        if ((rc = od_reader_start(&od->rd, src->opts, &od->list.e[0])) != 0)
            return rl_err_set(run->err, rc, "cannot start the on-demand snapshot reader");
        rl_info("on-demand snapshot: reading %s.%s%s%s", od->list.e[0].db, od->list.e[0].table,
                od->list.e[0].token[0] ? " from token " : "", od->list.e[0].token);
        atomic_store(&src->stats.ondemand_running, true);
    }
    od_reader *r = od->rd;
    if (!r)
        return 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        od_chunk *c = r->qn ? r->q[0] : NULL;
        bool finished = r->finished;
        pthread_mutex_unlock(&r->mu);
        if (!c) {
            if (!finished)
                return 0;
            /* The reader ended with nothing queued: an error (retried from the last stored
             * token) or the table's last chunk already applied. */
            if (r->rc != 0) {
                rl_warn("on-demand snapshot: %s.%s: %s (%s); retrying in %d ms", r->db, r->table,
                        r->err.msg, rl_errname(r->rc), OD_RETRY_MS);
                pthread_mutex_lock(&src->stats.lock);
                src->stats.last_error = r->rc;
                snprintf(src->stats.last_error_msg, sizeof src->stats.last_error_msg,
                         "on-demand snapshot: %s", r->err.msg);
                src->stats.last_error_ms = rl_now_ms();
                pthread_mutex_unlock(&src->stats.lock);
                od->retry_ns = rl_mono_ns() + (int64_t)OD_RETRY_MS * 1000000;
            }
            od_reader_free(r);
            od->rd = NULL;
            rl_buf_reset(&od->topic);
            atomic_store(&src->stats.ondemand_running, od->list.n > 0);
            return 0;
        }
        bool last = c->table_done;
        rc = od_apply_chunk(run, c);
        if (rc <= 0)
            return rc;
        pthread_mutex_lock(&r->mu);
        memmove(&r->q[0], &r->q[1], (r->qn - 1) * sizeof *r->q);
        r->qn--;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        od_chunk_free(c);
        if (last) {
            od_reader_free(r);
            od->rd = NULL;
            rl_buf_reset(&od->topic);
            atomic_store(&src->stats.ondemand_running, od->list.n > 0);
            return 0;
        }
    }
}

int rowlogd__od_open(source_run *run, snap_state *list, const binlog_start *at, rl_err *err)
{
    rowlogd_source *src = run->src;
    run->od = calloc(1, sizeof *run->od);
    if (!run->od || binlog_snapshot_window_new(&run->od->win) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    od_run *od = run->od;
    od->list = *list;
    memset(list, 0, sizeof *list);
    snprintf(od->base_file, sizeof od->base_file, "%s", at->at.file);
    od->base_pos = at->at.pos;
    snprintf(od->base_gtid, sizeof od->base_gtid, "%s", at->gtid_state);
    pthread_mutex_lock(&src->lock);
    od->req_seen = src->od_req_done; /* requests before that were stored or dropped */
    pthread_mutex_unlock(&src->lock);
    for (size_t i = 0; i < od->list.n; i++) {
        int rc = od_publish(src, &od->list.e[i], false, 0);
        if (rc != 0)
            return rl_err_set(err, rc, "out of memory");
        rl_info("on-demand snapshot: %s.%s resumes from token '%s'", od->list.e[i].db,
                od->list.e[i].table, od->list.e[i].token);
    }
    return 0;
}

void rowlogd__od_free(od_run *od)
{
    if (!od)
        return;
    od_reader_free(od->rd);
    binlog_snapshot_window_free(od->win);
    rowlogd__snap_state_free(&od->list);
    rl_buf_free(&od->topic);
    free(od);
}

int rowlogd_ondemand_validate(const rowlogd_opts *opts, const char *const *names, size_t n,
                              rl_err *err)
{
    if (n == 0 || n > OD_REQ_MAX)
        return rl_err_set(err, RL_ECONFIG, "give 1 to %d tables as db.table", OD_REQ_MAX);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        if (!dot || dot == names[i] || !dot[1] || strchr(names[i], '\n'))
            return rl_err_set(err, RL_ECONFIG, "'%s': not db.table", names[i]);
    }
    if (opts->include[0] || opts->exclude[0]) {
        struct rowlogd_filter *f = NULL;
        if ((rc = rowlogd__filter_new(&f, opts, err)) != 0)
            return rc;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!rowlogd__filter_selects(f, names[i]))
                rc = rl_err_set(err, RL_ENOTFOUND,
                                "%s is excluded by --include/--exclude: rowlogd does not "
                                "stream it",
                                names[i]);
        }
        rowlogd__filter_free(f);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *dot = strchr(names[i], '.');
        char db[256], table[256];
        if ((size_t)(dot - names[i]) >= sizeof db || strlen(dot + 1) >= sizeof table)
            return rl_err_set(err, RL_ECONFIG, "'%s': name too long", names[i]);
        snprintf(db, sizeof db, "%.*s", (int)(dot - names[i]), names[i]);
        snprintf(table, sizeof table, "%s", dot + 1);
        rl_buf re = RL_BUF_INIT;
        od_exact_regex(&re, db, table);
        if (!rl_buf_ok(&re))
            return rl_err_set(err, -ENOMEM, "out of memory");
        binlog_snapshot_opts so;
        od_snapshot_opts(opts, &so, (const char *)re.p);
        binlog_snapshot_t *snap = NULL;
        rc = binlog_snapshot_open(&snap, &so, err);
        rl_buf_free(&re);
        if (rc != 0)
            return rc;
        const binlog_snapshot_point *pt = binlog_snapshot_get_point(snap);
        binlog_snapshot_table_info ti;
        if (binlog_snapshot_table(snap, 0, &ti) != 0)
            rc = rl_err_set(err, RL_ENOTFOUND, "no base table %s at the source", names[i]);
        else if (ti.key_columns == 0)
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "%s has no primary key (nor a UNIQUE key of NOT NULL columns): "
                            "an on-demand snapshot needs a key to merge chunks with the "
                            "stream",
                            names[i]);
        else if (!ti.chunked)
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "%s: its key has a column type that cannot be paginated (FLOAT, "
                            "DOUBLE, BIT, ENUM, SET): an on-demand snapshot reads key chunks",
                            names[i]);
        else if (!pt->mariadb)
            /* On MySQL each chunk's read view would be opened under FLUSH TABLES WITH READ
             * LOCK (reader/snapshot.c), a global lock per chunk, and the path is untested:
             * refused until chunks can be read without it (docs/snapshots.md). */
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "on-demand snapshots are supported on MariaDB sources only: on "
                            "MySQL every chunk would take FLUSH TABLES WITH READ LOCK");
        else if (!pt->gtid_state[0])
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "GTIDs are off at the source (gtid_mode): an on-demand snapshot "
                            "uses GTID states as its watermarks");
        binlog_snapshot_close(snap);
    }
    return rc;
}

int rowlogd_source_request_snapshot(rowlogd_source *src, const char *const *names, size_t n,
                                    unsigned timeout_ms, rl_err *err)
{
    rl_buf req = RL_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        char db[256];
        snprintf(db, sizeof db, "%.*s", (int)(dot - names[i]), names[i]);
        rowlogd__put_pct(&req, db);
        rl_buf_putc(&req, '.');
        rowlogd__put_pct(&req, dot + 1);
        rl_buf_putc(&req, '\n');
    }
    rl_buf_putc(&req, 0);
    if (!rl_buf_ok(&req))
        return rl_err_set(err, -ENOMEM, "out of memory");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int rc = 0;
    pthread_mutex_lock(&src->lock);
    /* Requests not taken yet are merged: the source takes them all at its next boundary. */
    size_t old = src->od_request ? strlen(src->od_request) : 0;
    char *m = realloc(src->od_request, old + req.len);
    if (!m) {
        pthread_mutex_unlock(&src->lock);
        rl_buf_free(&req);
        return rl_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(m + old, req.p, req.len);
    src->od_request = m;
    uint64_t gen = src->od_req_gen + 1;
    __atomic_store_n(&src->od_req_gen, gen, __ATOMIC_RELEASE);
    while (src->od_req_done < gen && !atomic_load(&src->stop))
        if (pthread_cond_timedwait(&src->od_cond, &src->lock, &until) == ETIMEDOUT)
            break;
    if (src->od_req_done < gen)
        rc = rl_err_set(err, -ETIMEDOUT,
                        "the request is queued but not stored yet (the source is not "
                        "streaming: connecting, or reading the initial snapshot); it is taken "
                        "when streaming resumes, unless rowlogd stops first");
    pthread_mutex_unlock(&src->lock);
    rl_buf_free(&req);
    return rc;
}
