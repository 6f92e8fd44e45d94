/*
 * test_kafka_sendfile.c - Fetch record bytes go on the wire with sendfile(2) from the segment
 * file (log_read.fd/file_pos, kafka_server.c "output queue"):
 *   - the records a Fetch returns are byte-identical to log_store_read's mapped bytes, for
 *     several offsets and sizes, with sendfile (fetch_sendfile_bytes counts them) and with
 *     opts.fetch_no_sendfile (the counter stays 0: it measures something);
 *   - a client with a tiny receive buffer that reads slowly gets large responses, pipelined
 *     on one connection, whole and in order (the server's sendfile stops short and resumes
 *     at the right byte);
 *   - a segment deleted by retention while its response is queued still sends its bytes
 *     (the read pin keeps the segment's descriptor open);
 *   - a cold Fetch (segment dropped from the page cache) of many warm-up chunks
 *     (KAFKA_WARM_CHUNK) completes with the right bytes, and the loop thread read nothing
 *     from storage (task I/O accounting): neither the records nor the batch headers
 *     log_store_read used to walk to find the end of the fetch;
 *   - a reopened log read cold from start to end, fetch by fetch: the loop reads at most a
 *     few batch header pages per fetch, and every response equals log_store_read's range.
 * The cold tests need a disk-backed directory (RL_TEST_COLD_DIR, default /var/tmp); they skip
 * with a message when the page cache could not be dropped.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kafka_log_gen.h"
#include "kafka_test_util.h"

#define TOPIC "sf"
#define SEG_BYTES ((uint64_t)8 << 20)
#define VALUE_BYTES 700
/* server/kafka_int.h KAFKA_WARM_CHUNK (not included here): a cold fetch spans many. */
#define KAFKA_TEST_CHUNK ((size_t)1 << 20)

typedef struct fixture {
    char dir[256];
    char logdir[300];
    log_store_t *store;
} fixture;

static void store_open(fixture *fx, const char *parent, uint32_t compression,
                       uint64_t segment_bytes, size_t batch_bytes)
{
    snprintf(fx->dir, sizeof fx->dir, "%s/rowlog-ksf-XXXXXX", parent);
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->logdir, sizeof fx->logdir, "%s/log", fx->dir);
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = (int)compression;
    lo.partitions = 1;
    lo.segment_bytes = segment_bytes;
    lo.batch_bytes = batch_bytes;
    rl_err err = {0};
    if (log_store_open(&fx->store, fx->logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
}

static void store_remove(fixture *fx)
{
    log_store_close(fx->store);
    fx->store = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
}

/* Appends about `bytes` of records (kafka_log_gen.h), committing every commit_every records
 * (a commit ends the open batch). */
static void fill(fixture *fx, size_t bytes, size_t commit_every)
{
    rl_err err = {0};
    if (kg_append_varied(fx->store, TOPIC, bytes / (VALUE_BYTES + 40), VALUE_BYTES, commit_every,
                         &err) != 0)
        fail_msg("writing the log: %s", err.msg);
}

/* A log of about `bytes` in SEG_BYTES segments of 64 KiB batches under /tmp, and a server
 * on it (records from the mapping when no_sendfile). */
static void start(fixture *fx, kt_server *st, uint32_t compression, size_t bytes,
                  bool no_sendfile)
{
    memset(fx, 0, sizeof *fx);
    store_open(fx, "/tmp", compression, SEG_BYTES, (size_t)64 << 10);
    fill(fx, bytes, 5000);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.fetch_no_sendfile = no_sendfile;
    kt_server_start(st, fx->store, &ko);
}

/* Closes the client, frees the buffers, stops the server and removes the log. */
static void finish(fixture *fx, kt_server *st, int fd, rl_buf *req, rl_buf *resp, rl_buf *want)
{
    if (fd >= 0)
        close(fd);
    rl_buf_free(req);
    rl_buf_free(resp);
    rl_buf_free(want);
    kt_server_stop(st);
    store_remove(fx);
}

/* A Fetch v4 request of partition 0 of TOPIC at offset (answered at once). */
static void fetch_req(rl_buf *req, int32_t corr, int64_t offset, int32_t max_bytes)
{
    kt_req_begin(req, 1 /* Fetch */, 4, corr);
    rl_buf_put_be32(req, (uint32_t)-1); /* replica_id */
    rl_buf_put_be32(req, 0);            /* max_wait_ms */
    rl_buf_put_be32(req, 0);            /* min_bytes */
    rl_buf_put_be32(req, (uint32_t)max_bytes);
    rl_buf_putc(req, 0); /* isolation_level */
    rl_buf_put_be32(req, 1);
    kt_put_str(req, TOPIC);
    rl_buf_put_be32(req, 1);
    rl_buf_put_be32(req, 0); /* partition */
    rl_buf_put_be64(req, (uint64_t)offset);
    rl_buf_put_be32(req, (uint32_t)max_bytes);
    kt_req_end(req);
}

/* Parses a Fetch v4 response frame (after the size field) for correlation id corr: returns
 * the records of its one partition. */
static rl_slice fetch_records(rl_slice frame, int32_t corr)
{
    rl_reader rd = rl_reader_make(frame);
    assert_int_equal(rl_get_i32be(&rd), corr);
    (void)rl_get_i32be(&rd); /* throttle */
    assert_int_equal(rl_get_i32be(&rd), 1);
    (void)kt_get_str(&rd);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i16be(&rd), 0); /* error_code */
    (void)rl_get_i64be(&rd);                /* high watermark */
    (void)rl_get_i64be(&rd);                /* last_stable_offset */
    assert_int_equal(rl_get_i32be(&rd), 0); /* aborted_transactions */
    int32_t n = rl_get_i32be(&rd);
    assert_true(n >= 0);
    rl_slice recs = rl_get_bytes(&rd, (size_t)n);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    return recs;
}

