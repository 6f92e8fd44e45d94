/*
 * kafka_fetch.c - Kafka Fetch v4-11: reads RecordBatches from the log and sends them without
 * copying, with long-poll (min_bytes / max_wait_ms) and the KIP-74 size rules.
 *
 * Sources: apache/kafka clients/src/main/resources/common/message/FetchRequest.json and
 * FetchResponse.json; KIP-74 (fetch response size limits); Kafka protocol guide. Types as in
 * kafka_api.c; mirrored in docs/format-kafka.md.
 *
 * Request (after the header):
 *   field                   type     versions  notes
 *   replica_id              int32    all       -1 for consumers; ignored
 *   max_wait_ms             int32    all       long-poll limit; <= 0: answer at once
 *   min_bytes               int32    all       answer once this many record bytes exist
 *   max_bytes               int32    3+        response record budget (KIP-74)
 *   isolation_level         int8     4+        ignored: last stable offset = high watermark
 *   session_id              int32    7+        ignored: no fetch sessions (answer 0)
 *   session_epoch           int32    7+        ignored
 *   topics                  array    all       of:
 *     topic                 string
 *     partitions            array    of:
 *       partition           int32
 *       current_leader_epoch int32   9+        ignored
 *       fetch_offset        int64
 *       log_start_offset    int64    5+        follower field; ignored
 *       partition_max_bytes int32
 *   forgotten_topics_data   array    7+        of: topic string, partitions array of int32;
 *                                              ignored (no sessions)
 *   rack_id                 string   11+       nullable here (librdkafka sends null); ignored
 *
 * Response (after the response header v0):
 *   throttle_time_ms        int32    all       0
 *   error_code              int16    7+        0
 *   session_id              int32    7+        0 (no fetch session)
 *   responses               array    all       one per requested topic, in request order:
 *     topic                 string
 *     partitions            array    per requested partition, in request order:
 *       partition           int32
 *       error_code          int16    0; 1 OFFSET_OUT_OF_RANGE (below the log start offset or
 *                                    above the high watermark); 3 UNKNOWN_TOPIC_OR_PARTITION;
 *                                    -1 UNKNOWN_SERVER_ERROR (read failure, logged)
 *       high_watermark      int64    -1 when unknown
 *       last_stable_offset  int64    4+: = high_watermark (no transactions; read_committed
 *                                    clients need LSO >= 0)
 *       log_start_offset    int64    5+
 *       aborted_transactions array   4+: always empty (count 0, never null)
 *       preferred_read_replica int32 11+: -1
 *       records             bytes    int32 length + whole RecordBatches as stored (magic 2),
 *                                    sent with sendfile(2) from the segment file (log_read fd
 *                                    and file_pos; kafka_server.c "output queue"); the first
 *                                    batch may start
 *                                    before fetch_offset (clients skip those records), the
 *                                    last one may be cut short at the size limit
 *
 * Size rules (KIP-74): each partition gets min(partition_max_bytes, what is left of
 * max_bytes). The first partition that returns data always gets its whole first batch even
 * when that is larger; a later partition whose first batch does not fit returns no records.
 * Long-poll: when no partition has an error and fewer than min_bytes record bytes are
 * available, the request is parked (kafka__park) and re-evaluated on kafka_server_notify and
 * when max_wait_ms has passed; the response then reflects the data at that moment.
 * Cold reads: a queued response whose record pages are not all in the page cache is sent
 * chunk by chunk as an I/O thread faults them in (kafka_warm.c, kafka__warm_begin), so the
 * loop never waits for the disk and the disk reads the next chunk while one is sent.
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

/* Releases the pins the parsed request's partitions still hold. */
static void fetch_release_pins(kafka_fetch *f)
{
    for (size_t i = 0; i < f->nparts; i++) {
        kafka__pin_release(f->parts[i].pin, f->parts[i].fd);
        f->parts[i].pin = NULL;
        f->parts[i].fd = -1;
    }
}

