/*
 * kafka_warm.c - cold Fetch reads are faulted into the page cache by a small pool of I/O
 * threads, so a read from disk never stalls the loop (and with it every other connection).
 *
 * Why: Fetch record bytes go out with sendfile(2) from the segment file (or sendmsg from
 * the log's mapping), on the loop thread. When a page is not in the page cache, the call
 * sleeps until the disk read is done, and the loop with it (KAFKA-7504 is the same problem in
 * Kafka, where sendfile blocks the network thread).
 *
 * How: once a Fetch response is queued, kafka__warm_begin asks mincore(2) whether every page
 * of its record parts is resident: one call per part (per 16 MiB of it), never per record.
 * If one is not, a job listing the parts goes to a bounded queue and the parts are marked
 * (kafka_part.warm_at): the output queue sends the response header at once but each record
 * part only as far as the job's `done` count says it is warm. An I/O thread issues
 * madvise(MADV_WILLNEED) over each part (the kernel starts large reads at once) and then
 * reads one byte per page, which waits for the data (a fault on a page still under I/O
 * sleeps until it is read), KAFKA_WARM_CHUNK bytes at a time: after each chunk it publishes
 * the count and wakes the loop with ev_async (once per wake-up), and the loop sends that
 * chunk while the disk reads the next: disk and network overlap. When the job is done it
 * goes on the done list; the loop frees it and the connection reads requests again (it does
 * not meanwhile, so a connection has at most one job and responses stay in request order).
 *
 * Pins: the queued parts own their pins; a part is released only once sent, which is after
 * the thread is done with its bytes. A connection that closes meanwhile hands the pins of
 * its unsent warmed parts to the job; the job is freed (and the pins released) by the loop
 * once the thread is done with it. kafka_server_stop joins the threads (a running job stops
 * at the next chunk) and frees every job left.
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Bytes per MADV_WILLNEED call (at most a readahead window of most devices). */
#define KAFKA_WILLNEED_STEP ((uintptr_t)2 << 20)

/* mincore vector bytes per call: 4,096 pages (16 MiB of 4 KiB pages) on the stack. */
#define KAFKA_MINCORE_PAGES 4096

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uintptr_t page_size(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    return pg > 0 ? (uintptr_t)pg : 4096;
}

/* True when some page of s is not in the page cache. mincore failing (it should not on a
 * mapping) counts as resident: the response is then sent as before. */
static bool range_cold(rl_slice s)
{
    if (s.len == 0)
        return false;
    uintptr_t pg = page_size();
    uintptr_t start = (uintptr_t)s.p & ~(pg - 1);
    uintptr_t end = (uintptr_t)s.p + s.len;
    unsigned char vec[KAFKA_MINCORE_PAGES];
    while (start < end) {
        size_t pages = (size_t)((end - start + pg - 1) / pg);
        if (pages > KAFKA_MINCORE_PAGES)
            pages = KAFKA_MINCORE_PAGES;
        if (mincore((void *)start, pages * pg, vec) != 0)
            return false;
        for (size_t i = 0; i < pages; i++)
            if (!(vec[i] & 1))
                return true;
        start += pages * pg;
    }
    return false;
}

/* I/O thread: the job's first `done` bytes are resident: tell the loop (once per wake-up, not
 * per chunk: a job already listed is not listed again). */
static void job_progress(kafka_server_t *srv, kafka_warm_job *job, size_t done)
{
    atomic_store_explicit(&job->done, done, memory_order_release);
    pthread_mutex_lock(&srv->warm_mu);
    if (!job->progress_listed) {
        job->progress_listed = true;
        job->progress_next = srv->warm_progress;
        srv->warm_progress = job;
        ev_async_send(srv->loop, &srv->warm_w);
    }
    pthread_mutex_unlock(&srv->warm_mu);
}

/* I/O thread: brings every page of the job's ranges into memory, waiting for the reads, and
 * publishes each KAFKA_WARM_CHUNK as it is done so the loop sends it meanwhile. */
