/*
 * kafka_api.c - Kafka request header and the small APIs: ApiVersions 0-3, Metadata 1-4,
 * ListOffsets 1-2 and Produce 3-7 (refused). Fetch is in kafka_fetch.c.
 *
 * Sources: Kafka protocol guide (kafka.apache.org/protocol), message schemas in apache/kafka
 * clients/src/main/resources/common/message/{RequestHeader,ResponseHeader,ApiVersionsRequest,
 * ApiVersionsResponse,MetadataRequest,MetadataResponse,ListOffsetsRequest,ListOffsetsResponse,
 * ProduceRequest,ProduceResponse}.json. Mirrored in docs/format-kafka.md.
 *
 * Types: all integers big-endian. string = int16 length + bytes (length -1: null, only where
 * "nullable"); array = int32 count + elements (-1: null, only where "nullable");
 * bytes = int32 length + bytes. Flexible (ApiVersions v3 only): uvarint = unsigned LEB128;
 * compact string = uvarint (length + 1) + bytes (0: null); compact array = uvarint (count + 1);
 * tags = uvarint count, then per field uvarint tag + uvarint size + bytes (skipped).
 *
 * Request header (after the int32 size; kafka_server.c):
 *   off  field            type     notes
 *   0    api_key          int16
 *   2    api_version      int16
 *   4    correlation_id   int32    echoed in the response header
 *   8    client_id        string   nullable (header v1 and v2 alike)
 *   ..   tags             tags     header v2 only: the flexible versions served, ApiVersions
 *                                  v3, ListGroups v3-4 and DescribeGroups v5
 * Response header v0 (every response here, ApiVersions v3 included, per KIP-511):
 *   0    correlation_id   int32
 * Response header v1 (ListGroups v3-4, DescribeGroups v5): correlation_id int32, tags (none)
 *
 * ApiVersions (18) v0-3. Request: v0-2 empty; v3: client_software_name compact string,
 * client_software_version compact string, tags.
 * Response:
 *   error_code       int16     0; 35 UNSUPPORTED_VERSION for a version above 3, answered in
 *                              the v0 layout listing only ApiVersions 0-3 (KIP-511), so the
 *                              client retries with v3
 *   api_keys         array     v3: compact array; per entry api_key int16, min_version int16,
 *                              max_version int16 (+ tags in v3). Exactly: ApiVersions 0-3,
 *                              Metadata 1-4, ListOffsets 1-2, Fetch 4-11, Produce 3-7,
 *                              FindCoordinator 0-2, JoinGroup 0-5, SyncGroup 0-3,
 *                              Heartbeat 0-3, LeaveGroup 0-3, OffsetCommit 2-7,
 *                              OffsetFetch 1-5, DescribeGroups 0-5, ListGroups 0-4
 *   throttle_time_ms int32     v1+; 0
 *   tags             tags      v3; none
 *
 * Metadata (3) v1-4. Request:
 *   topics           array of string, nullable; null = all topics, empty = none
 *   allow_auto_topic_creation int8 (bool), v4+; ignored: topics exist only by the binlog
 * Response:
 *   throttle_time_ms int32     v3+; 0
 *   brokers          array     one: node_id int32, host string, port int32, rack string
 *                              (nullable, v1+; null)
 *   cluster_id       string    v2+, nullable; null
 *   controller_id    int32     v1+; node_id
 *   topics           array     error_code int16 (0; 3 UNKNOWN_TOPIC_OR_PARTITION; 17
 *                              INVALID_TOPIC_EXCEPTION for a name log/ cannot hold), name
 *                              string, is_internal int8 (v1+; 1 for a name beginning with
 *                              "__", rowlogd's own topics such as __rowlog_xa, as Kafka marks
 *                              __consumer_offsets; else 0), partitions array of:
 *                              error_code int16, partition_index int32, leader_id int32
 *                              (node_id), replica_nodes array of int32 ([node_id]),
 *                              isr_nodes array of int32 ([node_id])
 *
 * ListOffsets (2) v1-2. Request:
 *   replica_id int32, isolation_level int8 (v2+), topics array of: name string,
 *   partitions array of: partition_index int32, timestamp int64 (-2 earliest = log start
 *   offset, -1 latest = high watermark, else the first offset whose record timestamp is
 *   >= timestamp, or the high watermark when none is)
 * Response:
 *   throttle_time_ms int32 (v2+; 0), topics array of: name string, partitions array of:
 *   partition_index int32, error_code int16 (0 or 3), timestamp int64 (-1: the record's
 *   timestamp is not looked up), offset int64 (-1 on error)
 *
 * Produce (0) v3-7. Request:
 *   transactional_id string (nullable), acks int16, timeout_ms int32, topics array of:
 *   name string, partitions array of: partition_index int32, records bytes (nullable;
 *   skipped by length, never decoded)
 * Response (every partition refused with 44 POLICY_VIOLATION: the log is written only from
 * the binlog; librdkafka treats 44 as permanent and reports "Broker: Policy violation"):
 *   responses array of: name string, partitions array of: partition_index int32,
 *   error_code int16 (44), base_offset int64 (-1), log_append_time_ms int64 (-1),
 *   log_start_offset int64 (v5+; -1); then throttle_time_ms int32 (0).
 *   acks = 0 expects no response: as Kafka does on a failed acks=0 produce, the connection
 *   is closed so the producer notices.
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ encoding helpers */

