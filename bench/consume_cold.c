/*
 * consume_cold.c - a hot consumer's Fetch latency while other consumers read a log that is
 * not in the page cache, with and without the server's fetch warming threads
 * (bench/RESULTS.md "Cold fetch"; server/kafka_warm.c).
 *
 * 1. Writes one topic of one partition (default 288 MiB of ~1 KB records, uncompressed,
 *    64 MiB segments) with log/ into DIR (default /var/tmp; must be a disk, not tmpfs).
 * 2. Per run and mode (warming on: fetch_warm_threads 2; off: -1, the loop sends cold bytes
 *    itself), alternating: opens the log, drops it from the page cache (MADV_DONTNEED on the
 *    store's mapping of each sealed segment, then fdatasync + POSIX_FADV_DONTNEED on every
 *    file), starts kafka_server in-process on its own loop thread, then C cold clients (raw
 *    sockets, default 4) each fetch one whole sealed segment (one 64 MiB Fetch v4) at once
 *    while a hot client fetches the last record of the partition (Fetch, max_wait 0, 64 KiB)
 *    in a loop. Reports the hot client's round trips, p50, p99 and max latency while the cold
 *    fetches run, the slowest cold fetch, the major page faults the loop thread took and the
 *    bytes it read from storage (sendfile reads missing pages without faulting), and
 *    the loop's longest iteration and total busy time (from poll returning to the next poll,
 *    measured by an ev_check/ev_prepare pair on the server's loop: time in which no new
 *    request could be picked up; it includes time the thread was runnable but not running,
 *    which a loaded 2-core machine adds to both modes).
 *
 *   consume_cold [--dir DIR] [--mib N] [--cold C] [--runs R]
 */
#include "common/rl.h"
#include "log/log.h"
#include "server/kafka.h"
#include "tests/unit/server/kafka_log_gen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "cold"
#define SEG_BYTES ((uint64_t)64 << 20)
#define VALUE_BYTES 1000
#define COLD_MAX (64 << 20)
#define HOT_MAX (64 << 10)
#define MAX_COLD 16
#define MAX_LAT 1000000

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "consume_cold: %s: %s\n", what, msg);
    exit(1);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static log_store_t *open_store(const char *dir)
{
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 1;
    lo.segment_bytes = SEG_BYTES;
    rl_err err = {0};
    log_store_t *store = NULL;
    if (log_store_open(&store, dir, &lo, &err) != 0)
        die("log_store_open", err.msg);
    return store;
}

static void write_log(const char *dir, size_t mib)
{
    log_store_t *store = open_store(dir);
    int64_t lstart = 0, hw = 0;
    if (log_store_offsets(store, TOPIC, 0, &lstart, &hw) == 0 && hw > 0) {
        log_store_close(store); /* reused from an earlier run */
        return;
    }
    rl_err err = {0};
    if (kg_append_varied(store, TOPIC, (mib << 20) / (VALUE_BYTES + 64), VALUE_BYTES, 20000,
                         &err) != 0)
        die("writing the log", err.msg);
    log_store_close(store);
}


static int drop_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    (void)fdatasync(fd);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}

/* Drops the log from the page cache; fills bases with the sealed segments' first offsets. */
static int evict(log_store_t *store, const char *dir, int64_t *bases, int max)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    int64_t offset = 0;
    int n = 0;
    while (n < max) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        rl_err err = {0};
        if (log_store_read(store, TOPIC, 0, offset, (size_t)SEG_BYTES, &lr, &err) != 0) {
            log_read_release(&lr);
            break;
        }
        if (lr.bytes.len > 0) {
            uintptr_t start = (uintptr_t)lr.bytes.p & ~(pg - 1);
            (void)madvise((void *)start, (uintptr_t)lr.bytes.p + lr.bytes.len - start,
                          MADV_DONTNEED);
        }
        int64_t next = kg_next_offset(lr.bytes);
        log_read_release(&lr);
        if (next <= offset)
            break;
        bases[n++] = offset;
        offset = next;
    }
    nftw(dir, drop_one, 16, FTW_PHYS);
    return n;
}

/* ------------------------------------------------------------------ server thread */

typedef struct srv_thread {
    struct ev_loop *loop;
    ev_async stop_w;
    pthread_t thread;
    kafka_server_t *srv;
    _Atomic int tid;
    /* Loop iterations: the time from poll returning (ev_check) to the loop's next poll
     * (ev_prepare) is time the loop could not pick up a new request. */
    ev_prepare prep_w;
    ev_check check_w;
    int64_t check_at;
    _Atomic bool measure;
    int64_t busy_max, busy_total;
    size_t iters;
} srv_thread;

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    srv_thread *st = w->data;
    (void)loop;
    (void)revents;
    st->check_at = now_us();
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    srv_thread *st = w->data;
    (void)loop;
    (void)revents;
    if (st->check_at == 0 || !atomic_load_explicit(&st->measure, memory_order_relaxed))
        return;
    int64_t busy = now_us() - st->check_at;
    if (busy > st->busy_max)
        st->busy_max = busy;
    st->busy_total += busy;
    st->iters++;
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *loop_main(void *arg)
{
    srv_thread *st = arg;
    atomic_store(&st->tid, (int)syscall(SYS_gettid));
    ev_run(st->loop, 0);
    return NULL;
}

