/*
 * kafka_int.h - server/ internals shared by kafka_server.c (listener, connections, output
 * queue, long-poll parking, deferred answers), kafka_api.c (request header, ApiVersions,
 * Metadata, ListOffsets, Produce), kafka_fetch.c (Fetch), kafka_group.c (group coordinator:
 * FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and kafka_offsets.c
 * (OffsetCommit, OffsetFetch, the durable offsets log). Never included outside server/kafka*.c.
 *
 * Threading: everything here runs on the server's loop thread; only the stats counters are
 * touched from other threads (atomics).
 */
#ifndef KAFKA_INT_H
#define KAFKA_INT_H

#include "server/kafka.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>

/* API keys (Kafka protocol guide, "Api Keys"; apache/kafka common/message/, field "apiKey"). */
enum kafka_api_key {
    KAFKA_API_PRODUCE = 0,
    KAFKA_API_FETCH = 1,
    KAFKA_API_LIST_OFFSETS = 2,
    KAFKA_API_METADATA = 3,
    KAFKA_API_OFFSET_COMMIT = 8,
    KAFKA_API_OFFSET_FETCH = 9,
    KAFKA_API_FIND_COORDINATOR = 10,
    KAFKA_API_JOIN_GROUP = 11,
    KAFKA_API_HEARTBEAT = 12,
    KAFKA_API_LEAVE_GROUP = 13,
    KAFKA_API_SYNC_GROUP = 14,
    KAFKA_API_DESCRIBE_GROUPS = 15,
    KAFKA_API_LIST_GROUPS = 16,
    KAFKA_API_VERSIONS = 18,
};