void kafka__put_str(rl_buf *b, rl_slice s)
{
    if (!s.p) {
        rl_buf_put_be16(b, (uint16_t)-1);
        return;
    }
    rl_buf_put_be16(b, (uint16_t)s.len);
    rl_buf_append(b, s.p, s.len);
}

static void put_cstr(rl_buf *b, const char *s) { kafka__put_str(b, rl_slice_str(s)); }

bool kafka__topic_valid(rl_slice name)
{
    if (name.len == 0 || name.len > KAFKA_TOPIC_MAX)
        return false;
    for (size_t i = 0; i < name.len; i++) {
        uint8_t c = name.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool kafka__get_str(rl_reader *rd, bool nullable, rl_slice *out)
{
    int16_t n = rl_get_i16be(rd);
    out->p = NULL;
    out->len = 0;
    if (rd->err)
        return false;
    if (n < 0) {
        if (n == -1 && nullable)
            return true;
        rd->err = true;
        return false;
    }
    *out = rl_get_bytes(rd, (size_t)n);
    if (!rd->err && !out->p)
        out->p = (const uint8_t *)""; /* an empty string is not null */
    return !rd->err;
}

int32_t kafka__get_count(rl_reader *rd, bool nullable)
{
    int32_t n = rl_get_i32be(rd);
    if (rd->err)
        return -2;
    if (n < 0 && !(n == -1 && nullable)) {
        rd->err = true;
        return -2;
    }
    return n;
}

static bool skip_compact_str(rl_reader *rd)
{
    rl_slice s;
    return kafka__get_cstr(rd, true, &s);
}

bool kafka__get_cstr(rl_reader *rd, bool nullable, rl_slice *out)
{
    uint64_t n = rl_get_uvarint(rd);
    out->p = NULL;
    out->len = 0;
    if (rd->err)
        return false;
    if (n == 0) {
        if (nullable)
            return true;
        rd->err = true;
        return false;
    }
    if (n - 1 > rl_reader_left(rd)) {
        rd->err = true;
        return false;
    }
    *out = rl_get_bytes(rd, (size_t)(n - 1));
    if (!rd->err && !out->p)
        out->p = (const uint8_t *)"";
    return !rd->err;
}

int32_t kafka__get_ccount(rl_reader *rd, bool nullable)
{
    uint64_t n = rl_get_uvarint(rd);
    if (rd->err)
        return -2;
    if (n == 0) {
        if (nullable)
            return -1;
        rd->err = true;
        return -2;
    }
    if (n - 1 > INT32_MAX) {
        rd->err = true;
        return -2;
    }
    return (int32_t)(n - 1);
}

void kafka__put_fstr(rl_buf *b, bool flexible, rl_slice s)
{
    if (!flexible) {
        kafka__put_str(b, s);
        return;
    }
    if (!s.p) {
        rl_buf_put_uvarint(b, 0);
        return;
    }
    rl_buf_put_uvarint(b, (uint64_t)s.len + 1);
    rl_buf_append(b, s.p, s.len);
}

void kafka__put_fbytes(rl_buf *b, bool flexible, rl_slice s)
{
    if (flexible)
        rl_buf_put_uvarint(b, (uint64_t)s.len + 1);
    else
        rl_buf_put_be32(b, (uint32_t)s.len);
    rl_buf_append(b, s.p, s.len);
}

void kafka__put_fcount(rl_buf *b, bool flexible, uint32_t n)
{
    if (flexible)
        rl_buf_put_uvarint(b, (uint64_t)n + 1);
    else
        rl_buf_put_be32(b, n);
}

bool kafka__skip_tags(rl_reader *rd)
{
    uint64_t n = rl_get_uvarint(rd);
    for (uint64_t i = 0; i < n && !rd->err; i++) {
        (void)rl_get_uvarint(rd); /* tag */
        uint64_t size = rl_get_uvarint(rd);
        if (size > rl_reader_left(rd)) {
            rd->err = true;
            break;
        }
        rl_reader_skip(rd, (size_t)size);
    }
    return !rd->err;
}

/* Copies a topic name into z (KAFKA_TOPIC_MAX + 1 bytes) when log/ could hold it. */
static bool topic_cstr(rl_slice name, char *z)
{
    if (!kafka__topic_valid(name))
        return false;
    memcpy(z, name.p, name.len);
    z[name.len] = 0;
    return true;
}

static int malformed(rl_err *err, const char *what)
{
    return rl_err_set(err, RL_EPROTO, "malformed %s", what);
}

/* ------------------------------------------------------------------ ApiVersions */

static const struct {
    int16_t key, min, max;
} kafka_api_table[] = {
    {KAFKA_API_PRODUCE, KAFKA_PRODUCE_MIN, KAFKA_PRODUCE_MAX},
    {KAFKA_API_FETCH, KAFKA_FETCH_MIN, KAFKA_FETCH_MAX},
    {KAFKA_API_LIST_OFFSETS, KAFKA_LIST_OFFSETS_MIN, KAFKA_LIST_OFFSETS_MAX},
    {KAFKA_API_METADATA, KAFKA_METADATA_MIN, KAFKA_METADATA_MAX},
    {KAFKA_API_VERSIONS, KAFKA_APIVERSIONS_MIN, KAFKA_APIVERSIONS_MAX},
    {KAFKA_API_FIND_COORDINATOR, KAFKA_FIND_COORDINATOR_MIN, KAFKA_FIND_COORDINATOR_MAX},
    {KAFKA_API_JOIN_GROUP, KAFKA_JOIN_GROUP_MIN, KAFKA_JOIN_GROUP_MAX},
    {KAFKA_API_SYNC_GROUP, KAFKA_SYNC_GROUP_MIN, KAFKA_SYNC_GROUP_MAX},
    {KAFKA_API_HEARTBEAT, KAFKA_HEARTBEAT_MIN, KAFKA_HEARTBEAT_MAX},
    {KAFKA_API_LEAVE_GROUP, KAFKA_LEAVE_GROUP_MIN, KAFKA_LEAVE_GROUP_MAX},
    {KAFKA_API_OFFSET_COMMIT, KAFKA_OFFSET_COMMIT_MIN, KAFKA_OFFSET_COMMIT_MAX},
    {KAFKA_API_OFFSET_FETCH, KAFKA_OFFSET_FETCH_MIN, KAFKA_OFFSET_FETCH_MAX},
    {KAFKA_API_DESCRIBE_GROUPS, KAFKA_DESCRIBE_GROUPS_MIN, KAFKA_DESCRIBE_GROUPS_MAX},
    {KAFKA_API_LIST_GROUPS, KAFKA_LIST_GROUPS_MIN, KAFKA_LIST_GROUPS_MAX},
};

static int api_versions(kafka_conn *conn, rl_err *err)
{
    const kafka_req *req = &conn->req;
    rl_buf *b = &conn->obuf;
    int16_t v = req->api_version;

    if (v > KAFKA_APIVERSIONS_MAX) {
        kafka__resp_begin(conn, req->correlation_id);
        rl_buf_put_be16(b, KAFKA_ERR_UNSUPPORTED_VERSION);
        rl_buf_put_be32(b, 1);
        rl_buf_put_be16(b, KAFKA_API_VERSIONS);
        rl_buf_put_be16(b, KAFKA_APIVERSIONS_MIN);
        rl_buf_put_be16(b, KAFKA_APIVERSIONS_MAX);
        return kafka__resp_end(conn, err);
    }
    if (v >= 3) {
        rl_reader rd = rl_reader_make(req->body);
        if (!skip_compact_str(&rd) || !skip_compact_str(&rd) || !kafka__skip_tags(&rd))
            return malformed(err, "client software name/version or tagged fields");
    }
    size_t n = sizeof kafka_api_table / sizeof kafka_api_table[0];
    kafka__resp_begin(conn, req->correlation_id);
    rl_buf_put_be16(b, KAFKA_ERR_NONE);
    if (v >= 3)
        rl_buf_put_uvarint(b, n + 1);
    else
        rl_buf_put_be32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        rl_buf_put_be16(b, (uint16_t)kafka_api_table[i].key);
        rl_buf_put_be16(b, (uint16_t)kafka_api_table[i].min);
        rl_buf_put_be16(b, (uint16_t)kafka_api_table[i].max);
        if (v >= 3)
            rl_buf_put_uvarint(b, 0);
    }
    if (v >= 1)
        rl_buf_put_be32(b, 0);
    if (v >= 3)
        rl_buf_put_uvarint(b, 0);
    return kafka__resp_end(conn, err);
}

/* ------------------------------------------------------------------ Metadata */

/* Topics of rowlogd's own bookkeeping (__rowlog_xa: prepared XA changes; __consumer_offsets
 * when it is ever listed) are named with a "__" prefix, which table topics never have (their
 * names begin with the topic prefix). Kafka marks its internal topics the same way in
 * Metadata (MetadataResponse.json "IsInternal"), and clients act on it: the Java consumer's
 * regex subscriptions skip them (exclude.internal.topics, default true) and admin listings
 * leave them out. librdkafka 2.0 reads the flag but still matches internal topics against
 * regex subscriptions: `rowlog tail --group` sets topic.blacklist=^__.* for that. */
static bool md_is_internal(rl_slice name)
{
    return name.len >= 2 && name.p[0] == '_' && name.p[1] == '_';
}

static void md_put_topic(rl_buf *b, int32_t node, int16_t error, rl_slice name,
                         uint32_t partitions)
{
    rl_buf_put_be16(b, (uint16_t)error);
    kafka__put_str(b, name);
    rl_buf_putc(b, md_is_internal(name) ? 1 : 0); /* is_internal (v1+: no v0 served) */
    rl_buf_put_be32(b, partitions);
    for (uint32_t p = 0; p < partitions; p++) {
        rl_buf_put_be16(b, KAFKA_ERR_NONE);
        rl_buf_put_be32(b, p);
        rl_buf_put_be32(b, (uint32_t)node); /* leader */
        rl_buf_put_be32(b, 1);              /* replicas */
        rl_buf_put_be32(b, (uint32_t)node);
        rl_buf_put_be32(b, 1); /* isr */
        rl_buf_put_be32(b, (uint32_t)node);
    }
}

typedef struct md_ctx {
    rl_buf *b;
    int32_t node;
    uint32_t count;
} md_ctx;

static void md_topic_cb(void *ctx, const char *topic, uint32_t partitions)
{
    md_ctx *m = ctx;
    md_put_topic(m->b, m->node, KAFKA_ERR_NONE, rl_slice_str(topic), partitions);
    m->count++;
}

static int api_metadata(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    rl_buf *b = &conn->obuf;
    int16_t v = req->api_version;
    int32_t node = srv->opts.node_id;
    rl_reader rd = rl_reader_make(req->body);

    int32_t ntopics = kafka__get_count(&rd, true);
    if (ntopics < -1)
        return malformed(err, "topic array count");
    int rc = kafka__bound(ntopics, 0, 0, err);
    if (rc != 0)
        return rc;

    kafka__resp_begin(conn, req->correlation_id);
    if (v >= 3)
        rl_buf_put_be32(b, 0); /* throttle_time_ms */
    rl_buf_put_be32(b, 1);     /* brokers */
    rl_buf_put_be32(b, (uint32_t)node);
    put_cstr(b, srv->wildcard ? conn->local_host : srv->opts.advertised_host);
    rl_buf_put_be32(b, srv->port);
    kafka__put_str(b, rl_slice_make(NULL, 0)); /* rack: null */
    if (v >= 2)
        kafka__put_str(b, rl_slice_make(NULL, 0)); /* cluster_id: null */
    rl_buf_put_be32(b, (uint32_t)node);            /* controller_id */

    if (ntopics == -1) {
        size_t at = b->len;
        rl_buf_put_be32(b, 0);
        md_ctx m = {b, node, 0};
        (void)log_store_topics(srv->store, md_topic_cb, &m);
        if (rl_buf_ok(b))
            rl_buf_patch_be32(b, at, m.count);
    } else {
        rl_buf_put_be32(b, (uint32_t)ntopics);
        for (int32_t i = 0; i < ntopics; i++) {
            rl_slice name;
            char z[KAFKA_TOPIC_MAX + 1];
            if (!kafka__get_str(&rd, false, &name)) {
                kafka__resp_abort(conn);
                return malformed(err, "topic name");
            }
            if (!topic_cstr(name, z)) {
                md_put_topic(b, node, KAFKA_ERR_INVALID_TOPIC_EXCEPTION, name, 0);
                continue;
            }
            int np = log_store_partitions(srv->store, z);
            if (np < 0)
                md_put_topic(b, node, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION, name, 0);
            else
                md_put_topic(b, node, KAFKA_ERR_NONE, name, (uint32_t)np);
            /* The same many-partition topic named over and over: bound the answer. */
            if ((rc = kafka__bound(0, 0, kafka__resp_len(conn), err)) != 0) {
                kafka__resp_abort(conn);
                return rc;
            }
        }
    }
    if (v >= 4)
        (void)rl_get_u8(&rd); /* allow_auto_topic_creation: topics come from the binlog only */
    if (rd.err) {
        kafka__resp_abort(conn);
        return malformed(err, "allow_auto_topic_creation");
    }
    return kafka__resp_end(conn, err);
}

/* ------------------------------------------------------------------ ListOffsets */

static int16_t list_offset(kafka_server_t *srv, const char *topic, int32_t partition,
                           int64_t ts, int64_t *offset)
{
    int64_t log_start = -1, hwm = -1;
    int rc;
    *offset = -1;
    if (partition < 0)
        return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (ts == -2 || ts == -1) {
        rc = log_store_offsets(srv->store, topic, (uint32_t)partition, &log_start, &hwm);
        if (rc == 0)
            *offset = ts == -2 ? log_start : hwm;
    } else {
        rc = log_store_offset_for_time(srv->store, topic, (uint32_t)partition, ts, offset);
    }
    if (rc == 0)
        return KAFKA_ERR_NONE;
    *offset = -1;
    if (rc == RL_ENOTFOUND)
        return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    rl_warn("kafka: ListOffsets %s-%" PRId32 " timestamp %" PRId64 ": %s", topic, partition, ts,
            rl_strerror(rc));
    return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
}

static int api_list_offsets(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    rl_buf *b = &conn->obuf;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);

    (void)rl_get_i32be(&rd); /* replica_id */
    if (v >= 2)
        (void)rl_get_i8(&rd); /* isolation_level: LSO = high watermark, so both agree */
    int32_t ntopics = kafka__get_count(&rd, false);
    if (ntopics < 0)
        return malformed(err, "replica_id, isolation_level or topic array count");
    int rc = kafka__bound(ntopics, 0, 0, err);
    if (rc != 0)
        return rc;
    int64_t total = 0;

    kafka__resp_begin(conn, req->correlation_id);
    if (v >= 2)
        rl_buf_put_be32(b, 0);
    rl_buf_put_be32(b, (uint32_t)ntopics);
    for (int32_t t = 0; t < ntopics; t++) {
        rl_slice name;
        char z[KAFKA_TOPIC_MAX + 1];
        if (!kafka__get_str(&rd, false, &name))
            goto bad;
        bool valid = topic_cstr(name, z);
        int32_t nparts = kafka__get_count(&rd, false);
        if (nparts < 0)
            goto bad;
        total += nparts;
        if ((rc = kafka__bound(0, total, 0, err)) != 0) {
            kafka__resp_abort(conn);
            return rc;
        }
        kafka__put_str(b, name);
        rl_buf_put_be32(b, (uint32_t)nparts);
        for (int32_t i = 0; i < nparts; i++) {
            int32_t partition = rl_get_i32be(&rd);
            int64_t ts = rl_get_i64be(&rd);
            if (rd.err)
                goto bad;
            int64_t offset = -1;
            int16_t ec = valid ? list_offset(srv, z, partition, ts, &offset)
                               : KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            rl_buf_put_be32(b, (uint32_t)partition);
            rl_buf_put_be16(b, (uint16_t)ec);
            rl_buf_put_be64(b, (uint64_t)-1); /* timestamp */
            rl_buf_put_be64(b, (uint64_t)offset);
        }
    }
    return kafka__resp_end(conn, err);

bad:
    kafka__resp_abort(conn);
    return malformed(err, "topic or partition entry");
}