/* ------------------------------------------------------------------ raw client */

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect", strerror(errno));
    return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void recv_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("recv", r == 0 ? "closed" : strerror(errno));
        p += r;
        n -= (size_t)r;
    }
}

/* One Fetch v4 of partition 0; returns the response size (bytes after the size field). */
static size_t fetch(int fd, int32_t corr, int64_t offset, int32_t max_bytes, rl_buf *req,
                    rl_buf *resp)
{
    rl_buf_reset(req);
    rl_buf_put_be32(req, 0);
    rl_buf_put_be16(req, 1); /* Fetch */
    rl_buf_put_be16(req, 4);
    rl_buf_put_be32(req, (uint32_t)corr);
    rl_buf_put_be16(req, 5);
    rl_buf_append(req, "bench", 5);
    rl_buf_put_be32(req, (uint32_t)-1);
    rl_buf_put_be32(req, 0);
    rl_buf_put_be32(req, 0);
    rl_buf_put_be32(req, (uint32_t)max_bytes);
    rl_buf_putc(req, 0);
    rl_buf_put_be32(req, 1);
    rl_buf_put_be16(req, (uint16_t)strlen(TOPIC));
    rl_buf_puts(req, TOPIC);
    rl_buf_put_be32(req, 1);
    rl_buf_put_be32(req, 0);
    rl_buf_put_be64(req, (uint64_t)offset);
    rl_buf_put_be32(req, (uint32_t)max_bytes);
    if (!rl_buf_ok(req))
        die("fetch", "out of memory");
    rl_buf_patch_be32(req, 0, (uint32_t)(req->len - 4));
    send_all(fd, req->p, req->len);
    uint8_t sz[4];
    recv_all(fd, sz, 4);
    uint32_t n = ((uint32_t)sz[0] << 24) | ((uint32_t)sz[1] << 16) | ((uint32_t)sz[2] << 8) | sz[3];
    rl_buf_reset(resp);
    if (rl_buf_reserve(resp, n) != 0)
        die("fetch", "out of memory");
    recv_all(fd, resp->p, n);
    resp->len = n;
    return n;
}

typedef struct hot_ctx {
    unsigned port;
    int64_t tail;
    _Atomic bool stop, measuring;
    int64_t *lat;
    size_t nlat;
} hot_ctx;

static void *hot_main(void *arg)
{
    hot_ctx *h = arg;
    int fd = connect_to(h->port);
    rl_buf req = {0}, resp = {0};
    int32_t corr = 1;
    (void)fetch(fd, corr++, h->tail, HOT_MAX, &req, &resp);
    while (!atomic_load(&h->stop)) {
        bool m = atomic_load(&h->measuring);
        int64_t t0 = now_us();
        (void)fetch(fd, corr++, h->tail, HOT_MAX, &req, &resp);
        int64_t dt = now_us() - t0;
        if (m && atomic_load(&h->measuring) && h->nlat < MAX_LAT)
            h->lat[h->nlat++] = dt;
    }
    rl_buf_free(&req);
    rl_buf_free(&resp);
    close(fd);
    return NULL;
}

typedef struct cold_ctx {
    unsigned port;
    int64_t offset;
    pthread_barrier_t *bar;
    size_t bytes;
    int64_t dt;
} cold_ctx;

