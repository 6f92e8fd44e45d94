/*
 * kafka.h - server/: the Kafka wire protocol served from rowlog's log on a libev loop.
 *
 * APIs (see docs/FORMAT.md and Kafka's protocol guide, message schemas in apache/kafka
 * clients/src/main/resources/common/message/): ApiVersions 0-3, Metadata 1-4, ListOffsets 1-2,
 * Fetch 4-11 (long-poll up to the client's max wait), Produce 3-7 advertised but refused (the
 * log is written only by the binlog reader).
 *
 * Threading: everything runs on the loop's thread except kafka_server_notify(), which any
 * thread may call (it wakes the loop with an ev_async).
 */
#ifndef KAFKA_H
#define KAFKA_H

#include "../common/rl.h"
#include "../log/log.h"

struct ev_loop;

typedef struct kafka_server_opts {
    char listen_host[256];       /* default "127.0.0.1" */
    unsigned listen_port;        /* default 9092; 0 = any free port (see kafka_server_port) */
    char advertised_host[256];   /* host given in Metadata; default listen_host */
    int32_t node_id;             /* default 0 */
    size_t max_request_bytes;    /* larger requests close the connection; default 100 MiB */
    size_t max_connections;      /* accept pauses above this; default 4096 */
} kafka_server_opts;

typedef struct kafka_server kafka_server_t;

/* Binds, listens and registers its watchers on loop. store must outlive the server.
 * Returns 0, -errno (bind/listen; message names the address), -ENOMEM. */
int kafka_server_start(kafka_server_t **out, struct ev_loop *loop, log_store_t *store,
                       const kafka_server_opts *opts, rl_err *err);
/* Port actually bound (useful with listen_port 0). */
unsigned kafka_server_port(const kafka_server_t *srv);
/* Any thread: new records were committed; parked fetches re-check their partitions. */
void kafka_server_notify(kafka_server_t *srv);
/* Loop thread: closes every connection and the listener, stops all watchers, frees. */
void kafka_server_stop(kafka_server_t *srv);

#endif /* KAFKA_H */