/* ------------------------------------------------------------------ Produce */

static int api_produce(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    rl_buf *b = &conn->obuf;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice txn_id, first_topic = {NULL, 0};
    uint64_t refused = 0;

    (void)kafka__get_str(&rd, true, &txn_id);
    int16_t acks = rl_get_i16be(&rd);
    (void)rl_get_i32be(&rd); /* timeout_ms */
    int32_t ntopics = kafka__get_count(&rd, false);
    if (ntopics < 0)
        return malformed(err, "transactional_id, acks, timeout or topic array count");
    int rc = kafka__bound(ntopics, 0, 0, err);
    if (rc != 0)
        return rc;
    int64_t total = 0;

    kafka__resp_begin(conn, req->correlation_id);
    rl_buf_put_be32(b, (uint32_t)ntopics);
    for (int32_t t = 0; t < ntopics; t++) {
        rl_slice name;
        if (!kafka__get_str(&rd, false, &name))
            goto bad;
        if (t == 0)
            first_topic = name;
        int32_t nparts = kafka__get_count(&rd, false);
        if (nparts < 0)
            goto bad;
        total += nparts;
        if ((rc = kafka__bound(0, total, 0, err)) != 0) {
            kafka__resp_abort(conn);
            return rc;
        }
        kafka__put_str(b, name);
        rl_buf_put_be32(b, (uint32_t)nparts);
        for (int32_t i = 0; i < nparts; i++) {
            int32_t partition = rl_get_i32be(&rd);
            int32_t len = rl_get_i32be(&rd);
            if (rd.err || len < -1)
                goto bad;
            if (len > 0)
                rl_reader_skip(&rd, (size_t)len);
            if (rd.err)
                goto bad;
            rl_buf_put_be32(b, (uint32_t)partition);
            rl_buf_put_be16(b, KAFKA_ERR_POLICY_VIOLATION);
            rl_buf_put_be64(b, (uint64_t)-1); /* base_offset */
            rl_buf_put_be64(b, (uint64_t)-1); /* log_append_time_ms */
            if (v >= 5)
                rl_buf_put_be64(b, (uint64_t)-1); /* log_start_offset */
            refused++;
        }
    }
    rl_buf_put_be32(b, 0); /* throttle_time_ms */
    KAFKA_STAT_ADD(srv, produce_refused, refused);
    if (!conn->warned_produce) {
        conn->warned_produce = true;
        rl_warn("kafka: %s tried to produce (topic '%.*s'...): refused with POLICY_VIOLATION, "
                "the log is written only from the binlog",
                conn->peer, (int)(first_topic.len > 64 ? 64 : first_topic.len),
                first_topic.p ? (const char *)first_topic.p : "");
    }
    if (acks == 0) {
        kafka__resp_abort(conn);
        return rl_err_set(err, RL_EUNSUPPORTED,
                          "Produce with acks=0 refused (rowlog's log is read-only to clients); "
                          "closing the connection so the producer notices, as Kafka does");
    }
    return kafka__resp_end(conn, err);

bad:
    kafka__resp_abort(conn);
    return malformed(err, "topic, partition or records entry");
}