/* Error codes (apache/kafka clients/src/main/java/org/apache/kafka/common/protocol/Errors.java). */
enum kafka_error_code {
    KAFKA_ERR_UNKNOWN_SERVER_ERROR = -1,
    KAFKA_ERR_NONE = 0,
    KAFKA_ERR_OFFSET_OUT_OF_RANGE = 1,
    KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KAFKA_ERR_OFFSET_METADATA_TOO_LARGE = 12,
    KAFKA_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    KAFKA_ERR_INVALID_TOPIC_EXCEPTION = 17,
    KAFKA_ERR_INVALID_REQUEST = 42,
    KAFKA_ERR_ILLEGAL_GENERATION = 22,
    KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KAFKA_ERR_INVALID_GROUP_ID = 24,
    KAFKA_ERR_UNKNOWN_MEMBER_ID = 25,
    KAFKA_ERR_INVALID_SESSION_TIMEOUT = 26,
    KAFKA_ERR_REBALANCE_IN_PROGRESS = 27,
    KAFKA_ERR_UNSUPPORTED_VERSION = 35,
    KAFKA_ERR_POLICY_VIOLATION = 44,
    KAFKA_ERR_MEMBER_ID_REQUIRED = 79,
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
#define KAFKA_FIND_COORDINATOR_MIN 0
#define KAFKA_FIND_COORDINATOR_MAX 2
#define KAFKA_JOIN_GROUP_MIN 0
#define KAFKA_JOIN_GROUP_MAX 5
#define KAFKA_SYNC_GROUP_MIN 0
#define KAFKA_SYNC_GROUP_MAX 3
#define KAFKA_HEARTBEAT_MIN 0
#define KAFKA_HEARTBEAT_MAX 3
#define KAFKA_LEAVE_GROUP_MIN 0
#define KAFKA_LEAVE_GROUP_MAX 3
#define KAFKA_OFFSET_COMMIT_MIN 2
#define KAFKA_OFFSET_COMMIT_MAX 7
#define KAFKA_OFFSET_FETCH_MIN 1
#define KAFKA_OFFSET_FETCH_MAX 5
#define KAFKA_DESCRIBE_GROUPS_MIN 0
#define KAFKA_DESCRIBE_GROUPS_MAX 5
#define KAFKA_LIST_GROUPS_MIN 0
#define KAFKA_LIST_GROUPS_MAX 4

/* Longest group id, member id and committed metadata accepted. Kafka has no group id limit
 * beyond the int16 string; these bound what one client can make the server keep. */
#define KAFKA_GROUP_ID_MAX 255
#define KAFKA_MEMBER_ID_MAX 255
#define KAFKA_OFFSET_METADATA_MAX 4096 /* Kafka's offset.metadata.max.bytes default */
/* Per-request bounds (Kafka has none of its own; these keep one request from making the
 * server build an unbounded response or scratch array). A request above them closes its
 * connection with a logged reason, as a malformed one does; real clients stay far below:
 * librdkafka asks for the topics it subscribes to and the partitions assigned to it. */
#define KAFKA_MAX_REQ_TOPICS 10000      /* topics in one Metadata, ListOffsets, Fetch,
                                           OffsetCommit or OffsetFetch request */
#define KAFKA_MAX_REQ_PARTITIONS 100000 /* partitions in one such request, all topics */
#define KAFKA_MAX_REQ_GROUPS 1000       /* groups in one DescribeGroups request */
/* Body bytes one response may take in obuf (record slices from the log are bounded by the
 * Fetch max_bytes instead): Metadata for many partitions, DescribeGroups of large groups. */
#define KAFKA_MAX_RESP_BYTES ((size_t)64 << 20)
/* Name of the internal topic of committed offsets in the offsets store. */
#define KAFKA_OFFSETS_TOPIC "__consumer_offsets"

/* A connection stops reading requests while more than this many response bytes (buffered
 * headers plus queued log slices) wait to be sent: a client that does not read its responses
 * cannot make the server buffer without bound. */
#define KAFKA_OUT_HIGH ((size_t)1 << 20)
/* Bytes asked of each read(); requests are usually far smaller, so one read takes several. */
#define KAFKA_READ_CHUNK ((size_t)64 << 10)
/* Longest topic name Kafka allows (Topic.MAX_NAME_LENGTH); log.h uses the same limit. */
#define KAFKA_TOPIC_MAX 249

/* Return of request handlers: the request waits (parked Fetch, group barrier, offsets being
 * made durable); no response yet. */
#define KAFKA_PARKED 1

/* What a connection's current request waits for (besides a parked Fetch). While it waits the
 * connection is not read, so responses stay in request order. */
enum kafka_wait {
    KAFKA_WAIT_NONE = 0,
    KAFKA_WAIT_JOIN,   /* JoinGroup: until the group's join phase completes */
    KAFKA_WAIT_SYNC,   /* SyncGroup: until the leader's assignment arrives */
    KAFKA_WAIT_COMMIT, /* OffsetCommit: until the offsets store's next durable commit */
};

/* Intrusive chained hash table (groups by name, committed offsets by topic and partition).
 * Nodes are embedded first in their structs; the table never owns them. */
typedef struct kafka_hnode {
    struct kafka_hnode *next;
    uint32_t hash;
} kafka_hnode;

typedef struct kafka_htab {
    kafka_hnode **slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
} kafka_htab;

typedef struct kafka_group kafka_group;
typedef struct kafka_member kafka_member;

/* One piece of the output queue: bytes in the connection's obuf (p NULL, at off) or a slice
 * of the log's mapping (p set), kept mapped by pin (log_store_read's reference, owned by the
 * part and released with log_read_release once the part is sent, dropped or closed). A
 * slice with fd >= 0 is a file part: the same bytes are sent with sendfile(2) from fd (the
 * segment's read descriptor from log_read_fd, owned by the segment; the part holds one use
 * of it, given back with the pin, which keeps it open) at byte position fpos; the mapping
 * is then only read by the warm-up (mincore, touches). */
typedef struct kafka_part {
    const uint8_t *p;
    size_t off;
    size_t len;
    struct log_segment *pin;
    int fd;
    uint64_t fpos;
    size_t warm_at; /* KAFKA_NO_WARM, or where the part starts in conn->warm's ranges (bytes):
                       only what that job has warmed of it may be sent */
} kafka_part;

#define KAFKA_NO_WARM SIZE_MAX

/* The request being processed: header fields and the body. Slices point into the
 * connection's input buffer, which is not touched until the request is answered. */
typedef struct kafka_req {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    rl_slice client_id; /* p NULL for a null client id */
    bool flexible;      /* request header v2 (tags skipped); the response needs header v1
                           (an empty tag section after the correlation id) except for
                           ApiVersions (KIP-511) */
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
    struct log_segment *pin; /* keeps records mapped until queued (then the queue owns it) */
    int fd;              /* log_read.fd: the segment file for sendfile, or -1 */
    uint64_t file_pos;   /* log_read.file_pos */
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

/* A queued Fetch response whose record bytes are not all in the page cache (kafka_warm.c):
 * an I/O thread faults the ranges in, KAFKA_WARM_CHUNK bytes at a time, while the loop serves
 * other connections and sends each chunk of the response as soon as it is warm. The loop
 * thread owns everything but next, progress_next and progress_listed (under srv->warm_mu)
 * and done (atomic); the I/O thread reads ranges and stores done. */
typedef struct kafka_warm_job {
    struct kafka_warm_job *next; /* srv->warm_queue or srv->warm_done (warm_mu) */
    struct kafka_warm_job *progress_next; /* srv->warm_progress (warm_mu) */
    bool progress_listed;        /* on srv->warm_progress (warm_mu) */
    kafka_conn *conn;            /* loop thread; NULL once the connection closed */
    rl_slice *ranges;            /* record slices to fault in (nranges of them), in the
                                    order of the response */
    size_t nranges;
    _Atomic size_t done;         /* bytes of the ranges, counted in order, known resident
                                    (release store by the I/O thread after touching them) */
    struct log_segment **pins;   /* the queued parts' pins, moved here when conn closes first
                                    (room for nranges) */
    size_t npins;
    uint64_t start_ns;           /* CLOCK_MONOTONIC when handed to the pool */
} kafka_warm_job;

/* Bytes an I/O thread warms before the loop may send them (and before it is told). */
#define KAFKA_WARM_CHUNK ((size_t)1 << 20)

/* I/O threads warming cold Fetch reads (kafka_server_opts.fetch_warm_threads) and the most
 * jobs queued at once; above it a cold response is sent from the loop as before (the
 * connection count already bounds the queue: one job per connection at most). */
#define KAFKA_WARM_THREADS_DEFAULT 2
#define KAFKA_WARM_THREADS_MAX 8
#define KAFKA_WARM_QUEUE_MAX 1024

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
    kafka_warm_job *warm; /* the queued Fetch response waits for (part of) its bytes to be
                             warmed: its file parts are sent as far as warm->done allows, and
                             no request is read until the job is done */
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

    /* Group and offset requests waiting (enum kafka_wait): the member the request belongs
     * to, and the links of the server's list of answered connections to resume, or of the
     * offsets store's commit waiters. */
    int wait;
    kafka_member *wait_member;
    kafka_conn *wait_prev, *wait_next;
    bool on_ready; /* linked on srv->ready (answered; conn_run pending) */
    bool doomed;   /* a deferred answer could not be built: on_ready closes the connection */
    kafka_conn *ready_prev, *ready_next;
    /* OffsetCommit scratch: per partition entry of the request, its error code. */
    int16_t *commit_err;
    size_t commit_err_cap;
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
    bool sigpipe_ignored; /* SIGPIPE was ignored at start: sendfile needs no mask around it */
    double accept_warned_at; /* ev_now of the last accept warning (rate limit) */
    kafka_conn *conns;
    kafka_conn *parked;
    size_t nconns;
    /* Connections whose waiting request was answered; on_ready runs them (never from inside
     * another connection's request, so group code is not re-entered). */
    ev_prepare ready_w;
    kafka_conn *ready;
    /* Group coordinator (kafka_group.c). */
    kafka_htab groups;
    uint64_t member_seq;  /* member ids: client id + boot id + sequence */
    uint64_t boot_id;
    /* Committed offsets (kafka_offsets.c): the server's own log (NULL: memory only), the
     * OffsetCommit requests waiting for its next commit. */
    log_store_t *offsets;
    kafka_conn *commit_waiters;
    bool commit_pending; /* records appended since the last commit */
    rl_buf offsets_scratch;
    /* Committed offsets published for kafka_server_committed_offsets (any thread): a copy
     * rebuilt by the loop thread (kafka__offsets_publish) when pub_dirty is set. pub_mu
     * guards pub and npub only. */
    pthread_mutex_t pub_mu;
    /* Compaction of the offsets log (kafka_offsets.c): its thread sleeps on compact_cv
     * between passes; compact_stop (under compact_mu) ends it. */
    pthread_t compact_thread;
    bool compact_running;
    pthread_mutex_t compact_mu;
    pthread_cond_t compact_cv;
    bool compact_stop;
    kafka_committed_offset *pub;
    size_t npub;
    bool pub_dirty;
    /* Cold Fetch warming (kafka_warm.c): warm_mu guards warm_queue, warm_nqueued, warm_done
     * and warm_stop; the threads sleep on warm_cv; warm_w tells the loop jobs are done. */
    pthread_t warm_threads[KAFKA_WARM_THREADS_MAX];
    size_t nwarm_threads;
    pthread_mutex_t warm_mu;
    pthread_cond_t warm_cv;
    kafka_warm_job *warm_queue, *warm_queue_tail, *warm_done, *warm_progress;
    size_t warm_nqueued;
    _Atomic bool warm_stop;
    ev_async warm_w;
    struct {
        _Atomic uint64_t connections_accepted, connections_open, accept_pauses, protocol_errors,
            requests, fetch_parked, fetch_parked_now, fetch_woken, fetch_expired,
            fetch_record_bytes, produce_refused, groups, members, rebalances, offset_commits,
            offset_commit_syncs, offsets_compacted, fetch_cold, fetch_warm_ns,
            fetch_sendfile_bytes;
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
/* Queues s (bytes of the log's mapping, not copied) at the current position of the response,
 * with the log_read pin that keeps it mapped (may be NULL), and when fd >= 0 the same bytes
 * as the file range [fpos, fpos + s.len) of fd (log_read.fd/file_pos), then sent with
 * sendfile unless opts.fetch_no_sendfile. Returns 0: the queue owns pin (an empty s is not
 * queued and its pin is released); or -ENOMEM: the caller keeps pin. */
int kafka__resp_slice(kafka_conn *conn, rl_slice s, struct log_segment *pin, int fd,
                      uint64_t fpos);
/* Releases one log_store_read pin (NULL is fine) and, when fd >= 0, the read descriptor use
 * log_read_fd took with it. */
void kafka__pin_release(struct log_segment *pin, int fd);
/* Patches the size field and hands the response to the output queue. Returns 0, -ENOMEM (the
 * response is dropped) or RL_ETOOBIG (above 2 GiB; dropped). */
int kafka__resp_end(kafka_conn *conn, rl_err *err);
/* Drops the response under construction (malformed request, acks=0 Produce). */
void kafka__resp_abort(kafka_conn *conn);

/* A group or offsets request waits: the connection stops being read until kafka__wait_done.
 * member is what it waits on (may be NULL). */
void kafka__wait_begin(kafka_conn *conn, int wait, kafka_member *member);
/* The waiting request has been answered (its response built with kafka__resp_*): the
 * connection is resumed from the loop's prepare phase, not from the caller's stack. */
void kafka__wait_done(kafka_conn *conn);
/* Asks for on_ready to run before the loop next blocks (a group commit is pending). */
void kafka__ready_kick(kafka_server_t *srv);

/* Parks the connection's Fetch for up to max_wait_ms: stops reading, starts the timer, links
 * the connection on the parked list. kafka__fetch_resume is called on notify and at expiry. */
void kafka__park(kafka_conn *conn, int32_t max_wait_ms);

/* Fuzzing and tests: handles bytes as if a client had sent them on a new connection with no
 * socket: every complete frame is processed as on a real connection (responses built, then
 * dropped instead of sent), waiting requests answered as the loop's prepare phase would,
 * then the connection is closed as on a client hang-up. Returns 0, or the negative code for
 * which a real connection would have been closed (the reason is logged). Loop thread. */
int kafka__feed(kafka_server_t *srv, rl_slice bytes);

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
/* Flexible versions (KIP-482): compact strings and arrays, tagged fields. Compact string:
 * uvarint (length + 1), 0 = null; compact array: uvarint (count + 1). kafka__get_cstr returns
 * false (reader error set) when malformed, short or null where not nullable;
 * kafka__get_ccount returns the count, -1 (null, only when nullable) or -2 (reader error). */
bool kafka__get_cstr(rl_reader *rd, bool nullable, rl_slice *out);
int32_t kafka__get_ccount(rl_reader *rd, bool nullable);
/* Skips a tagged-field section; false (reader error set) when malformed. */
bool kafka__skip_tags(rl_reader *rd);
/* A string in the request's encoding: compact when flexible (NULL p: null). */
void kafka__put_fstr(rl_buf *b, bool flexible, rl_slice s);
/* Bytes (int32 length, or uvarint length + 1 when flexible) and array counts likewise. */
void kafka__put_fbytes(rl_buf *b, bool flexible, rl_slice s);
void kafka__put_fcount(rl_buf *b, bool flexible, uint32_t n);
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

/* Per-request bounds: RL_ETOOBIG (err names the count and the bound) when ntopics is above
 * KAFKA_MAX_REQ_TOPICS, nparts (all topics so far) above KAFKA_MAX_REQ_PARTITIONS or
 * resp_bytes (the response body built so far) above KAFKA_MAX_RESP_BYTES; else 0. */
int kafka__bound(int64_t ntopics, int64_t nparts, size_t resp_bytes, rl_err *err);
/* Body bytes of the response under construction. */
size_t kafka__resp_len(const kafka_conn *conn);

/* Reads an array count: >= 0, or -1 when nullable. Returns the count (-1 for null) or -2
 * with the reader's error set. */
int32_t kafka__get_count(rl_reader *rd, bool nullable);

/* The I/O pool warmed more of conn's queued Fetch response (done: all of it, and conn->warm
 * was cleared): sends what may now be sent and, once done, goes on with the connection
 * (kafka_server.c; kafka_warm.c calls it on the loop). May close conn. */
void kafka__conn_warmed(kafka_conn *conn, bool done);

/* ------------------------------------------------------------------ kafka_warm.c */

/* Starts srv->nwarm_threads I/O threads (opts.fetch_warm_threads; none when it is -1) and
 * warm_w on the loop. Returns 0 or -errno (pthread_create; nothing left running). */
int kafka__warm_start(kafka_server_t *srv, rl_err *err);
/* Stops and joins the threads (a running job stops between pages), stops warm_w and frees
 * every job left, releasing the pins of orphaned ones. Loop thread, after every connection
 * closed. */
void kafka__warm_stop(kafka_server_t *srv);
/* Residency check of the record parts of the response just queued (output parts from index
 * first on; mincore(2), one call per part of up to 16 MiB): when a page is not in the page
 * cache and the pool runs, queues a job for those parts, marks them (warm_at) and sets
 * conn->warm; conn_flush then sends them only as far as they are warm. Returns true then;
 * false: nothing to wait for (all resident, no pool, queue full, or -ENOMEM). */
bool kafka__warm_begin(kafka_conn *conn, size_t first);
/* The connection closes while its response is warmed: the job takes the pins of the queued
 * parts it warms (the caller then releases the other parts only) and is freed when the
 * thread is done with it. */
void kafka__warm_conn_gone(kafka_conn *conn);

/* ------------------------------------------------------------------ hash table */

/* Key hash (murmur2). */
uint32_t kafka__hash(const void *p, size_t n);
/* Finds the node with this hash for which eq(node, key) holds; NULL when absent. */
kafka_hnode *kafka__htab_find(const kafka_htab *t, uint32_t hash,
                              bool (*eq)(const kafka_hnode *n, const void *key),
                              const void *key);
/* Inserts n (n->hash set by the caller). Returns 0 or -ENOMEM (n not inserted). */
int kafka__htab_insert(kafka_htab *t, kafka_hnode *n);
/* Removes n, which must be in t. */
void kafka__htab_remove(kafka_htab *t, kafka_hnode *n);
/* Calls fn on every node (fn may remove the node it is given, nothing else). */
void kafka__htab_each(kafka_htab *t, void (*fn)(kafka_hnode *n, void *ctx), void *ctx);
void kafka__htab_free(kafka_htab *t);

/* ------------------------------------------------------------------ kafka_group.c */

/* Request handlers; same returns as kafka__request. */
int kafka__find_coordinator(kafka_conn *conn, rl_err *err);
int kafka__join_group(kafka_conn *conn, rl_err *err);
int kafka__sync_group(kafka_conn *conn, rl_err *err);
int kafka__heartbeat(kafka_conn *conn, rl_err *err);
int kafka__leave_group(kafka_conn *conn, rl_err *err);
int kafka__list_groups(kafka_conn *conn, rl_err *err);
int kafka__describe_groups(kafka_conn *conn, rl_err *err);
/* The connection closes while waiting in a group: forget it (the member stays until its
 * session times out, as in Kafka). */
void kafka__group_conn_gone(kafka_conn *conn);
/* Finds a group; creates it (empty) when create is set. NULL when absent or out of memory. */
kafka_group *kafka__group_get(kafka_server_t *srv, rl_slice name, bool create);
/* Checks an OffsetCommit's (generation, member) against the group, as Kafka does; returns a
 * Kafka error code (0: accepted; the member's session is refreshed). group may be NULL. */
int16_t kafka__group_commit_check(kafka_group *group, int32_t generation, rl_slice member_id);
/* Frees the group when it has no members, pending members or committed offsets. */
void kafka__group_maybe_free(kafka_group *group);
/* Stops every group timer and frees all groups (server stop; connections already closed). */
void kafka__groups_free(kafka_server_t *srv);
/* The group's table of committed offsets (kafka_offsets.c owns its entries). */
kafka_htab *kafka__group_offsets(kafka_group *group);
rl_slice kafka__group_name(const kafka_group *group);

/* ------------------------------------------------------------------ kafka_offsets.c */

/* Opens the offsets store in opts.offsets_dir (when set) and replays it into the groups'
 * committed offsets. Returns 0, or the store's error (message names the file and offset). */
int kafka__offsets_open(kafka_server_t *srv, rl_err *err);
/* Closes the offsets store. */
void kafka__offsets_close(kafka_server_t *srv);
int kafka__offset_commit(kafka_conn *conn, rl_err *err);
int kafka__offset_fetch(kafka_conn *conn, rl_err *err);
/* Makes the appended offsets durable (one commit for every waiting request) and answers the
 * waiters. Called by on_ready. */
void kafka__offsets_flush(kafka_server_t *srv);
/* The connection closes while its OffsetCommit waits: unlink it. */
void kafka__offsets_conn_gone(kafka_conn *conn);
/* Frees a group's committed offsets. */
void kafka__offsets_free(kafka_htab *offsets);
/* Committed offsets or group membership changed: the published copy is rebuilt before the
 * loop next blocks (on_ready). */
void kafka__offsets_changed(kafka_server_t *srv);
/* Rebuilds the published copy of every committed offset when pub_dirty is set. A failed
 * allocation keeps the previous copy (and pub_dirty, to try again). */
void kafka__offsets_publish(kafka_server_t *srv);
/* Number of members of a group (kafka_group.c). */
size_t kafka__group_nmembers(const kafka_group *group);

#endif /* KAFKA_INT_H */