void kafka__fetch_free(kafka_fetch *f)
{
    fetch_release_pins(f);
    free(f->topics);
    free(f->parts);
    rl_buf_free(&f->names);
    memset(f, 0, sizeof *f);
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Parses the request in conn->req into conn->fetch. Memory grows with the entries actually
 * present in the request (never by a count from the wire). */
static int fetch_parse(kafka_conn *conn, rl_err *err)
{
    kafka_fetch *f = &conn->fetch;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);

    fetch_release_pins(f);
    f->version = v;
    f->correlation_id = req->correlation_id;
    f->ntopics = f->nparts = 0;
    rl_buf_reset(&f->names);

    (void)rl_get_i32be(&rd); /* replica_id */
    f->max_wait_ms = rl_get_i32be(&rd);
    f->min_bytes = rl_get_i32be(&rd);
    f->max_bytes = rl_get_i32be(&rd); /* v3+; every served version has it */
    (void)rl_get_i8(&rd);             /* isolation_level */
    if (v >= 7) {
        (void)rl_get_i32be(&rd); /* session_id */
        (void)rl_get_i32be(&rd); /* session_epoch */
    }
    int32_t ntopics = rl_get_i32be(&rd);
    if (rd.err || ntopics < 0)
        return rl_err_set(err, RL_EPROTO, "malformed fixed fields or topic array count");
    int rc = kafka__bound(ntopics, 0, 0, err);
    if (rc != 0)
        return rc;
    for (int32_t t = 0; t < ntopics; t++) {
        rl_slice name;
        if (!kafka__get_str(&rd, false, &name))
            return rl_err_set(err, RL_EPROTO, "malformed topic name (topic #%" PRId32 ")", t);
        int32_t nparts = rl_get_i32be(&rd);
        if (rd.err || nparts < 0)
            return rl_err_set(err, RL_EPROTO, "malformed partition array count (topic #%" PRId32
                              ")", t);
        if (grow((void **)&f->topics, &f->topics_cap, f->ntopics, sizeof *f->topics) != 0)
            return rl_err_set(err, -ENOMEM, "out of memory parsing a Fetch request");
        kafka_fetch_topic *ft = &f->topics[f->ntopics++];
        ft->name = name;
        ft->valid = kafka__topic_valid(name);
        ft->name_off = f->names.len;
        ft->first = f->nparts;
        ft->count = 0;
        if (ft->valid) {
            rl_buf_append(&f->names, name.p, name.len);
            rl_buf_putc(&f->names, 0);
            if (!rl_buf_ok(&f->names))
                return rl_err_set(err, -ENOMEM, "out of memory parsing a Fetch request");
        }
        for (int32_t i = 0; i < nparts; i++) {
            int32_t partition = rl_get_i32be(&rd);
            if (v >= 9)
                (void)rl_get_i32be(&rd); /* current_leader_epoch */
            int64_t offset = rl_get_i64be(&rd);
            if (v >= 5)
                (void)rl_get_i64be(&rd); /* log_start_offset (followers) */
            int32_t max_bytes = rl_get_i32be(&rd);
            if (rd.err)
                return rl_err_set(err, RL_EPROTO,
                                  "malformed partition entry (topic #%" PRId32
                                  ", partition entry #%" PRId32 ")",
                                  t, i);
            if ((rc = kafka__bound(0, (int64_t)f->nparts + 1, 0, err)) != 0)
                return rc;
            if (grow((void **)&f->parts, &f->parts_cap, f->nparts, sizeof *f->parts) != 0)
                return rl_err_set(err, -ENOMEM, "out of memory parsing a Fetch request");
            kafka_fetch_part *fp = &f->parts[f->nparts++];
            memset(fp, 0, sizeof *fp);
            fp->partition = partition;
            fp->offset = offset;
            fp->max_bytes = max_bytes;
            ft->count++;
        }
    }
    if (v >= 7) {
        int32_t nforgotten = rl_get_i32be(&rd);
        if (rd.err || nforgotten < 0)
            return rl_err_set(err, RL_EPROTO, "malformed forgotten_topics_data count");
        for (int32_t t = 0; t < nforgotten && !rd.err; t++) {
            rl_slice name;
            (void)kafka__get_str(&rd, false, &name);
            int32_t n = rl_get_i32be(&rd);
            if (n < 0 || (size_t)n > rl_reader_left(&rd) / 4)
                rd.err = true;
            else
                rl_reader_skip(&rd, (size_t)n * 4);
        }
        if (rd.err)
            return rl_err_set(err, RL_EPROTO, "malformed forgotten_topics_data entry");
    }
    if (v >= 11) {
        rl_slice rack;
        if (!kafka__get_str(&rd, true, &rack))
            return rl_err_set(err, RL_EPROTO, "malformed rack_id");
    }
    return 0;
}

