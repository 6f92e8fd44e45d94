/*
 * rowlogd.c - the rowlog daemon: options, the serving loop and shutdown.
 *
 * Two threads: the source thread (rowlogd_source.c) reads the primary's binlog, decodes it
 * and appends to the log; the main thread runs the libev loop that serves Kafka clients.
 * They meet in the log store: the writer publishes high watermarks, the commit hook wakes
 * parked fetches through kafka_server_notify (an ev_async). Beside them (--http): the HTTP
 * endpoint's thread (rowlogd_http.c: metrics and health) and the primary poller
 * (rowlogd_poller.c), which only read what the others publish.
 *
 * Shutdown: SIGTERM/SIGINT ask the source thread to stop at its last complete transaction;
 * when it has ended the loop stops, the server closes its connections and the log is closed.
 * A source error (an event that cannot be decoded, a lost primary) also stops the daemon,
 * with the error logged and exit status 1. The endpoint goes down with it: a supervisor
 * restarting rowlogd and alerting on the exit (and `up == 0` in Prometheus) is the signal;
 * a daemon that stayed up serving metrics without capturing would only hide the outage.
 * A purged start position (error 1236) is such an error: it names the remedy (a new
 * snapshot, or a fresh --data-dir), which no restart can replace.
 */
#include "server/rowlogd_int.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ------------------------------------------------------------------ daemon */

/* The compaction thread (log_store_compact's one maintenance thread): a pass every 10 s
 * when some topic's cleanup policy includes compact; it never blocks appends or fetches. */
typedef struct compactor {
    log_store_t *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
} compactor;

static void *compactor_main(void *arg)
{
    compactor *c = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->lock);
        rl_err err = {0};
        int n = log_store_compact(c->store, rl_now_ms(), &err);
        if (n < 0)
            rl_warn("compaction: %s", err.msg);
        else if (n > 0)
            rl_info("compaction rewrote %d segments", n);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

typedef struct daemon_ctx {
    struct ev_loop *loop;
    ev_async source_ended;
    ev_signal sigterm, sigint;
    rowlogd_source src;
    kafka_server_t *srv;
    bool stopping;
} daemon_ctx;

static void on_source_exit(void *ctx)
{
    daemon_ctx *d = ctx;
    ev_async_send(d->loop, &d->source_ended);
}

static void on_source_ended(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    daemon_ctx *d = w->data;
    (void)loop;
    (void)revents;
    if (!d->stopping) {
        rl_info("signal %d: stopping after the last complete transaction", w->signum);
        d->stopping = true;
    }
    rowlogd_source_stop(&d->src);
}

static void on_commit_hook(void *ctx)
{
    daemon_ctx *d = ctx;
    atomic_store_explicit(&d->src.stats.last_durable_ms, rl_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&d->src.stats.undurable_since_ms, 0, memory_order_relaxed);
    if (d->srv)
        kafka_server_notify(d->srv);
}

