/*
 * consume.c - consumer throughput of rowlog's Kafka server (bench/RESULTS.md "Consume").
 *
 * 1. Writes a topic of N records (default 10,000,000) with log/ directly into a temporary
 *    directory: 16 partitions, lz4 (rowlog's default codec; --codec none shows the wire
 *    without the consumers' decompression), keys {"id":i}, values ~100-byte
 *    JSON change events like rowlog's, committed every 10,000 records. Not timed.
 * 2. Measures loopback TCP bandwidth in the same run: one thread writes 1 GiB in 1 MiB
 *    send()s to another reading it over 127.0.0.1.
 * 3. Starts kafka_server on the log in-process (its own libev loop and thread) and, for 1, 4
 *    and 16 concurrent consumers (each its own rd_kafka_t and thread, assigned 16/C of the
 *    partitions from offset 0, no group), consumes the whole topic from the page cache (a
 *    warm-up pass reads it once first). Reports records/s, payload MB/s (key + value bytes
 *    handed to the application) and wire MB/s (RecordBatch bytes the server sent, from its
 *    fetch_record_bytes counter) against the loopback figure, and the CPU time of the whole
 *    process and of the server's loop thread (the machine is shared: CPU seconds per record
 *    say what wall-clock rates cannot when other work takes the cores). Each run's time is
 *    from starting the consumers to the last record received: the end-of-partition events
 *    that stop them come from parked fetches (up to fetch.wait.max.ms each), not throughput.
 *
 *   consume [--records N] [--partitions P] [--consumers 1,4,16] [--codec lz4|none|zstd]
 *           [--batch-bytes B] [--value-bytes N] [--dir DIR] [--keep] [--no-warm]
 *           [--no-sendfile] [--set KEY=VALUE]...
 *   (--pin: each consumer's application thread and librdkafka's threads on one CPU, consumer
 *   i on CPU i mod CPUs (the server's threads are not pinned). One consumer's broker thread
 *   hands each message to the application thread under locks, and frees come back to the
 *   broker thread's malloc arena: on two cores at once the two threads contend and a run
 *   can cost 2-3x the CPU (bench/RESULTS.md "Consume", 2026-11-23 20:19); on one core they
 *   take turns. Pinning is what a consumer application would do on its side; the server is
 *   the same either way)
 *   (--value-bytes N: values of N bytes, 128..8000, instead of ~100: a change event padded
 *   with a text column of varied words; the baselines note's average CDC event is 541 bytes.
 *   Records/s fall and MB/s rise with it: compare the wire with loopback at this size)
 *   (--batch-bytes: log_store_opts.batch_bytes of the generated topic, uncompressed bytes per
 *   RecordBatch, default the store's 1 MiB; --no-sendfile: the server sends records with
 *   sendmsg from the log's mapping instead of sendfile, for before/after pairs; --set: any
 *   librdkafka consumer setting, after the bench's own, e.g. --set fetch.max.bytes=104857600)
 *   (--no-warm: the server without fetch warming threads, so without its per-partition
 *   mincore residency check: shows what that check costs on page-cache reads)
 *   (--dir DIR --keep: the log is kept in DIR/log and reused by the next run of that size;
 *   CONSUME_DEBUG=1 prints request counts, phase times and the application threads' CPU per
 *   run)
 *
 * librdkafka settings are its defaults except: fetch.wait.max.ms 100, check.crcs false
 * (the default), enable.partition.eof true (to know the end), queued.max.messages.kbytes
 * 262144 (256 MiB of prefetch per consumer).
 */
#include "common/rl.h"
#include "log/log.h"
#include "server/kafka.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTS 64
#define MAX_CONSUMERS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "consume: %s: %s\n", what, msg);
    exit(1);
}

/* ------------------------------------------------------------------ the topic */

/* value_bytes 0: the ~100-byte change events; else each value is padded to value_bytes
 * (a change event whose "after" carries a text column of varied words, as a row of a real
 * table would: the baselines note's average CDC event is 541 bytes). */