static void job_warm(kafka_server_t *srv, kafka_warm_job *job)
{
    uintptr_t pg = page_size();
    size_t total = 0;
    for (size_t r = 0; r < job->nranges; r++)
        total += job->ranges[r].len;
    size_t done = 0;
    for (size_t r = 0; r < job->nranges; r++) {
        rl_slice s = job->ranges[r];
        uintptr_t start = (uintptr_t)s.p & ~(pg - 1);
        uintptr_t end = (uintptr_t)s.p + s.len;
        /* Large asynchronous reads of the whole range first: the disk reads ahead while the
         * touches below wait for one chunk at a time and the loop sends the chunks done. In
         * pieces: one MADV_WILLNEED reads at most the device's readahead size (read_ahead_kb,
         * mm/readahead.c force_page_cache_ra), and pages past it would be read by the
         * touches' read-around instead, which marks pages for further readahead: sendfile
         * of such a page later starts the next window's reads from the loop thread. */
        for (uintptr_t a = start; a < end; a += KAFKA_WILLNEED_STEP) {
            uintptr_t n = end - a < KAFKA_WILLNEED_STEP ? end - a : KAFKA_WILLNEED_STEP;
            (void)madvise((void *)a, n, MADV_WILLNEED);
        }
        for (size_t c = 0; c < s.len; c += KAFKA_WARM_CHUNK) {
            if (atomic_load_explicit(&srv->warm_stop, memory_order_relaxed))
                return;
            size_t clen = s.len - c < KAFKA_WARM_CHUNK ? s.len - c : KAFKA_WARM_CHUNK;
            /* Touch within the slice only (its first page may start before it: still mapped,
             * as the whole page is part of the segment's mapping). */
            uintptr_t a = (uintptr_t)s.p + c;
            uintptr_t cend = a + clen;
            (void)*(const volatile uint8_t *)a;
            for (a = (a & ~(pg - 1)) + pg; a < cend; a += pg)
                (void)*(const volatile uint8_t *)a;
            done += clen;
            if (done < total)
                job_progress(srv, job, done);
        }
    }
    atomic_store_explicit(&job->done, total, memory_order_release);
}

static void *warm_main(void *arg)
{
    kafka_server_t *srv = arg;
    pthread_mutex_lock(&srv->warm_mu);
    for (;;) {
        while (!srv->warm_queue && !atomic_load(&srv->warm_stop))
            pthread_cond_wait(&srv->warm_cv, &srv->warm_mu);
        if (atomic_load(&srv->warm_stop))
            break;
        kafka_warm_job *job = srv->warm_queue;
        srv->warm_queue = job->next;
        if (!srv->warm_queue)
            srv->warm_queue_tail = NULL;
        srv->warm_nqueued--;
        job->next = NULL;
        pthread_mutex_unlock(&srv->warm_mu);

        job_warm(srv, job);

        pthread_mutex_lock(&srv->warm_mu);
        job->next = srv->warm_done;
        srv->warm_done = job;
        /* Called with the lock held so kafka__warm_stop, which stops warm_w after joining,
         * never races a send. */
        ev_async_send(srv->loop, &srv->warm_w);
    }
    pthread_mutex_unlock(&srv->warm_mu);
    return NULL;
}

static void job_free(kafka_warm_job *job)
{
    for (size_t i = 0; i < job->npins; i++)
        kafka__pin_release(job->pins[i], -1); /* descriptors were given back at the move */
    free(job->ranges);
    free(job->pins);
    free(job);
}

/* Loop: answers the connections whose jobs are done. */
static void on_warm_done(struct ev_loop *loop, ev_async *w, int revents)
{
    kafka_server_t *srv = w->data;
    (void)loop;
    (void)revents;
    pthread_mutex_lock(&srv->warm_mu);
    kafka_warm_job *done = srv->warm_done;
    kafka_warm_job *progress = srv->warm_progress;
    srv->warm_done = NULL;
    srv->warm_progress = NULL;
    for (kafka_warm_job *job = progress; job; job = job->progress_next)
        job->progress_listed = false;
    pthread_mutex_unlock(&srv->warm_mu);
    /* Progress first: a job on both lists (taken together above) is freed below only. The
     * links are read before the call, which may close the connection (that only clears
     * job->conn; jobs are freed from the done list). */
    while (progress) {
        kafka_warm_job *job = progress;
        progress = job->progress_next;
        if (job->conn && job->conn->warm == job)
            kafka__conn_warmed(job->conn, false);
    }
    uint64_t now = mono_ns();
    while (done) {
        kafka_warm_job *job = done;
        done = job->next;
        KAFKA_STAT_ADD(srv, fetch_warm_ns, now - job->start_ns);
        kafka_conn *conn = job->conn;
        if (conn) {
            RL_ASSERT(conn->warm == job);
            conn->warm = NULL;
        }
        job_free(job);
        if (conn)
            kafka__conn_warmed(conn, true);
    }
}

int kafka__warm_start(kafka_server_t *srv, rl_err *err)
{
    int want = srv->opts.fetch_warm_threads;
    if (want == 0)
        want = KAFKA_WARM_THREADS_DEFAULT;
    if (want < 0)
        want = 0;
    if (want > KAFKA_WARM_THREADS_MAX)
        want = KAFKA_WARM_THREADS_MAX;
    pthread_mutex_init(&srv->warm_mu, NULL);
    pthread_cond_init(&srv->warm_cv, NULL);
    atomic_store(&srv->warm_stop, false);
    ev_async_init(&srv->warm_w, on_warm_done);
    srv->warm_w.data = srv;
    ev_async_start(srv->loop, &srv->warm_w);
    for (int i = 0; i < want; i++) {
        int rc = pthread_create(&srv->warm_threads[i], NULL, warm_main, srv);
        if (rc != 0) {
            kafka__warm_stop(srv);
            return rl_err_set(err, -rc, "kafka: starting a fetch warming thread: %s", strerror(rc));
        }
        srv->nwarm_threads++;
    }
    return 0;
}