int main(int argc, char **argv)
{
    rowlogd_opts opts;
    rl_err err = {0};
    int rc = rowlogd_opts_parse(&opts, argc, argv, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "rowlogd: %s\n", err.msg);
        return 2;
    }
    rl_log_set_level(opts.log_level);
    signal(SIGPIPE, SIG_IGN);
    /* The log keeps one descriptor per partition and the server one per client: take the
     * whole hard limit rather than fail at the soft one (often 1024). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) != 0)
            rl_warn("cannot raise the open-file limit: %s", strerror(errno));
    }

    log_store_t *store = NULL;
    rc = log_store_open(&store, opts.data_dir, &opts.log, &err);
    if (rc != 0) {
        rl_error("cannot open the log in %s: %s", opts.data_dir, err.msg);
        return 1;
    }

    daemon_ctx d;
    memset(&d, 0, sizeof d);
    d.loop = ev_default_loop(EVFLAG_AUTO);
    kafka_server_opts kopts;
    kafka_server_opts_init(&kopts);
    snprintf(kopts.listen_host, sizeof kopts.listen_host, "%s", opts.listen_host);
    kopts.listen_port = opts.listen_port;
    /* Consumer groups' committed offsets live in a log of the server's own, beside the main
     * log (which has a single writer: the source thread). */
    if (snprintf(kopts.offsets_dir, sizeof kopts.offsets_dir, "%s/__consumer_offsets",
                 opts.data_dir) >= (int)sizeof kopts.offsets_dir) {
        rl_error("--data-dir is too long");
        goto fail_store;
    }
    rc = kafka_server_start(&d.srv, d.loop, store, &kopts, &err);
    if (rc != 0) {
        rl_error("cannot start the Kafka listener: %s", err.msg);
        goto fail_store;
    }
    rl_info("listening on %s:%u (Kafka protocol), log in %s", opts.listen_host,
            kafka_server_port(d.srv), opts.data_dir);
    log_store_set_commit_hook(store, on_commit_hook, &d);

    ev_async_init(&d.source_ended, on_source_ended);
    ev_async_start(d.loop, &d.source_ended);
    ev_signal_init(&d.sigterm, on_signal, SIGTERM);
    ev_signal_init(&d.sigint, on_signal, SIGINT);
    d.sigterm.data = d.sigint.data = &d;
    ev_signal_start(d.loop, &d.sigterm);
    ev_signal_start(d.loop, &d.sigint);

    d.src.opts = &opts;
    d.src.store = store;
    d.src.on_exit = on_source_exit;
    d.src.on_exit_ctx = &d;
    rowlogd_source_init(&d.src);
    rowlogd_poller poller;
    bool poller_started = false;
    rowlogd_http *http = NULL;
    if (opts.http_enabled) {
        rc = rowlogd_poller_start(&poller, &opts);
        if (rc != 0)
            rl_warn("cannot start the primary poller: %s (no head position metrics)",
                    rl_strerror(rc));
        poller_started = rc == 0;
        rowlogd_view view = {.opts = &opts,
                             .store = store,
                             .srv = d.srv,
                             .src = &d.src,
                             .poller = poller_started ? &poller : NULL};
        rc = rowlogd_http_start(&http, &view, &err);
        if (rc != 0 && !opts.http_explicit) {
            /* The default address may be taken (another rowlogd, node_exporter's 9100):
             * capture anyway, without the endpoint. */
            rl_warn("cannot start the HTTP endpoint: %s; running without metrics (set "
                    "--http HOST:PORT, or --http off)",
                    err.msg);
            rc = 0;
        } else if (rc != 0) {
            rl_error("cannot start the HTTP endpoint: %s", err.msg);
            goto fail_source;
        }
        if (http) {
            rl_info("metrics on http://%s:%u/metrics", opts.http_host, rowlogd_http_port(http));
        } else if (poller_started) {
            rowlogd_poller_stop(&poller);
            poller_started = false;
        }
    }
    rc = rowlogd_source_start(&d.src);
    if (rc != 0) {
        rl_error("cannot start the source thread: %s", rl_strerror(rc));
        goto fail_source;
    }
    compactor comp = {.store = store};
    bool comp_started = false;
    if (opts.topic_defaults.cleanup & LOG_CLEANUP_COMPACT) {
        pthread_mutex_init(&comp.lock, NULL);
        pthread_cond_init(&comp.wake, NULL);
        comp_started = pthread_create(&comp.thread, NULL, compactor_main, &comp) == 0;
        if (!comp_started)
            rl_warn("cannot start the compaction thread: compaction will not run");
    }
    ev_run(d.loop, 0);

    rowlogd_source_stop(&d.src);
    rc = rowlogd_source_join(&d.src);
    if (comp_started) {
        pthread_mutex_lock(&comp.lock);
        comp.stop = true;
        pthread_cond_signal(&comp.wake);
        pthread_mutex_unlock(&comp.lock);
        pthread_join(comp.thread, NULL);
    }
    /* The endpoint reads the server, the store and the source's stats: it goes first. */
    rowlogd_http_stop(http);
    if (poller_started)
        rowlogd_poller_stop(&poller);
    ev_signal_stop(d.loop, &d.sigterm);
    ev_signal_stop(d.loop, &d.sigint);
    ev_async_stop(d.loop, &d.source_ended);
    kafka_server_stop(d.srv);
    d.srv = NULL;
    log_store_close(store);
    rowlogd_source_destroy(&d.src);
    if (rc != 0) {
        rl_error("rowlogd stopped on an error: %s", d.src.err.msg);
        return 1;
    }
    rl_info("rowlogd stopped cleanly");
    return 0;

    /* Start-up failures: what was started, in reverse order (the watchers end with the
     * process). */
fail_source:
    rowlogd_http_stop(http);
    if (poller_started)
        rowlogd_poller_stop(&poller);
    rowlogd_source_destroy(&d.src);
    kafka_server_stop(d.srv);
fail_store:
    log_store_close(store);
    return 1;
}