/* Copy of what log_store_read gives (the expected records). */
static void expected(fixture *fx, int64_t offset, size_t max_bytes, rl_buf *out)
{
    log_read lr;
    memset(&lr, 0, sizeof lr);
    rl_err err = {0};
    if (log_store_read(fx->store, TOPIC, 0, offset, max_bytes, &lr, &err) != 0)
        fail_msg("log_store_read: %s", err.msg);
    rl_buf_reset(out);
    rl_buf_append(out, lr.bytes.p, lr.bytes.len);
    assert_true(rl_buf_ok(out));
    log_read_release(&lr);
}

/* A response read slowly: `step` bytes per recv, with a pause every 64 KiB. */
static void recv_frame_slowly(int fd, rl_buf *out, size_t step)
{
    uint8_t sz[4];
    assert_true(kt_recv_n(fd, sz, 4));
    uint32_t n = (uint32_t)sz[0] << 24 | (uint32_t)sz[1] << 16 | (uint32_t)sz[2] << 8 | sz[3];
    rl_buf_reset(out);
    assert_int_equal(rl_buf_reserve(out, n), 0);
    size_t got = 0, since = 0;
    while (got < n) {
        size_t want = n - got < step ? n - got : step;
        ssize_t r = recv(fd, out->p + got, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        got += (size_t)r;
        since += (size_t)r;
        if (since >= ((size_t)64 << 10)) {
            since = 0;
            kt_sleep_ms(1);
        }
    }
    out->len = n;
}

static uint64_t sendfile_bytes(const kt_server *st)
{
    kafka_server_stats ks;
    kafka_server_stats_get(st->srv, &ks);
    return ks.fetch_sendfile_bytes;
}

/* The counter once it reached want (it is added after sendfile returns, which may be after
 * the client has the bytes), or what it is after 20 s. */
static uint64_t sendfile_bytes_reach(const kt_server *st, uint64_t want)
{
    int64_t deadline = kt_now_ms() + 20000;
    uint64_t v;
    while ((v = sendfile_bytes(st)) < want && kt_now_ms() < deadline)
        kt_sleep_ms(2);
    return v;
}

/* ------------------------------------------------------------------ tests */

static void same_bytes(bool no_sendfile, uint32_t compression)
{
    fixture fx;
    kt_server st;
    start(&fx, &st, compression, (size_t)20 << 20, no_sendfile); /* three segments */
    int fd = kt_connect(st.port);
    rl_buf req = {0}, resp = {0}, want = {0};
    int64_t hw = 0, ls = 0;
    assert_int_equal(log_store_offsets(fx.store, TOPIC, 0, &ls, &hw), 0);
    const int32_t sizes[] = {1, 100000, 1 << 20, 5 << 20, 16 << 20};
    uint64_t records = 0;
    int32_t corr = 1;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        /* From the start, a middle offset and near the end (a batch may begin before it). */
        const int64_t offsets[] = {0, hw / 3 + 7, hw - 3};
        for (size_t o = 0; o < 3; o++) {
            fetch_req(&req, corr, offsets[o], sizes[s]);
            assert_true(kt_send(fd, req.p, req.len));
            kt_recv_frame(fd, &resp);
            rl_slice recs = fetch_records(rl_buf_slice(&resp), corr);
            expected(&fx, offsets[o], (size_t)sizes[s], &want);
            assert_true(recs.len > 0);
            assert_int_equal(recs.len, want.len);
            assert_memory_equal(recs.p, want.p, recs.len);
            records += recs.len;
            corr++;
        }
    }
    if (no_sendfile)
        assert_int_equal(sendfile_bytes(&st), 0);
    else
        assert_int_equal(sendfile_bytes_reach(&st, records), records);
    finish(&fx, &st, fd, &req, &resp, &want);
}