static uint64_t generate(const char *dir, uint64_t n, uint32_t parts, int codec,
                         size_t batch_bytes, size_t value_bytes, uint64_t *payload)
{
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = codec;
    lo.batch_bytes = batch_bytes;
    lo.partitions = parts;
    lo.flush = LOG_FLUSH_OS; /* the bench reads from the page cache; durability is moot */
    log_store_t *store;
    rl_err err = {0};
    if (log_store_open(&store, dir, &lo, &err) != 0)
        die("log_store_open", err.msg);
    static const char *const names[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
    static const char *const words[] = {"order", "shipped", "pending", "warehouse", "north",
                                        "customer", "refund", "priority", "express", "parcel",
                                        "invoice", "returned", "gift", "standard", "delayed"};
    char key[48], val[8192];
    uint64_t bytes = 0;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (uint64_t i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "{\"id\":%" PRIu64 "}", i);
        int vl;
        if (value_bytes == 0) {
            vl = snprintf(val, sizeof val,
                          "{\"op\":\"c\",\"ts_ms\":%" PRIu64 ",\"after\":{\"id\":%" PRIu64
                          ",\"name\":\"%s\",\"qty\":%" PRIu64 ",\"price\":\"%" PRIu64 ".%02u\"}}",
                          (uint64_t)1700000000000 + i, i, names[i % 6], i % 17, i % 1000,
                          (unsigned)(i % 100));
        } else {
            vl = snprintf(val, sizeof val,
                          "{\"op\":\"c\",\"ts_ms\":%" PRIu64 ",\"after\":{\"id\":%" PRIu64
                          ",\"name\":\"%s\",\"qty\":%" PRIu64 ",\"note\":\"",
                          (uint64_t)1700000000000 + i, i, names[i % 6], i % 17);
            while ((size_t)vl + 16 < value_bytes) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                vl += snprintf(val + vl, sizeof val - (size_t)vl, "%s ", words[x % 15]);
            }
            if ((size_t)vl > value_bytes - 3)
                vl = (int)value_bytes - 3;
            memcpy(val + vl, "\"}}", 3);
            vl += 3;
        }
        bytes += (uint64_t)kl + (uint64_t)vl;
        if (log_store_append(store, rl_slice_str("bench"),
                             rl_slice_make((uint8_t *)key, (size_t)kl),
                             rl_slice_make((uint8_t *)val, (size_t)vl),
                             (int64_t)1700000000000 + (int64_t)i, &err) != 0)
            die("append", err.msg);
        if ((i + 1) % 10000 == 0 || i + 1 == n)
            if (log_store_commit(store, rl_slice_str("bench"), &err) != 0)
                die("commit", err.msg);
    }
    if (log_store_sync(store, &err) != 0)
        die("sync", err.msg);
    log_store_close(store);
    *payload = bytes;
    return n;
}

/* ------------------------------------------------------------------ loopback */

typedef struct lb {
    int fd;
    uint64_t bytes;
} lb;