/* Reads every partition of the parsed request from the log. Sets *bytes to the record bytes
 * found and *any_error when a partition has an error code. */
static void fetch_eval(kafka_conn *conn, size_t *bytes, bool *any_error)
{
    kafka_server_t *srv = conn->srv;
    kafka_fetch *f = &conn->fetch;
    size_t remaining = f->max_bytes > 0 ? (size_t)f->max_bytes : 0;
    size_t total = 0;
    bool error = false;

    fetch_release_pins(f);
    for (size_t t = 0; t < f->ntopics; t++) {
        const kafka_fetch_topic *ft = &f->topics[t];
        const char *topic = ft->valid ? (const char *)f->names.p + ft->name_off : NULL;
        for (size_t i = ft->first; i < ft->first + ft->count; i++) {
            kafka_fetch_part *fp = &f->parts[i];
            fp->records = rl_slice_make(NULL, 0);
            fp->fd = -1;
            fp->file_pos = 0;
            fp->high_watermark = -1;
            fp->log_start = -1;
            fp->error = KAFKA_ERR_NONE;
            if (!topic || fp->partition < 0) {
                fp->error = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                error = true;
                continue;
            }
            size_t part_max = fp->max_bytes > 0 ? (size_t)fp->max_bytes : 0;
            if (part_max > remaining)
                part_max = remaining;
            log_read rd;
            memset(&rd, 0, sizeof rd);
            rl_err e = {0};
            int rc = log_store_read(srv->store, topic, (uint32_t)fp->partition, fp->offset,
                                    part_max, &rd, &e);
            if (rc == 0) {
                fp->high_watermark = rd.high_watermark;
                fp->log_start = rd.log_start;
                /* KIP-74: only the first partition with data may exceed the limits. */
                if (total > 0 && rd.bytes.len > part_max) {
                    log_read_release(&rd);
                    rd.bytes = rl_slice_make(NULL, 0);
                }
                /* The segment's descriptor for sendfile, from the log's bounded table
                 * (log_read_fd; -1: the bytes go out from the mapping). */
                if (rd.bytes.len > 0 && !srv->opts.fetch_no_sendfile)
                    (void)log_read_fd(srv->store, &rd);
                fp->records = rd.bytes;
                fp->pin = rd.pin;
                fp->fd = rd.bytes.len > 0 ? rd.fd : -1;
                fp->file_pos = rd.file_pos;
                total += rd.bytes.len;
                remaining -= rd.bytes.len < remaining ? rd.bytes.len : remaining;
            } else if (rc == RL_ERANGE) {
                log_read_release(&rd);
                fp->error = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
                fp->high_watermark = rd.high_watermark;
                fp->log_start = rd.log_start;
                error = true;
            } else if (rc == RL_ENOTFOUND) {
                log_read_release(&rd);
                fp->error = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                error = true;
            } else {
                log_read_release(&rd);
                rl_warn("kafka: Fetch %s-%" PRId32 " at offset %" PRId64 " from %s: %s", topic,
                        fp->partition, fp->offset, conn->peer, e.code ? e.msg : rl_strerror(rc));
                fp->error = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                error = true;
            }
        }
    }
    *bytes = total;
    *any_error = error;
}