static void test_sendfile_same_bytes(void **state)
{
    (void)state;
    same_bytes(false, LOG_COMPRESSION_LZ4);
    same_bytes(false, LOG_COMPRESSION_NONE);
}

static void test_mapping_same_bytes(void **state)
{
    (void)state;
    same_bytes(true, LOG_COMPRESSION_LZ4);
}

/* Three large Fetch requests sent at once on one connection with a 4 KiB receive buffer,
 * read a few KiB at a time: each response whole, in order, byte-identical. */
static void test_partial_sendfile_resumes(void **state)
{
    (void)state;
    fixture fx;
    kt_server st;
    start(&fx, &st, LOG_COMPRESSION_NONE, (size_t)12 << 20, false);
    int fd = kt_connect_rcvbuf(st.port, 4096);
    rl_buf req = {0}, resp = {0}, want = {0};
    const int64_t offsets[] = {0, 1234, 5000};
    const int32_t sizes[] = {3 << 20, 2 << 20, 4 << 20};
    for (int i = 0; i < 3; i++) {
        fetch_req(&req, 10 + i, offsets[i], sizes[i]);
        assert_true(kt_send(fd, req.p, req.len));
    }
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        recv_frame_slowly(fd, &resp, 3000 + (size_t)i * 1111);
        rl_slice recs = fetch_records(rl_buf_slice(&resp), 10 + i);
        expected(&fx, offsets[i], (size_t)sizes[i], &want);
        assert_true(want.len > ((size_t)1 << 20));
        assert_int_equal(recs.len, want.len);
        assert_memory_equal(recs.p, want.p, recs.len);
        total += recs.len;
    }
    assert_int_equal(sendfile_bytes_reach(&st, total), total);
    finish(&fx, &st, fd, &req, &resp, &want);
}

/* The first segment's response is queued to a client that does not read; retention deletes
 * the segment's files meanwhile; the client then reads the response: the bytes are those of
 * the deleted segment, sent with sendfile after the deletion. */
static void test_retention_while_queued(void **state)
{
    (void)state;
    fixture fx;
    kt_server st;
    start(&fx, &st, LOG_COMPRESSION_NONE, (size_t)20 << 20, false);
    rl_buf req = {0}, resp = {0}, want = {0};
    expected(&fx, 0, (size_t)SEG_BYTES, &want);
    assert_true(want.len > ((size_t)6 << 20)); /* most of the first (8 MiB) segment */
    char seg0[400];
    snprintf(seg0, sizeof seg0, "%s/%s-0/%020d.log", fx.logdir, TOPIC, 0);
    struct stat sb;
    assert_int_equal(stat(seg0, &sb), 0);

    int fd = kt_connect_rcvbuf(st.port, 4096);
    fetch_req(&req, 7, 0, (int32_t)SEG_BYTES);
    assert_true(kt_send(fd, req.p, req.len));
    /* Queued once fetch_record_bytes counts it (it is counted when queued). */
    kafka_server_stats ks;
    int64_t deadline = kt_now_ms() + 30000;
    do {
        kt_sleep_ms(5);
        kafka_server_stats_get(st.srv, &ks);
    } while (ks.fetch_record_bytes < want.len && kt_now_ms() < deadline);
    assert_true(ks.fetch_record_bytes >= want.len);

    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.retention_bytes = 1; /* every sealed segment but what must stay */
    rl_err err = {0};
    assert_int_equal(log_store_topic_config(fx.store, TOPIC, &cfg, &err), 0);
    int deleted = log_store_retain(fx.store, rl_now_ms(), &err);
    assert_true(deleted >= 1);
    assert_int_not_equal(stat(seg0, &sb), 0); /* its file is gone */
    uint64_t before = sendfile_bytes(&st);
    /* Socket buffers hold at most a few MiB: the rest is sent from the deleted file. */
    if (before >= want.len) {
        finish(&fx, &st, fd, &req, &resp, &want);
        skip(); /* the whole response fit in the socket buffers: nothing to show */
    }

    recv_frame_slowly(fd, &resp, 65536);
    rl_slice recs = fetch_records(rl_buf_slice(&resp), 7);
    assert_int_equal(recs.len, want.len);
    assert_memory_equal(recs.p, want.p, recs.len);
    assert_int_equal(sendfile_bytes_reach(&st, want.len), want.len);
    /* The offset is now out of range: the segment really is gone from the log. */
    int64_t ls = 0, hw = 0;
    assert_int_equal(log_store_offsets(fx.store, TOPIC, 0, &ls, &hw), 0);
    assert_true(ls > 0);
    finish(&fx, &st, fd, &req, &resp, &want);
}

