/*
 * kafka.h - server/: the Kafka wire protocol served from rowlog's log on a libev loop.
 *
 * APIs (layouts in server/kafka_api.c, kafka_fetch.c and docs/format-kafka.md; message schemas
 * in apache/kafka clients/src/main/resources/common/message/, one JSON file per message; Kafka
 * protocol guide): ApiVersions 0-3, Metadata 1-4, ListOffsets 1-2, Fetch 4-11 (long-poll up to
 * the client's max wait), Produce 3-7 advertised (librdkafka needs it to use RecordBatch v2)
 * but refused: every partition is answered with POLICY_VIOLATION (44), because the log is
 * written only by the binlog reader. Consumer groups (kafka_group.c): FindCoordinator 0-2,
 * JoinGroup 0-5, SyncGroup 0-3, Heartbeat 0-3, LeaveGroup 0-3, this node coordinating every
 * group; committed offsets (kafka_offsets.c): OffsetCommit 2-7, OffsetFetch 1-5, durable in
 * a log store of the server's own under opts.offsets_dir (opened by kafka_server_start,
 * written only by the loop thread, replayed at start; its topic is cleanup.policy=compact
 * and a thread of the server's own runs log_store_compact on it every
 * offsets_compact_interval_ms, so it keeps about one record per committed partition), or in
 * memory when that is empty.
 *
 * Connections: non-blocking sockets; one request processed at a time per connection, responses
 * in request order; a connection stops being read while a Fetch is parked or while its output
 * queue holds more than 1 MiB (backpressure). Fetch record bytes are sent straight from the
 * log's mapping (no copy); when some of them are not in the page cache (mincore), one of
 * the server's I/O threads faults them in first while the loop serves other connections
 * (the fetching connection waits, responses stay in order; kafka_warm.c). A request that
 * is oversized, malformed or of an unsupported API key or version closes its connection
 * with a logged reason; the server goes on. So does
 * one above the per-request bounds (kafka_int.h): more than 10,000 topics or 100,000
 * partitions in a Metadata, ListOffsets, Fetch, Produce, OffsetCommit or OffsetFetch, more
 * than 1,000 groups in a DescribeGroups, or a response body above 64 MiB (records aside).
 * Group listing: ListGroups 0-4 and DescribeGroups 0-5 (kafka_group.c).
 *
 * Threading: everything runs on the loop's thread except kafka_server_notify(),
 * kafka_server_stats_get() and kafka_server_committed_offsets(), which any thread may call.
 * The server starts threads of its own: the offsets compactor and fetch_warm_threads I/O
 * threads that only read the log's mapping (joined by kafka_server_stop).
 * Fetch records go on the wire zero-copy: the response header with sendmsg(MSG_MORE), then
 * the segment bytes with sendfile(2) from the descriptor log_store_read gives (see
 * kafka_server.c, "Life of a connection"). sendfile has no MSG_NOSIGNAL: unless the process ignores
 * SIGPIPE (checked at kafka_server_start), the loop thread blocks it around each flush.
 * Ownership: the server borrows the loop and the store; both must outlive it, and the store
 * must stay open until kafka_server_stop() returned (queued responses hold log_store_read
 * pins of its segments, released as they are sent and at the latest by kafka_server_stop).
 */
#ifndef KAFKA_H
#define KAFKA_H

#include "../common/rl.h"
#include "../log/log.h"

struct ev_loop;

/*
 * Options. A zeroed struct is valid: empty strings and zero sizes take the defaults below,
 * except listen_port, where 0 means "any free port" (kafka_server_opts_init sets 9092).
 */
typedef struct kafka_server_opts {
    char listen_host[256];       /* default "127.0.0.1"; a name or a numeric IPv4/IPv6 address */
    unsigned listen_port;        /* default 9092; 0 = any free port (see kafka_server_port) */
    char advertised_host[256];   /* host given in Metadata; default listen_host, or for a
                                    wildcard listen_host (0.0.0.0, ::) the local address the
                                    client reached */
    int32_t node_id;             /* default 0 */
    size_t max_request_bytes;    /* larger requests close the connection; default 100 MiB */
    size_t max_connections;      /* accept pauses above this; default 4096 */
    int32_t group_min_session_ms; /* JoinGroup session timeouts outside [min, max] get
                                     INVALID_SESSION_TIMEOUT; defaults 6000 and 1800000 (ms),
                                     Kafka's group.min/max.session.timeout.ms */
    int32_t group_max_session_ms;
    char offsets_dir[4096];      /* directory of the committed-offsets log (a log_store of its
                                    own, e.g. "<data-dir>/__consumer_offsets"), created if
                                    absent; empty = committed offsets kept in memory only
                                    (lost at stop) */
    uint64_t offsets_segment_bytes;   /* segment size of the offsets log (bytes); default
                                         8 MiB, at least 1 MiB. Only sealed segments are
                                         compacted, so this bounds what compaction leaves */
    uint32_t offsets_compact_interval_ms; /* a compaction pass over the offsets log this often
                                         (ms, on a thread of the server's own); default
                                         60000 */
    int fetch_warm_threads;      /* I/O threads that fault cold Fetch reads into the page
                                    cache before the loop sends them (so a read from disk
                                    never stalls the loop for other connections); 0 = default
                                    2, at most 8; -1 = none: cold record bytes are sent from
                                    the loop, which blocks while the kernel reads them */
    bool fetch_no_sendfile;      /* send Fetch record bytes with sendmsg from the log's
                                    mapping instead of sendfile(2) from the segment file
                                    (the default; for measurements and as a fallback) */
} kafka_server_opts;

