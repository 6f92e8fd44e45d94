/*
 * kafka_int.h - server/ internals shared by kafka_server.c (listener, connections, output
 * queue, long-poll parking), kafka_api.c (request header, ApiVersions, Metadata, ListOffsets,
 * Produce) and kafka_fetch.c (Fetch). Never included outside server/kafka*.c.
 *
 * Threading: everything here runs on the server's loop thread; only the stats counters are
 * touched from other threads (atomics).
 */
#ifndef KAFKA_INT_H
#define KAFKA_INT_H

#include "server/kafka.h"

#include <ev.h>
#include <stdatomic.h>

/* API keys (Kafka protocol guide, "Api Keys"; apache/kafka common/message/, field "apiKey"). */
enum kafka_api_key {
    KAFKA_API_PRODUCE = 0,
    KAFKA_API_FETCH = 1,
    KAFKA_API_LIST_OFFSETS = 2,
    KAFKA_API_METADATA = 3,
    KAFKA_API_VERSIONS = 18,
};

/* Error codes (apache/kafka clients/src/main/java/org/apache/kafka/common/protocol/Errors.java). */
enum kafka_error_code {
    KAFKA_ERR_UNKNOWN_SERVER_ERROR = -1,
    KAFKA_ERR_NONE = 0,
    KAFKA_ERR_OFFSET_OUT_OF_RANGE = 1,
    KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KAFKA_ERR_INVALID_TOPIC_EXCEPTION = 17,
    KAFKA_ERR_UNSUPPORTED_VERSION = 35,
    KAFKA_ERR_POLICY_VIOLATION = 44,
};

/* Versions served; kafka_api.c advertises exactly these ranges in ApiVersions. */
#define KAFKA_APIVERSIONS_MIN 0
#define KAFKA_APIVERSIONS_MAX 3
#define KAFKA_METADATA_MIN 1
#define KAFKA_METADATA_MAX 4
#define KAFKA_LIST_OFFSETS_MIN 1
#define KAFKA_LIST_OFFSETS_MAX 2
#define KAFKA_FETCH_MIN 4
#define KAFKA_FETCH_MAX 11
#define KAFKA_PRODUCE_MIN 3
#define KAFKA_PRODUCE_MAX 7

/* A connection stops reading requests while more than this many response bytes (buffered
 * headers plus queued log slices) wait to be sent: a client that does not read its responses
 * cannot make the server buffer without bound. */
#define KAFKA_OUT_HIGH ((size_t)1 << 20)
/* Bytes asked of each read(); requests are usually far smaller, so one read takes several. */
#define KAFKA_READ_CHUNK ((size_t)64 << 10)
/* Longest topic name Kafka allows (Topic.MAX_NAME_LENGTH); log.h uses the same limit. */
#define KAFKA_TOPIC_MAX 249

/* Return of request handlers: the request waits (parked Fetch); no response yet. */
#define KAFKA_PARKED 1

/* One piece of the output queue: bytes in the connection's obuf (p NULL, at off) or a slice
 * of the log's mapping (p set; valid while the store is open). */
typedef struct kafka_part {
    const uint8_t *p;
    size_t off;
    size_t len;
} kafka_part;

/* The request being processed: header fields and the body. Slices point into the
 * connection's input buffer, which is not touched until the request is answered. */
typedef struct kafka_req {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    rl_slice client_id; /* p NULL for a null client id */
    rl_slice body;
} kafka_req;

/* Fetch scratch (kafka_fetch.c), kept per connection and reused: grows to the largest request
 * seen, so a steady consumer allocates nothing per request. */
typedef struct kafka_fetch_topic {
    rl_slice name;    /* as sent, into the request */
    size_t name_off;  /* NUL-terminated copy in kafka_fetch.names, for log/ calls */
    bool valid;       /* a name log/ could hold (length, characters) */
    size_t first;     /* index of its first partition in kafka_fetch.parts */
    size_t count;
} kafka_fetch_topic;

typedef struct kafka_fetch_part {
    int32_t partition;
    int64_t offset;      /* fetch offset, as requested */
    int32_t max_bytes;   /* partition max_bytes, as requested */
    int16_t error;       /* result of the last evaluation */
    int64_t high_watermark;
    int64_t log_start;
    rl_slice records;    /* whole batches from the log's mapping (last one may be cut) */
} kafka_fetch_part;

typedef struct kafka_fetch {
    int16_t version;
    int32_t correlation_id;
    int32_t max_wait_ms;
    int32_t min_bytes;
    int32_t max_bytes;
    kafka_fetch_topic *topics;
    size_t ntopics, topics_cap;
    kafka_fetch_part *parts;
    size_t nparts, parts_cap;
    rl_buf names;
} kafka_fetch;

typedef struct kafka_conn kafka_conn;

struct kafka_conn {
    kafka_server_t *srv;
    kafka_conn *prev, *next;           /* server's list of open connections */
    kafka_conn *park_prev, *park_next; /* server's list of parked fetches */
    int fd;
    char peer[64];       /* "host:port" of the client, for log lines */
    char local_host[64]; /* address the client reached (advertised for wildcard listeners) */