/* ------------------------------------------------------------------ cold chunks */

static int drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    (void)fdatasync(fd);
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return rc;
}


#define COLD_SEG ((uint64_t)64 << 20)
#define COLD_BATCH ((size_t)32 << 20)

/* A cold Fetch of a 64 MiB segment (many warm-up chunks) arrives whole and right; the loop
 * did not read it from storage; the server counted it cold. The batches are 32 MiB: the
 * batch headers log_store_read walks on the loop fault in the pages around them (mmap
 * read-around: read_ahead_kb around each), which would leave nothing cold with the usual
 * 1 MiB batches. */
static void test_cold_fetch_in_chunks(void **state)
{
    (void)state;
    const char *parent = getenv("RL_TEST_COLD_DIR");
    fixture fx;
    memset(&fx, 0, sizeof fx);
    store_open(&fx, parent ? parent : "/var/tmp", LOG_COMPRESSION_NONE, COLD_SEG, COLD_BATCH);
    fill(&fx, (size_t)80 << 20, COLD_BATCH / (VALUE_BYTES + 40));
    rl_buf req = {0}, resp = {0}, want = {0};
    expected(&fx, 0, (size_t)COLD_SEG, &want);
    assert_true(want.len > 8 * KAFKA_TEST_CHUNK);

    /* Drop it: unmap the store's pages of it (the mapping is this process's), then drop the
     * file's pages. */
    log_read lr;
    memset(&lr, 0, sizeof lr);
    rl_err err = {0};
    assert_int_equal(log_store_read(fx.store, TOPIC, 0, 0, (size_t)COLD_SEG, &lr, &err), 0);
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)lr.bytes.p & ~(pg - 1);
    (void)madvise((void *)start, (uintptr_t)lr.bytes.p + lr.bytes.len - start, MADV_DONTNEED);
    char path[400];
    snprintf(path, sizeof path, "%s/%s-0/%020d.log", fx.logdir, TOPIC, 0);
    (void)drop_cache(path);
    double res = kg_resident(lr.bytes);
    assert_true(res >= 0);
    log_read_release(&lr);
    if (res > 0.25) {
        fprintf(stderr, "page cache not dropped (%.0f%% resident; tmpfs?): skipping\n",
                res * 100);
        rl_buf_free(&want);
        store_remove(&fx);
        skip();
    }

    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    /* RL_TEST_COLD_NO_WARM=1: no warming threads; the checks below then fail. */
    const char *off = getenv("RL_TEST_COLD_NO_WARM");
    if (off && off[0] == '1')
        ko.fetch_warm_threads = -1;
    kt_server st;
    kt_server_start(&st, fx.store, &ko);
    while (atomic_load(&st.loop_tid) == 0)
        kt_sleep_ms(1);
    int tid = atomic_load(&st.loop_tid);
    long long rb0 = kg_thread_read_bytes(tid);
    int fd = kt_connect(st.port);
    fetch_req(&req, 3, 0, (int32_t)COLD_SEG);
    assert_true(kt_send(fd, req.p, req.len));
    kt_recv_frame(fd, &resp);
    rl_slice recs = fetch_records(rl_buf_slice(&resp), 3);
    assert_int_equal(recs.len, want.len);
    assert_memory_equal(recs.p, want.p, recs.len);
    kafka_server_stats ks;
    kafka_server_stats_get(st.srv, &ks);
    assert_int_equal(ks.fetch_cold, 1);
    assert_int_equal(sendfile_bytes_reach(&st, want.len), want.len);
    /* The loop did not read the cold bytes from storage (sendfile would, on a page not in
     * the cache, without a page fault); the batch headers cost a few read-around windows. */
    long long rb1 = kg_thread_read_bytes(tid);
    fprintf(stderr, "cold fetch of %zu bytes: the loop read %lld bytes from storage\n",
            want.len, rb1 - rb0);
    /* Nothing: log_store_read finds the end of the fetch from the offset index and reads a
     * batch header only from resident pages (partition.c), and the bytes are sent once an
     * I/O thread has read them. */
    if (rb0 >= 0 && rb1 >= 0)
        assert_int_equal(rb1 - rb0, 0);

    /* The same connection goes on after the warm-up: a second (now hot) fetch. */
    fetch_req(&req, 4, 0, 1 << 20);
    assert_true(kt_send(fd, req.p, req.len));
    kt_recv_frame(fd, &resp);
    recs = fetch_records(rl_buf_slice(&resp), 4);
    expected(&fx, 0, (size_t)1 << 20, &want);
    assert_int_equal(recs.len, want.len);
    assert_memory_equal(recs.p, want.p, recs.len);
    finish(&fx, &st, fd, &req, &resp, &want);
}