static void *lb_reader(void *arg)
{
    lb *l = arg;
    static char buf[1 << 20];
    for (;;) {
        ssize_t r = recv(l->fd, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        l->bytes += (uint64_t)r;
    }
    return NULL;
}

/* MB/s of 1 GiB sent over a loopback TCP connection (one writer, one reader thread). */
static double loopback_mbs(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
        die("loopback", strerror(errno));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("loopback connect", strerror(errno));
    int s = accept(ls, NULL, NULL);
    if (s < 0)
        die("loopback accept", strerror(errno));
    lb l = {s, 0};
    pthread_t t;
    pthread_create(&t, NULL, lb_reader, &l);
    static char buf[1 << 20];
    memset(buf, 'x', sizeof buf);
    const uint64_t total = (uint64_t)1 << 30;
    double t0 = now_s();
    uint64_t sent = 0;
    while (sent < total) {
        ssize_t w = send(c, buf, sizeof buf, 0);
        if (w <= 0)
            die("loopback send", strerror(errno));
        sent += (uint64_t)w;
    }
    shutdown(c, SHUT_WR);
    pthread_join(t, NULL);
    double dt = now_s() - t0;
    close(c);
    close(s);
    close(ls);
    return (double)l.bytes / dt / 1e6;
}

/* ------------------------------------------------------------------ server */

typedef struct srv_thread {
    struct ev_loop *loop;
    ev_async stop_w;
    pthread_t t;
    kafka_server_t *srv;
} srv_thread;

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *loop_main(void *arg)
{
    srv_thread *st = arg;
    ev_run(st->loop, 0);
    return NULL;
}

/* ------------------------------------------------------------------ consumers */

/* --set KEY=VALUE settings, applied to every consumer after the bench's own. */
#define MAX_SETS 16
static const char *extra_sets[MAX_SETS];
static int nextra_sets;
/* --pin: each consumer's threads on one CPU (consumer i on CPU i mod CPUs). */
static bool pin_consumers;

typedef struct consumer {
    int index;
    char bootstrap[64];
    int32_t parts[MAX_PARTS];
    int64_t hwm[MAX_PARTS];
    int nparts;
    uint64_t records, bytes;
    double first_s, last_s; /* first and last record received (now_s) */
    double cpu_app;         /* CPU s of the application thread (this consumer's loop) */
    pthread_t t;
    const char *err;
} consumer;

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    char errstr[256];
    if (pin_consumers) {
        /* Before rd_kafka_new: librdkafka's threads (broker, main) inherit this thread's
         * CPU set, so the consumer's application and broker threads share one core. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)(c->index % (ncpu > 0 ? ncpu : 1)), &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
            die("--pin", "pthread_setaffinity_np failed");
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", c->bootstrap},
        {"group.id", "bench"}, /* required by the consumer API; no group is joined (assign) */
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "true"},
        {"fetch.wait.max.ms", "100"},
        {"queued.max.messages.kbytes", "262144"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            die(kv[i][0], errstr);
    for (int i = 0; i < nextra_sets; i++) {
        char k[128];
        const char *eq = strchr(extra_sets[i], '=');
        if (!eq || (size_t)(eq - extra_sets[i]) >= sizeof k)
            die("--set", "KEY=VALUE");
        memcpy(k, extra_sets[i], (size_t)(eq - extra_sets[i]));
        k[eq - extra_sets[i]] = 0;
        if (rd_kafka_conf_set(conf, k, eq + 1, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            die(k, errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        die("rd_kafka_new", errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(c->nparts);
    for (int i = 0; i < c->nparts; i++)
        rd_kafka_topic_partition_list_add(l, "bench", c->parts[i])->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int left = c->nparts;
    rd_kafka_message_t *batch[1024];
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    while (left > 0) {
        uint64_t before = c->records;
        ssize_t n = rd_kafka_consume_batch_queue(q, 1000, batch, 1024);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                for (int k = 0; k < c->nparts; k++)
                    if (c->parts[k] == m->partition && c->hwm[k] >= 0 && m->offset >= c->hwm[k]) {
                        c->hwm[k] = -1; /* done */
                        left--;
                    }
            } else if (m->err) {
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
            } else {
                if (c->records == 0)
                    c->first_s = now_s();
                c->records++;
                c->bytes += m->len + m->key_len;
            }
            rd_kafka_message_destroy(m);
        }
        /* One clock read per batch, not per record. */
        if (n > 0 && c->records > 0 && c->records != before)
            c->last_s = now_s();
    }
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        c->cpu_app = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

typedef struct run_result {
    double secs;
    uint64_t records, bytes, wire;
    double cpu_all;    /* CPU seconds of the whole process (server + consumers) */
    double cpu_server; /* CPU seconds of the server's loop thread */
} run_result;

static double cpu_process(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_t server_tid;

static double cpu_server(void)
{
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(server_tid, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static run_result run(const char *bootstrap, log_store_t *store, kafka_server_t *srv,
                      uint32_t parts, int nconsumers)
{
    consumer *cs = calloc((size_t)nconsumers, sizeof *cs);
    for (int i = 0; i < nconsumers; i++) {
        cs[i].index = i;
        snprintf(cs[i].bootstrap, sizeof cs[i].bootstrap, "%s", bootstrap);
    }
    for (uint32_t p = 0; p < parts; p++) {
        consumer *c = &cs[p % (uint32_t)nconsumers];
        int64_t start;
        log_store_offsets(store, "bench", p, &start, &c->hwm[c->nparts]);
        c->parts[c->nparts++] = (int32_t)p;
    }
    kafka_server_stats s0, s1;
    kafka_server_stats_get(srv, &s0);
    double c0 = cpu_process(), cs0 = cpu_server();
    double t0 = now_s();
    for (int i = 0; i < nconsumers; i++)
        pthread_create(&cs[i].t, NULL, consumer_main, &cs[i]);
    run_result r;
    memset(&r, 0, sizeof r);
    double first = 0, last = 0, cpu_app = 0;
    for (int i = 0; i < nconsumers; i++) {
        pthread_join(cs[i].t, NULL);
        cpu_app += cs[i].cpu_app;
        r.records += cs[i].records;
        r.bytes += cs[i].bytes;
        if (first == 0 || cs[i].first_s < first)
            first = cs[i].first_s;
        if (cs[i].last_s > last)
            last = cs[i].last_s;
    }
    if (getenv("CONSUME_DEBUG")) {
        kafka_server_stats s2;
        kafka_server_stats_get(srv, &s2);
        fprintf(stderr,
                "start to first record %.3f s, first to last %.3f s, last to end %.3f s; "
                "%" PRIu64 " requests, %" PRIu64 " parked fetches; application threads %.2f CPU s, "
                "the rest of the process (librdkafka's threads, server) %.2f\n",
                first - t0, last - first, now_s() - last, s2.requests - s0.requests,
                s2.fetch_parked - s0.fetch_parked, cpu_app, cpu_process() - c0 - cpu_app);
    }
    /* Until the last record arrived: the end-of-partition events that tell the consumers
     * to stop come from parked fetches (fetch.wait.max.ms each) and are not throughput. */
    r.secs = last - t0;
    r.cpu_all = cpu_process() - c0;
    r.cpu_server = cpu_server() - cs0;
    kafka_server_stats_get(srv, &s1);
    r.wire = s1.fetch_record_bytes - s0.fetch_record_bytes;
    free(cs);
    return r;
}

int main(int argc, char **argv)
{
    uint64_t nrecs = 10000000;
    uint32_t parts = 16;
    char counts[64] = "1,4,16";
    const char *dir_arg = NULL;
    int keep = 0;
    int warm_threads = 0;
    bool no_sendfile = false;
    size_t batch_bytes = 0;
    size_t value_bytes = 0;
    int codec = LOG_COMPRESSION_LZ4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            nrecs = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
            parts = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--consumers") && i + 1 < argc)
            snprintf(counts, sizeof counts, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else if (!strcmp(argv[i], "--codec") && i + 1 < argc) {
            codec = log_compression_parse(argv[++i]);
            if (codec < 0)
                die("--codec", "none, lz4 or zstd");
        } else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--no-warm"))
            warm_threads = -1;
        else if (!strcmp(argv[i], "--pin"))
            pin_consumers = true;
        else if (!strcmp(argv[i], "--no-sendfile"))
            no_sendfile = true;
        else if (!strcmp(argv[i], "--value-bytes") && i + 1 < argc) {
            value_bytes = (size_t)strtoull(argv[++i], NULL, 10);
            if (value_bytes != 0 && (value_bytes < 128 || value_bytes > 8000))
                die("--value-bytes", "128..8000 (0: the ~100-byte events)");
        } else if (!strcmp(argv[i], "--batch-bytes") && i + 1 < argc)
            batch_bytes = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && nextra_sets < MAX_SETS)
            extra_sets[nextra_sets++] = argv[++i];
        else {
            fprintf(stderr, "usage: consume [--records N] [--partitions P] "
                            "[--consumers 1,4,16] [--codec lz4|none|zstd] [--batch-bytes B] "
                            "[--value-bytes N] [--pin] "
                            "[--dir DIR] [--keep] [--no-warm] [--no-sendfile] "
                            "[--set KEY=VALUE]...\n");
            return 2;
        }
    }
    if (parts == 0 || parts > MAX_PARTS)
        die("--partitions", "1..64");
    rl_log_set_level(RL_LOG_WARN);
    char dir[256];
    if (dir_arg) {
        snprintf(dir, sizeof dir, "%s", dir_arg);
    } else {
        snprintf(dir, sizeof dir, "/tmp/rowlog-bench-consume-XXXXXX");
        if (!mkdtemp(dir))
            die("mkdtemp", strerror(errno));
    }
    char logdir[300];
    snprintf(logdir, sizeof logdir, "%s/log", dir);

    log_store_t *store;
    rl_err err = {0};
    uint64_t payload = 0;
    double t0 = now_s();
    /* An existing log of the right size (--dir with --keep from an earlier run) is reused. */
    int64_t have = 0;
    if (log_store_open(&store, logdir, NULL, &err) == 0) {
        for (uint32_t p = 0; p < parts; p++) {
            int64_t s, h;
            if (log_store_offsets(store, "bench", p, &s, &h) == 0)
                have += h;
        }
        log_store_close(store);
    }
    if (have > 0 && (uint64_t)have != nrecs)
        die(logdir, "holds a topic of another size: remove it or pass --records to match");
    if ((uint64_t)have != nrecs) {
        generate(logdir, nrecs, parts, codec, batch_bytes, value_bytes, &payload);
        printf("generated %" PRIu64 " records (%.1f MB of keys + values) in %.1f s\n", nrecs,
               (double)payload / 1e6, now_s() - t0);
    } else {
        printf("reusing %" PRIu64 " records in %s\n", nrecs, logdir);
    }
    if (log_store_open(&store, logdir, NULL, &err) != 0)
        die("log_store_open", err.msg);

    double lb_mbs = loopback_mbs();
    printf("loopback TCP: %.0f MB/s (1 GiB, 1 MiB sends, one connection)\n", lb_mbs);

    srv_thread st;
    memset(&st, 0, sizeof st);
    st.loop = ev_loop_new(EVFLAG_AUTO);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.listen_port = 0;
    ko.fetch_warm_threads = warm_threads;
    ko.fetch_no_sendfile = no_sendfile;
    if (kafka_server_start(&st.srv, st.loop, store, &ko, &err) != 0)
        die("kafka_server_start", err.msg);
    ev_async_init(&st.stop_w, on_stop);
    ev_async_start(st.loop, &st.stop_w);
    pthread_create(&st.t, NULL, loop_main, &st);
    server_tid = st.t;
    char bootstrap[64];
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%u", kafka_server_port(st.srv));

    /* Warm-up: one pass by 4 consumers brings the log into the page cache. */
    run_result w = run(bootstrap, store, st.srv, parts, 4);
    printf("warm-up: %" PRIu64 " records in %.2f s\n", w.records, w.secs);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0)
        load[0] = -1;
    printf("load average before the runs: %.1f (on %ld CPUs); records sent with %s\n", load[0],
           sysconf(_SC_NPROCESSORS_ONLN), no_sendfile ? "sendmsg from the mapping" : "sendfile");
    /* records per CPU s of the whole process: what the run would reach if it had one idle
     * core to itself (the consumers and the server all in it). */
    printf("\n| consumers | records | seconds | records/s | payload MB/s | wire MB/s | "
           "wire / loopback | CPU s (all) | CPU s (server loop) | records per CPU s (all) | "
           "records per server CPU s | load |"
           "\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    char *save = NULL;
    for (char *tok = strtok_r(counts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int n = atoi(tok);
        if (n < 1 || n > MAX_CONSUMERS)
            continue;
        run_result r = run(bootstrap, store, st.srv, parts, n);
        if (r.records != nrecs)
            fprintf(stderr, "consume: %d consumers got %" PRIu64 " records of %" PRIu64 "\n", n,
                    r.records, nrecs);
        double wire = (double)r.wire / r.secs / 1e6;
        if (getloadavg(load, 3) < 0)
            load[0] = -1;
        printf("| %d | %" PRIu64 " | %.2f | %.0f | %.0f | %.0f | %.0f %% | %.2f | %.2f | %.0f | "
               "%.0f | %.1f |\n",
               n, r.records, r.secs, (double)r.records / r.secs, (double)r.bytes / r.secs / 1e6,
               wire, 100.0 * wire / lb_mbs, r.cpu_all, r.cpu_server,
               r.cpu_all > 0 ? (double)r.records / r.cpu_all : 0,
               r.cpu_server > 0 ? (double)r.records / r.cpu_server : 0, load[0]);
        fflush(stdout);
    }
    ev_async_send(st.loop, &st.stop_w);
    pthread_join(st.t, NULL);
    kafka_server_stop(st.srv);
    ev_loop_destroy(st.loop);
    log_store_close(store);
    if (!keep && !dir_arg) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