static void *cold_main(void *arg)
{
    cold_ctx *c = arg;
    int fd = connect_to(c->port);
    rl_buf req = {0}, resp = {0};
    pthread_barrier_wait(c->bar);
    int64_t t0 = now_us();
    c->bytes = fetch(fd, 100, c->offset, COLD_MAX, &req, &resp);
    c->dt = now_us() - t0;
    rl_buf_free(&req);
    rl_buf_free(&resp);
    close(fd);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run_once(const char *logdir, bool warm, int ncold, int run)
{
    log_store_t *store = open_store(logdir);
    int64_t bases[64];
    int nb = evict(store, logdir, bases, 64);
    int64_t lstart, hw;
    if (log_store_offsets(store, TOPIC, 0, &lstart, &hw) != 0)
        die("log_store_offsets", "no topic");
    if (ncold > nb - 1)
        ncold = nb - 1; /* the last segment is the active one, warm from the open */
    if (ncold < 1)
        die("log", "too small: use a larger --mib");

    srv_thread st;
    memset(&st, 0, sizeof st);
    st.loop = ev_loop_new(EVFLAG_AUTO);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.listen_port = 0;
    ko.fetch_warm_threads = warm ? 0 : -1;
    rl_err err = {0};
    if (kafka_server_start(&st.srv, st.loop, store, &ko, &err) != 0)
        die("kafka_server_start", err.msg);
    ev_async_init(&st.stop_w, on_stop);
    ev_async_start(st.loop, &st.stop_w);
    ev_prepare_init(&st.prep_w, on_prepare);
    ev_check_init(&st.check_w, on_check);
    st.prep_w.data = st.check_w.data = &st;
    ev_prepare_start(st.loop, &st.prep_w);
    ev_check_start(st.loop, &st.check_w);
    pthread_create(&st.thread, NULL, loop_main, &st);
    unsigned port = kafka_server_port(st.srv);

    hot_ctx h;
    memset(&h, 0, sizeof h);
    h.port = port;
    h.tail = hw - 1;
    h.lat = calloc(MAX_LAT, sizeof *h.lat);
    if (!h.lat)
        die("calloc", "out of memory");
    pthread_t ht;
    pthread_create(&ht, NULL, hot_main, &h);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);

    cold_ctx cc[MAX_COLD];
    pthread_t ct[MAX_COLD];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)ncold + 1);
    for (int i = 0; i < ncold; i++) {
        memset(&cc[i], 0, sizeof cc[i]);
        cc[i].port = port;
        cc[i].offset = bases[i];
        cc[i].bar = &bar;
        pthread_create(&ct[i], NULL, cold_main, &cc[i]);
    }
    int tid = atomic_load(&st.tid);
    long f0 = kg_thread_majflt(tid);
    long long rb0 = kg_thread_read_bytes(tid);
    atomic_store(&h.measuring, true);
    atomic_store(&st.measure, true);
    int64_t t0 = now_us();
    pthread_barrier_wait(&bar);
    int64_t cold_max = 0;
    size_t cold_bytes = 0;
    for (int i = 0; i < ncold; i++) {
        pthread_join(ct[i], NULL);
        if (cc[i].dt > cold_max)
            cold_max = cc[i].dt;
        cold_bytes += cc[i].bytes;
    }
    int64_t total = now_us() - t0;
    long f1 = kg_thread_majflt(tid);
    long long rb1 = kg_thread_read_bytes(tid);
    atomic_store(&st.measure, false);
    atomic_store(&h.measuring, false);
    atomic_store(&h.stop, true);
    pthread_join(ht, NULL);
    pthread_barrier_destroy(&bar);

    kafka_server_stats ks;
    kafka_server_stats_get(st.srv, &ks);
    ev_async_send(st.loop, &st.stop_w);
    pthread_join(st.thread, NULL);
    ev_prepare_stop(st.loop, &st.prep_w);
    ev_check_stop(st.loop, &st.check_w);
    kafka_server_stop(st.srv);
    ev_loop_destroy(st.loop);
    log_store_close(store);

    double p50 = 0, p99 = 0, mx = 0;
    if (h.nlat > 0) {
        qsort(h.lat, h.nlat, sizeof *h.lat, cmp_i64);
        p50 = (double)h.lat[h.nlat / 2] / 1000;
        p99 = (double)h.lat[h.nlat * 99 / 100] / 1000;
        mx = (double)h.lat[h.nlat - 1] / 1000;
    }
    printf("| %d | %-3s | %d x %.0f MiB | %8.1f | %7.1f | %10zu | %6.2f | %7.2f | %7.2f | %5ld | "
           "%7.1f | %8.1f | %8.1f | %6" PRIu64 " | %8.1f |\n",
           run, warm ? "on" : "off", ncold, (double)cold_bytes / ncold / (1 << 20),
           (double)total / 1000, (double)cold_max / 1000, h.nlat, p50, p99, mx,
           f0 >= 0 && f1 >= 0 ? f1 - f0 : -1,
           rb0 >= 0 && rb1 >= 0 ? (double)(rb1 - rb0) / (1 << 20) : -1.0,
           (double)st.busy_max / 1000,
           (double)st.busy_total / 1000, ks.fetch_cold, (double)ks.fetch_warm_ns / 1e6);
    fflush(stdout);
    free(h.lat);
}

int main(int argc, char **argv)
{
    const char *parent = "/var/tmp";
    size_t mib = 288;
    int ncold = 4, runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            parent = argv[++i];
        else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--cold") && i + 1 < argc)
            ncold = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: consume_cold [--dir DIR] [--mib N] [--cold C] [--runs R]\n");
            return 2;
        }
    }
    if (ncold < 1 || ncold > MAX_COLD || runs < 1 || mib < 130)
        die("options", "--cold 1-16, --runs >= 1, --mib >= 130");
    char logdir[4200];
    snprintf(logdir, sizeof logdir, "%s/rowlog-consume-cold", parent);
    write_log(logdir, mib);
    printf("| run | warm | cold fetches | cold phase ms | slowest cold ms | hot round trips | "
           "hot p50 ms | hot p99 ms | hot max ms | loop major faults | loop disk reads MiB | "
           "longest loop iteration ms | loop busy ms | fetch_cold | fetch_warm ms |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int r = 1; r <= runs; r++) {
        run_once(logdir, true, ncold, r);
        run_once(logdir, false, ncold, r);
    }
    printf("(log kept in %s; remove it when done)\n", logdir);
    return 0;
}