/* Evicts the whole of partition 0 of TOPIC from the page cache: the store's mapping of each
 * segment is unmapped (MADV_DONTNEED) and every file's pages are dropped. Returns the
 * fraction of the log still resident afterwards (-1 when it cannot be told). */
static double evict_all(fixture *fx)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    rl_slice segs[16];
    int nsegs = 0;
    int64_t offset = 0;
    while (nsegs < 16) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        rl_err err = {0};
        if (log_store_read(fx->store, TOPIC, 0, offset, (size_t)COLD_SEG * 2, &lr, &err) != 0 ||
            lr.bytes.len == 0) {
            log_read_release(&lr);
            break;
        }
        segs[nsegs++] = lr.bytes;
        int64_t next = kg_next_offset(lr.bytes);
        log_read_release(&lr); /* the segments stay mapped: the store holds them */
        if (next <= offset)
            break;
        offset = next;
    }
    for (int i = 0; i < nsegs; i++) {
        uintptr_t start = (uintptr_t)segs[i].p & ~(pg - 1);
        (void)madvise((void *)start, (uintptr_t)segs[i].p + segs[i].len - start, MADV_DONTNEED);
    }
    char pdir[400];
    snprintf(pdir, sizeof pdir, "%s/%s-0", fx->logdir, TOPIC);
    DIR *d = opendir(pdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", pdir, de->d_name);
        (void)drop_cache(path);
    }
    closedir(d);
    double worst = 0;
    for (int i = 0; i < nsegs; i++) {
        double r = kg_resident(segs[i]);
        if (r < 0)
            return -1;
        if (r > worst)
            worst = r;
    }
    return worst;
}

/* A consumer reads the log from start to end in Fetches of alternately 20 MiB (two 8 MiB
 * batches) and 1 MiB (less than a batch: the whole first batch, KIP-74), the whole log
 * dropped from the page cache first, and with evict_each before every fetch (else what the
 * previous fetch's warm-up read ahead stays, as for a real consumer). Returns the bytes the
 * loop thread read from storage meanwhile (-1: not measurable); each response is checked to
 * be exactly what log_store_read gives once the log is resident (the batch holding the
 * offset, whole batches up to max_bytes). */
