/*
 * rowlogd_int.h - private to the rowlogd daemon (server/rowlogd*.c): its options and the
 * source thread that reads the binlog, decodes it and appends to the log.
 */
#ifndef ROWLOGD_INT_H
#define ROWLOGD_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "log/log.h"
#include "reader/binlog.h"
#include "server/kafka.h"

typedef struct rowlogd_opts {
    binlog_source_opts source;
    bool have_source;
    char data_dir[4096];
    char listen_host[256];
    unsigned listen_port;
    char topic_prefix[128];
    log_store_opts log;
    log_topic_config topic_defaults; /* retention and cleanup of every topic (log.topic_defaults
                                        points here) */
    int log_level;
    unsigned commit_interval_ms; /* longest a committed transaction waits for its fsync while
                                    the primary keeps sending (group commit) */
} rowlogd_opts;

/* Parses argv (and the --config file, whose keys are the long option names without "--";
 * command-line options win). Prints usage and returns 1 for --help, returns RL_ECONFIG with
 * err set on a bad option, 0 otherwise. */
int rowlogd_opts_parse(rowlogd_opts *opts, int argc, char **argv, rl_err *err);

/* The source thread: owns the replication connection and the decoder; the only writer of the
 * log store. */
typedef struct rowlogd_source {
    const rowlogd_opts *opts;
    log_store_t *store;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;   /* guards conn between the thread and rowlogd_source_stop */
    pthread_cond_t wake;    /* signalled by rowlogd_source_stop (ends a reconnect backoff) */
    binlog_conn_t *conn;
    uint64_t reconnects;    /* connections re-established after a loss */
    int result;             /* 0 after a requested stop, else the error that ended it */
    rl_err err;
    void (*on_exit)(void *ctx); /* called from the thread when it ends (any reason) */
    void *on_exit_ctx;
} rowlogd_source;

/* Starts the thread. Returns 0 or -errno. */
int rowlogd_source_start(rowlogd_source *src);
/* Any thread: asks the source thread to stop after its last complete transaction. */
void rowlogd_source_stop(rowlogd_source *src);
/* Waits for the thread; returns its result (err filled). */
int rowlogd_source_join(rowlogd_source *src);

#endif