/* Fills opts with the defaults above (listen_port 9092). */
void kafka_server_opts_init(kafka_server_opts *opts);

typedef struct kafka_server kafka_server_t;

/* Opens the offsets store (opts.offsets_dir, when set) and replays it, then binds, listens
 * and registers its watchers on loop. store must outlive the server.
 * Returns 0, -errno (bind/listen; message names the address; or opening the offsets
 * store), -EBUSY (the offsets directory is used by another server), RL_ECONFIG (the host
 * does not resolve), RL_ECORRUPT (the offsets store is damaged: message names file and
 * offset), -ENOMEM. On failure nothing is left registered on the loop and nothing open. */
int kafka_server_start(kafka_server_t **out, struct ev_loop *loop, log_store_t *store,
                       const kafka_server_opts *opts, rl_err *err);
/* Port actually bound (useful with listen_port 0). */
unsigned kafka_server_port(const kafka_server_t *srv);
/* Any thread: new records were committed; parked fetches re-check their partitions.
 * Cheap (an ev_async_send; calls between two loop iterations coalesce), so it is meant to be
 * called from the log's commit hook (log_store_set_commit_hook). Must not be called once
 * kafka_server_stop() may have started (stop the writer thread, or clear the hook, first). */
void kafka_server_notify(kafka_server_t *srv);
/* Loop thread: closes every connection and the listener, stops all watchers, closes the
 * offsets store, frees. OffsetCommits not yet answered were not acknowledged (their records
 * may or may not be durable). srv may be NULL. */
void kafka_server_stop(kafka_server_t *srv);

/* Counters since start; each is read atomically (relaxed), so a snapshot taken from another
 * thread is consistent per counter, not across counters. */
typedef struct kafka_server_stats {
    uint64_t connections_accepted;
    uint64_t connections_open;
    uint64_t accept_pauses;         /* times accepting paused (max_connections reached, or
                                       EMFILE/ENFILE/ENOBUFS/ENOMEM from accept) */
    uint64_t protocol_errors;       /* connections closed for an oversized, malformed or
                                       unsupported request */
    uint64_t requests;              /* requests answered (or, for acks=0 Produce, consumed) */
    uint64_t fetch_parked;          /* Fetch requests parked for long-poll, in total */
    uint64_t fetch_parked_now;      /* Fetch requests parked at this moment */
    uint64_t fetch_woken;           /* parked fetches answered after kafka_server_notify */
    uint64_t fetch_expired;         /* parked fetches answered when their max wait ran out */
    uint64_t fetch_record_bytes;    /* RecordBatch bytes sent in Fetch responses */
    uint64_t produce_refused;       /* Produce partitions answered with POLICY_VIOLATION */
    uint64_t groups;                /* consumer groups known at this moment */
    uint64_t members;               /* group members at this moment */
    uint64_t rebalances;            /* join phases completed (generations started) */
    uint64_t offset_commits;        /* partition offsets committed */
    uint64_t offset_commit_syncs;   /* durable commits of the offsets log */
    uint64_t offsets_compacted;     /* segments of the offsets log rewritten by compaction */
    uint64_t fetch_cold;            /* Fetch responses whose record bytes were not all in the
                                       page cache (mincore) and were warmed by an I/O thread
                                       before being sent */
    uint64_t fetch_warm_ns;         /* total time those responses waited for warming (ns,
                                       from handing them to the I/O threads to the loop
                                       learning the last chunk was warm; the first chunk
                                       is sent as soon as it is warm) */
    uint64_t fetch_sendfile_bytes;  /* Fetch record bytes sent with sendfile(2) (the rest
                                       of fetch_record_bytes went from the mapping) */
} kafka_server_stats;

/* Any thread: copies the counters into out. */
void kafka_server_stats_get(const kafka_server_t *srv, kafka_server_stats *out);

/* One committed offset of a consumer group, as kafka_server_committed_offsets lists it. */
typedef struct kafka_committed_offset {
    char group[256];   /* group id, NUL-terminated (ids longer than 255 bytes are cut) */
    char topic[256];   /* topic name, NUL-terminated */
    int32_t partition;
    int64_t offset;    /* log offset committed: the next record the group will read */
    int64_t commit_ms; /* wall-clock time of the commit (ms since the Unix epoch) */
    uint32_t members;  /* current members of the group (0: empty, no consumer running) */
} kafka_committed_offset;

/* Any thread: every committed offset, one entry per (group, topic, partition), sorted by
 * group, topic and partition. *out receives a malloc'd array of *n entries that the caller
 * frees with free(*out) (NULL when *n is 0). The list is a copy the loop thread publishes
 * under a mutex when offsets are committed or replayed and when group membership changes
 * (before the loop next blocks), never per fetch: it may lag the loop by one iteration.
 * Returns 0 or -ENOMEM (*out NULL, *n 0). */
int kafka_server_committed_offsets(kafka_server_t *srv, kafka_committed_offset **out,
                                   size_t *n);

#endif /* KAFKA_H */