    ev_io read_w;
    ev_io write_w;
    ev_timer park_w;
    bool parked;       /* a Fetch waits for data (park_w runs, conn is on srv->parked) */
    bool want_write;   /* the socket said EAGAIN: write_w runs until the queue drains */
    bool warned_produce;

    /* Input: bytes [in_pos, in.len) are received and not yet consumed. */
    rl_buf in;
    size_t in_pos;
    kafka_req req;

    /* Output queue: parts [part_head, nparts), the first one sent up to head_off. */
    rl_buf obuf;
    kafka_part *parts;
    size_t nparts, parts_cap, part_head, head_off;
    size_t out_pending; /* bytes queued and not yet sent */
    /* Response under construction (kafka__resp_*). */
    size_t resp_obuf_start, resp_nparts_start, resp_cut, resp_slice_bytes;

    kafka_fetch fetch;
};

struct kafka_server {
    struct ev_loop *loop;
    log_store_t *store;
    kafka_server_opts opts;
    int listen_fd;
    unsigned port;
    bool wildcard;        /* listen_host is 0.0.0.0 or :: and no advertised_host was given */
    ev_io accept_w;
    ev_timer accept_retry_w;
    ev_async notify_w;
    bool accept_backoff;  /* accept failed with EMFILE & co: accept_retry_w will resume */
    double accept_warned_at; /* ev_now of the last accept warning (rate limit) */
    kafka_conn *conns;
    kafka_conn *parked;
    size_t nconns;
    struct {
        _Atomic uint64_t connections_accepted, connections_open, accept_pauses, protocol_errors,
            requests, fetch_parked, fetch_parked_now, fetch_woken, fetch_expired,
            fetch_record_bytes, produce_refused;
    } stats;
};

#define KAFKA_STAT_ADD(srv, field, n)                                                          \
    atomic_fetch_add_explicit(&(srv)->stats.field, (uint64_t)(n), memory_order_relaxed)
#define KAFKA_STAT_SUB(srv, field, n)                                                          \
    atomic_fetch_sub_explicit(&(srv)->stats.field, (uint64_t)(n), memory_order_relaxed)

/* ------------------------------------------------------------------ kafka_server.c */

/* Starts a response to the current request: reserves the size field, writes the response
 * header v0 (correlation id). The caller then appends the body to conn->obuf (big-endian
 * writers) and record slices with kafka__resp_slice, and ends with kafka__resp_end or
 * kafka__resp_abort. One response at a time per connection. */
void kafka__resp_begin(kafka_conn *conn, int32_t correlation_id);
/* Queues s (bytes of the log's mapping, not copied) at the current position of the response.
 * Returns 0 or -ENOMEM. */
int kafka__resp_slice(kafka_conn *conn, rl_slice s);
/* Patches the size field and hands the response to the output queue. Returns 0, -ENOMEM (the
 * response is dropped) or RL_ETOOBIG (above 2 GiB; dropped). */
int kafka__resp_end(kafka_conn *conn, rl_err *err);
/* Drops the response under construction (malformed request, acks=0 Produce). */
void kafka__resp_abort(kafka_conn *conn);

/* Parks the connection's Fetch for up to max_wait_ms: stops reading, starts the timer, links
 * the connection on the parked list. kafka__fetch_resume is called on notify and at expiry. */
void kafka__park(kafka_conn *conn, int32_t max_wait_ms);

/* ------------------------------------------------------------------ kafka_api.c */

/* Processes one request frame (the bytes after the size field). Returns 0 (answered, or
 * nothing to answer), KAFKA_PARKED, or a negative code: the connection must be closed; err
 * says why, naming the API, version and field. */
int kafka__request(kafka_conn *conn, rl_slice frame, rl_err *err);

/* Reads a Kafka string (int16 length + bytes). A null one (length -1) is accepted only when
 * nullable (out->p NULL); an empty one has a non-NULL p. Returns false, with the reader's
 * error set, when malformed or short. out points into the reader's bytes. */
bool kafka__get_str(rl_reader *rd, bool nullable, rl_slice *out);
/* Kafka string writers: int16 length + bytes; null (-1) for a NULL slice pointer. */
void kafka__put_str(rl_buf *b, rl_slice s);
/* True when name is a topic name log/ can hold: 1-249 bytes of [A-Za-z0-9._-]. */
bool kafka__topic_valid(rl_slice name);

/* ------------------------------------------------------------------ kafka_fetch.c */

/* Fetch v4-11: parses the request into conn->fetch, reads the partitions and answers, or parks
 * when fewer than min_bytes are available. Same returns as kafka__request. */
int kafka__fetch(kafka_conn *conn, rl_err *err);
/* Re-evaluates a parked Fetch: answers when min_bytes are now available or any partition has
 * an error, or unconditionally when expired. Returns 0 (answered), KAFKA_PARKED (still
 * waiting), or a negative code (close the connection). */
int kafka__fetch_resume(kafka_conn *conn, bool expired, rl_err *err);
/* Frees the connection's fetch scratch. */
void kafka__fetch_free(kafka_fetch *fetch);

#endif /* KAFKA_INT_H */