void kafka__warm_stop(kafka_server_t *srv)
{
    pthread_mutex_lock(&srv->warm_mu);
    atomic_store(&srv->warm_stop, true);
    pthread_cond_broadcast(&srv->warm_cv);
    pthread_mutex_unlock(&srv->warm_mu);
    for (size_t i = 0; i < srv->nwarm_threads; i++)
        pthread_join(srv->warm_threads[i], NULL);
    srv->nwarm_threads = 0;
    ev_async_stop(srv->loop, &srv->warm_w);
    /* Every connection is closed by now: whatever is left is orphaned. */
    kafka_warm_job *lists[2] = {srv->warm_queue, srv->warm_done};
    srv->warm_queue = srv->warm_queue_tail = srv->warm_done = NULL;
    srv->warm_progress = NULL; /* its jobs are on the lists above */
    srv->warm_nqueued = 0;
    for (int l = 0; l < 2; l++) {
        for (kafka_warm_job *job = lists[l], *next; job; job = next) {
            next = job->next;
            if (job->conn)
                job->conn->warm = NULL;
            job_free(job);
        }
    }
    pthread_cond_destroy(&srv->warm_cv);
    pthread_mutex_destroy(&srv->warm_mu);
}

bool kafka__warm_begin(kafka_conn *conn, size_t first)
{
    kafka_server_t *srv = conn->srv;
    /* A socket-less connection (kafka__feed) drops its queue at once: nothing to wait for. */
    if (srv->nwarm_threads == 0 || conn->fd < 0)
        return false;
    RL_ASSERT(!conn->warm);
    size_t nranges = 0;
    bool cold = false;
    for (size_t i = first; i < conn->nparts; i++) {
        const kafka_part *pt = &conn->parts[i];
        if (!pt->p)
            continue;
        nranges++;
        if (!cold && range_cold(rl_slice_make(pt->p, pt->len)))
            cold = true;
    }
    if (!cold)
        return false;
    kafka_warm_job *job = calloc(1, sizeof *job);
    if (!job)
        return false;
    job->ranges = malloc(nranges * sizeof *job->ranges);
    job->pins = calloc(nranges, sizeof *job->pins);
    if (!job->ranges || !job->pins) {
        job_free(job);
        return false;
    }
    atomic_init(&job->done, 0);
    size_t at = 0;
    for (size_t i = first; i < conn->nparts; i++) {
        kafka_part *pt = &conn->parts[i];
        if (!pt->p)
            continue;
        job->ranges[job->nranges++] = rl_slice_make(pt->p, pt->len);
        pt->warm_at = at;
        at += pt->len;
    }
    job->conn = conn;
    job->start_ns = mono_ns();
    pthread_mutex_lock(&srv->warm_mu);
    bool full = srv->warm_nqueued >= KAFKA_WARM_QUEUE_MAX;
    if (!full) {
        if (srv->warm_queue_tail)
            srv->warm_queue_tail->next = job;
        else
            srv->warm_queue = job;
        srv->warm_queue_tail = job;
        srv->warm_nqueued++;
        pthread_cond_signal(&srv->warm_cv);
    }
    pthread_mutex_unlock(&srv->warm_mu);
    if (full) {
        for (size_t i = first; i < conn->nparts; i++)
            conn->parts[i].warm_at = KAFKA_NO_WARM;
        job_free(job);
        return false;
    }
    conn->warm = job;
    KAFKA_STAT_ADD(srv, fetch_cold, 1);
    return true;
}

void kafka__warm_conn_gone(kafka_conn *conn)
{
    kafka_warm_job *job = conn->warm;
    if (!job)
        return;
    /* The thread may still be reading these pages: the job keeps them mapped. The parts it
     * warms are at most nranges (pins was sized so when the job was made). Parts already
     * sent were released by the queue, but only after the thread was done with them. */
    for (size_t i = conn->part_head; i < conn->nparts; i++) {
        kafka_part *pt = &conn->parts[i];
        if (pt->warm_at != KAFKA_NO_WARM && pt->pin) {
            RL_ASSERT(job->npins < job->nranges);
            /* The thread reads the mapping, never the descriptor: that goes back now. */
            log_read rd;
            memset(&rd, 0, sizeof rd);
            rd.pin = pt->pin;
            rd.fd = pt->fd;
            log_read_fd_release(&rd);
            pt->fd = -1;
            job->pins[job->npins++] = pt->pin;
            pt->pin = NULL;
        }
    }
    job->conn = NULL;
    conn->warm = NULL;
}