/* ------------------------------------------------------------------ dispatch */

static const char *api_name(int16_t key)
{
    switch (key) {
    case KAFKA_API_PRODUCE:
        return "Produce";
    case KAFKA_API_FETCH:
        return "Fetch";
    case KAFKA_API_LIST_OFFSETS:
        return "ListOffsets";
    case KAFKA_API_METADATA:
        return "Metadata";
    case KAFKA_API_VERSIONS:
        return "ApiVersions";
    case KAFKA_API_FIND_COORDINATOR:
        return "FindCoordinator";
    case KAFKA_API_JOIN_GROUP:
        return "JoinGroup";
    case KAFKA_API_SYNC_GROUP:
        return "SyncGroup";
    case KAFKA_API_HEARTBEAT:
        return "Heartbeat";
    case KAFKA_API_LEAVE_GROUP:
        return "LeaveGroup";
    case KAFKA_API_OFFSET_COMMIT:
        return "OffsetCommit";
    case KAFKA_API_OFFSET_FETCH:
        return "OffsetFetch";
    case KAFKA_API_DESCRIBE_GROUPS:
        return "DescribeGroups";
    case KAFKA_API_LIST_GROUPS:
        return "ListGroups";
    default:
        return NULL;
    }
}

int kafka__request(kafka_conn *conn, rl_slice frame, rl_err *err)
{
    kafka_req *req = &conn->req;
    rl_reader rd = rl_reader_make(frame);
    memset(req, 0, sizeof *req);
    req->api_key = rl_get_i16be(&rd);
    req->api_version = rl_get_i16be(&rd);
    req->correlation_id = rl_get_i32be(&rd);
    if (rd.err)
        return rl_err_set(err, RL_EPROTO,
                          "malformed request: %zu bytes, shorter than a request header",
                          frame.len);
    const char *name = api_name(req->api_key);
    char named[32];
    if (!name) {
        snprintf(named, sizeof named, "API key %d", req->api_key);
        name = named;
    }
    if (!kafka__get_str(&rd, true, &req->client_id))
        return rl_err_set(err, RL_EPROTO,
                          "%s v%d request (correlation id %" PRId32 "): malformed client_id",
                          name, req->api_version, req->correlation_id);
    /* Request header v2 (tagged fields) goes with flexible versions; of the versions served,
     * ApiVersions v3 (and v4+, answered with UNSUPPORTED_VERSION), ListGroups v3-4 and
     * DescribeGroups v5 are flexible. */
    req->flexible = (req->api_key == KAFKA_API_VERSIONS && req->api_version >= 3) ||
                    (req->api_key == KAFKA_API_LIST_GROUPS && req->api_version >= 3) ||
                    (req->api_key == KAFKA_API_DESCRIBE_GROUPS && req->api_version >= 5);
    if (req->flexible && !kafka__skip_tags(&rd))
        return rl_err_set(err, RL_EPROTO,
                          "%s v%d request (correlation id %" PRId32 "): malformed header tags",
                          name, req->api_version, req->correlation_id);
    req->body = rl_get_rest(&rd);

    int16_t v = req->api_version;
    bool served = false;
    if (req->api_key == KAFKA_API_VERSIONS) {
        /* Versions above the range get UNSUPPORTED_VERSION in the v0 layout (KIP-511). */
        served = v >= KAFKA_APIVERSIONS_MIN;
    } else {
        for (size_t i = 0; i < sizeof kafka_api_table / sizeof kafka_api_table[0]; i++)
            if (kafka_api_table[i].key == req->api_key)
                served = v >= kafka_api_table[i].min && v <= kafka_api_table[i].max;
    }
    if (!served)
        return rl_err_set(err, RL_EUNSUPPORTED,
                          "unsupported request: %s version %d (correlation id %" PRId32
                          ", client id '%.*s')",
                          name, v, req->correlation_id,
                          (int)(req->client_id.len > 64 ? 64 : req->client_id.len),
                          req->client_id.p ? (const char *)req->client_id.p : "");
    int rc;
    switch (req->api_key) {
    case KAFKA_API_VERSIONS:
        rc = api_versions(conn, err);
        break;
    case KAFKA_API_METADATA:
        rc = api_metadata(conn, err);
        break;
    case KAFKA_API_LIST_OFFSETS:
        rc = api_list_offsets(conn, err);
        break;
    case KAFKA_API_FETCH:
        rc = kafka__fetch(conn, err);
        break;
    case KAFKA_API_FIND_COORDINATOR:
        rc = kafka__find_coordinator(conn, err);
        break;
    case KAFKA_API_JOIN_GROUP:
        rc = kafka__join_group(conn, err);
        break;
    case KAFKA_API_SYNC_GROUP:
        rc = kafka__sync_group(conn, err);
        break;
    case KAFKA_API_HEARTBEAT:
        rc = kafka__heartbeat(conn, err);
        break;
    case KAFKA_API_LEAVE_GROUP:
        rc = kafka__leave_group(conn, err);
        break;
    case KAFKA_API_OFFSET_COMMIT:
        rc = kafka__offset_commit(conn, err);
        break;
    case KAFKA_API_OFFSET_FETCH:
        rc = kafka__offset_fetch(conn, err);
        break;
    case KAFKA_API_LIST_GROUPS:
        rc = kafka__list_groups(conn, err);
        break;
    case KAFKA_API_DESCRIBE_GROUPS:
        rc = kafka__describe_groups(conn, err);
        break;
    default:
        rc = api_produce(conn, err);
        break;
    }
    if (rc < 0)
        return rl_err_wrap(err, rc, "%s v%d request (correlation id %" PRId32 ")", name, v,
                           req->correlation_id);
    return rc;
}