/* Encodes the evaluated request as a response; records are queued as slices. */
static int fetch_answer(kafka_conn *conn, rl_err *err)
{
    kafka_fetch *f = &conn->fetch;
    rl_buf *b = &conn->obuf;
    int16_t v = f->version;
    uint64_t record_bytes = 0;

    kafka__resp_begin(conn, f->correlation_id);
    rl_buf_put_be32(b, 0); /* throttle_time_ms */
    if (v >= 7) {
        rl_buf_put_be16(b, KAFKA_ERR_NONE);
        rl_buf_put_be32(b, 0); /* session_id */
    }
    rl_buf_put_be32(b, (uint32_t)f->ntopics);
    for (size_t t = 0; t < f->ntopics; t++) {
        const kafka_fetch_topic *ft = &f->topics[t];
        kafka__put_str(b, ft->name);
        rl_buf_put_be32(b, (uint32_t)ft->count);
        for (size_t i = ft->first; i < ft->first + ft->count; i++) {
            const kafka_fetch_part *fp = &f->parts[i];
            rl_buf_put_be32(b, (uint32_t)fp->partition);
            rl_buf_put_be16(b, (uint16_t)fp->error);
            rl_buf_put_be64(b, (uint64_t)fp->high_watermark);
            rl_buf_put_be64(b, (uint64_t)fp->high_watermark); /* last_stable_offset */
            if (v >= 5)
                rl_buf_put_be64(b, (uint64_t)fp->log_start);
            rl_buf_put_be32(b, 0); /* aborted_transactions: empty */
            if (v >= 11)
                rl_buf_put_be32(b, (uint32_t)-1); /* preferred_read_replica */
            if (fp->records.len > INT32_MAX) {
                kafka__resp_abort(conn);
                fetch_release_pins(f);
                return rl_err_set(err, RL_ETOOBIG, "records of %zu bytes for one partition",
                                  fp->records.len);
            }
            rl_buf_put_be32(b, (uint32_t)fp->records.len);
            kafka_fetch_part *fpm = &f->parts[i];
            int rc = kafka__resp_slice(conn, fp->records, fp->pin, fp->fd, fp->file_pos);
            if (rc == 0) {
                fpm->pin = NULL; /* the output queue owns it (and the descriptor) now */
                fpm->fd = -1;
            }
            if (rc != 0) {
                kafka__resp_abort(conn);
                fetch_release_pins(f);
                return rl_err_set(err, rc, "out of memory queueing Fetch records");
            }
            record_bytes += fp->records.len;
        }
    }
    int rc = kafka__resp_end(conn, err);
    if (rc == 0)
        KAFKA_STAT_ADD(conn->srv, fetch_record_bytes, record_bytes);
    fetch_release_pins(f);
    return rc;
}

/* Queues the response, then has its cold record bytes warmed (kafka_warm.c): the queue
 * sends each part of them as soon as it is in the page cache. */
static int fetch_answer_queue(kafka_conn *conn, rl_err *err)
{
    size_t first = conn->nparts;
    int rc = fetch_answer(conn, err);
    if (rc == 0)
        (void)kafka__warm_begin(conn, first);
    return rc;
}

int kafka__fetch(kafka_conn *conn, rl_err *err)
{
    int rc = fetch_parse(conn, err);
    if (rc != 0)
        return rc;
    size_t bytes;
    bool any_error;
    fetch_eval(conn, &bytes, &any_error);
    kafka_fetch *f = &conn->fetch;
    if (!any_error && f->max_wait_ms > 0 && f->min_bytes > 0 && bytes < (size_t)f->min_bytes) {
        /* Re-read when it wakes: a parked request pins no segment. */
        fetch_release_pins(f);
        kafka__park(conn, f->max_wait_ms);
        return KAFKA_PARKED;
    }
    return fetch_answer_queue(conn, err);
}

int kafka__fetch_resume(kafka_conn *conn, bool expired, rl_err *err)
{
    size_t bytes;
    bool any_error;
    fetch_eval(conn, &bytes, &any_error);
    kafka_fetch *f = &conn->fetch;
    if (!expired && !any_error && bytes < (size_t)f->min_bytes) {
        fetch_release_pins(f);
        return KAFKA_PARKED;
    }
    int rc = fetch_answer_queue(conn, err);
    if (rc < 0)
        rl_err_wrap(err, rc, "Fetch v%d request (correlation id %" PRId32 ")", f->version,
                    f->correlation_id);
    return rc;
}
