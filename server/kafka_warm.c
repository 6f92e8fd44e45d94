/*
 * kafka_warm.c - cold Fetch reads are faulted into the page cache by a small pool of I/O
 * threads, so a read from disk never stalls the loop (and with it every other connection).
 *
 * Why: Fetch record bytes are slices of the log's mapping (log_store_read), written with
 * sendmsg by the loop thread. When a page of the slice is not in the page cache, the copy
 * into the socket takes a page fault and the loop thread sleeps until the disk read is done
 * (KAFKA-7504 is the same problem in Kafka, where sendfile blocks the network thread).
 *
 * How: before a Fetch response is queued, kafka__warm_begin asks mincore(2) whether every
 * page of its record slices is resident: one call per slice (per 16 MiB of it), never per
 * record. If one is not, the response is not built yet: a job listing the slices goes to a
 * bounded queue, the connection stops being read (like a parked Fetch, so responses stay in
 * request order), and an I/O thread issues madvise(MADV_WILLNEED) over each slice (the
 * kernel starts large reads at once) and then reads one byte per page, which waits for the
 * data (a fault on a page still under I/O sleeps until it is read). It then puts the job on
 * the done list and wakes the loop with ev_async; the loop builds the response from the
 * pins the fetch kept all along (so the slices stay mapped) and goes on with the connection.
 *
 * A connection that closes meanwhile hands its pins to the job; the job is freed (and the
 * pins released) by the loop once the thread is done with it. kafka_server_stop joins the
 * threads (a running job stops at the next 1,024 pages) and frees every job left.
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* mincore vector bytes per call: 4,096 pages (16 MiB of 4 KiB pages) on the stack. */
#define KAFKA_MINCORE_PAGES 4096
/* The stop flag is checked this often while faulting pages in. */
#define KAFKA_WARM_STOP_CHECK 1024

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

/* I/O thread: brings every page of the job's ranges into memory, waiting for the reads. */
static void job_warm(kafka_server_t *srv, const kafka_warm_job *job)
{
    uintptr_t pg = page_size();
    for (size_t r = 0; r < job->nranges; r++) {
        rl_slice s = job->ranges[r];
        uintptr_t start = (uintptr_t)s.p & ~(pg - 1);
        uintptr_t end = (uintptr_t)s.p + s.len;
        /* Large asynchronous reads first; the touches below then mostly find pages under
         * I/O or already there instead of faulting them in one readahead window at a time. */
        (void)madvise((void *)start, end - start, MADV_WILLNEED);
        size_t n = 0;
        /* Touch within the slice only (its first page may start before it: still mapped,
         * as the whole page is part of the segment's mapping). */
        for (uintptr_t a = start; a < end; a += pg) {
            const volatile uint8_t *b =
                (const volatile uint8_t *)(a < (uintptr_t)s.p ? (uintptr_t)s.p : a);
            (void)*b;
            if (++n % KAFKA_WARM_STOP_CHECK == 0 &&
                atomic_load_explicit(&srv->warm_stop, memory_order_relaxed))
                return;
        }
    }
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
        kafka__pin_release(job->pins[i]);
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
    srv->warm_done = NULL;
    pthread_mutex_unlock(&srv->warm_mu);
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
            kafka__conn_warmed(conn);
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

bool kafka__warm_begin(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    kafka_fetch *f = &conn->fetch;
    if (srv->nwarm_threads == 0)
        return false;
    size_t nranges = 0;
    bool cold = false;
    for (size_t i = 0; i < f->nparts; i++) {
        if (f->parts[i].records.len == 0)
            continue;
        nranges++;
        if (!cold && range_cold(f->parts[i].records))
            cold = true;
    }
    if (!cold)
        return false;
    kafka_warm_job *job = calloc(1, sizeof *job);
    if (!job)
        return false;
    job->ranges = malloc(nranges * sizeof *job->ranges);
    job->pins = calloc(f->nparts, sizeof *job->pins);
    if (!job->ranges || !job->pins) {
        job_free(job);
        return false;
    }
    for (size_t i = 0; i < f->nparts; i++)
        if (f->parts[i].records.len > 0)
            job->ranges[job->nranges++] = f->parts[i].records;
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
    /* The thread may still be reading these pages: the job keeps them mapped. pins was
     * sized for every partition of the fetch when the job was made, so this cannot fail. */
    kafka_fetch *f = &conn->fetch;
    for (size_t i = 0; i < f->nparts; i++) {
        if (f->parts[i].pin) {
            job->pins[job->npins++] = f->parts[i].pin;
            f->parts[i].pin = NULL;
        }
    }
    job->conn = NULL;
    conn->warm = NULL;
}