static long long read_through(fixture *fx, int64_t hw, bool evict_each, int *nfetch)
{
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    const char *off = getenv("RL_TEST_COLD_NO_WARM");
    if (off && off[0] == '1')
        ko.fetch_warm_threads = -1;
    kt_server st;
    kt_server_start(&st, fx->store, &ko);
    while (atomic_load(&st.loop_tid) == 0)
        kt_sleep_ms(1);
    int tid = atomic_load(&st.loop_tid);
    long long rb0 = kg_thread_read_bytes(tid);
    int fd = kt_connect(st.port);
    rl_buf req = {0}, resp = {0}, want = {0}, got = {0};
    struct {
        int64_t offset;
        int32_t max;
        size_t at, len;
    } f[64];
    int nf = 0;
    int64_t offset = 0;
    while (offset < hw) {
        assert_true(nf < 64);
        int32_t max = nf % 2 ? (int32_t)(1 << 20) : (int32_t)(20 << 20);
        if (evict_each && nf > 0 && evict_all(fx) > 0.25)
            fprintf(stderr, "fetch %d: the log stayed partly resident\n", nf);
        fetch_req(&req, 100 + nf, offset, max);
        assert_true(kt_send(fd, req.p, req.len));
        kt_recv_frame(fd, &resp);
        rl_slice recs = fetch_records(rl_buf_slice(&resp), 100 + nf);
        assert_true(recs.len > 0);
        f[nf].offset = offset;
        f[nf].max = max;
        f[nf].at = got.len;
        f[nf].len = recs.len;
        rl_buf_append(&got, recs.p, recs.len);
        assert_true(rl_buf_ok(&got));
        nf++;
        int64_t next = kg_next_offset(recs);
        assert_true(next > offset);
        offset = next;
    }
    long long rb1 = kg_thread_read_bytes(tid);
    assert_int_equal(offset, hw);
    /* Now resident: the same ranges as log_store_read finds them walking the headers. */
    for (int i = 0; i < nf; i++) {
        expected(fx, f[i].offset, (size_t)f[i].max, &want);
        assert_int_equal(f[i].len, want.len);
        assert_memory_equal(got.p + f[i].at, want.p, want.len);
    }
    fprintf(stderr, "%d cold fetches of %zu bytes (%s): the loop read %lld bytes from storage\n",
            nf, got.len, evict_each ? "evicted before each" : "evicted once", rb1 - rb0);
    rl_buf_free(&got);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
    rl_buf_free(&want);
    kt_server_stop(&st);
    *nfetch = nf;
    return rb0 >= 0 && rb1 >= 0 ? rb1 - rb0 : -1;
}

/* A cold log read through after the store was reopened (sealed segments' index entries then
 * come from .index files, which do not say where a batch begins). Read as a consumer does,
 * the loop thread reads nothing but the active segment's last batch header (a page); with
 * the log dropped before every fetch, at most a few batch header pages per fetch (pread, no
 * readahead). Before, the header walk and sendfile over pages marked for readahead read
 * 8 MiB windows on the loop thread. */
static void test_cold_sequential_reopened(void **state)
{
    (void)state;
    const char *parent = getenv("RL_TEST_COLD_DIR");
    const size_t batch = (size_t)8 << 20;
    fixture fx;
    memset(&fx, 0, sizeof fx);
    store_open(&fx, parent ? parent : "/var/tmp", LOG_COMPRESSION_NONE, COLD_SEG, batch);
    fill(&fx, (size_t)100 << 20, batch / (VALUE_BYTES + 40));
    int64_t log_start, hw;
    assert_int_equal(log_store_offsets(fx.store, TOPIC, 0, &log_start, &hw), 0);
    log_store_close(fx.store);
    fx.store = NULL;
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 1;
    lo.segment_bytes = COLD_SEG;
    lo.batch_bytes = batch;
    rl_err err = {0};
    if (log_store_open(&fx.store, fx.logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    double res = evict_all(&fx);
    if (res < 0 || res > 0.25) {
        fprintf(stderr, "page cache not dropped (%.0f%% resident; tmpfs?): skipping\n",
                res * 100);
        store_remove(&fx);
        skip();
    }
    long pg = sysconf(_SC_PAGESIZE);
    int nf = 0;
    long long rb = read_through(&fx, hw, false, &nf);
    assert_true(nf >= 8);
    if (rb >= 0)
        assert_true(rb <= 2 * pg);
    (void)evict_all(&fx);
    rb = read_through(&fx, hw, true, &nf);
    if (rb >= 0)
        assert_true(rb <= (long long)nf * 4 * pg);
    store_remove(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sendfile_same_bytes),
        cmocka_unit_test(test_mapping_same_bytes),
        cmocka_unit_test(test_partial_sendfile_resumes),
        cmocka_unit_test(test_retention_while_queued),
        cmocka_unit_test(test_cold_fetch_in_chunks),
        cmocka_unit_test(test_cold_sequential_reopened),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
