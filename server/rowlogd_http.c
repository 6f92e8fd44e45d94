/*
 * rowlogd_http.c - rowlogd's HTTP endpoint, served by libmicrohttpd's internal polling
 * thread (one thread, apart from the source and the Kafka loop):
 *
 *   GET /metrics        Prometheus text format 0.0.4 (rowlogd_metrics.c)
 *   GET /health/live    200 {"status":"live"} while the process runs
 *   GET /health/ready   200 {"status":"ready","phase":"streaming"} when the source is
 *                       connected and the log writable, 200 {"status":"ready","phase":
 *                       "snapshot"} while the initial snapshot is read (the log serves
 *                       consumers meanwhile: docs/metrics.md says why this is ready); else
 *                       503 {"status":"not ready","reason":"..."}
 *   GET /v1/offsets?topic=T&gtid=G
 *                       200 {"topic":"T","gtid":"G","partitions":[{"partition":0,
 *                       "offset":N},...]}: per partition the first offset of transaction G or
 *                       of the first one after it in G's domain (log_store_offset_for_gtid);
 *                       404 unknown topic; 400 missing parameter or malformed GTID (the
 *                       reason in {"status":"error","reason":"..."}); 500 an index unreadable
 *
 *   POST /v1/snapshots?tables=db.t1,db.t2
 *                       an on-demand snapshot of the tables while streaming (docs/snapshots.md
 *                       "On demand"): validated (rowlogd_ondemand_validate: one short
 *                       connection to the source per table), then stored durably by the
 *                       source thread at its next transaction boundary; 202 {"status":
 *                       "accepted","tables":[...]}. Errors as {"status":"error","reason":..}:
 *                       400 malformed, 404 no such table (or filtered out), 422 no usable key
 *                       or GTIDs off, 502 the source refused or is unreachable, 503 not
 *                       stored within 30 s (not streaming: the request stays queued)
 *   GET /v1/snapshots   200 {"running":bool,"tables":[{"table":"db.t","rows_read":N,
 *                       "rows_estimated":N,"chunks":N,"rows_dropped":N,"done":bool},...]}
 *
 * Anything else is 404 (unknown path) or 405 (a method other than GET or HEAD, except the
 * POST above). Requests carry no body (a POST's arguments are in its query string).
 *
 * Threading: one thread per connection (libmicrohttpd's MHD_USE_THREAD_PER_CONNECTION; at
 * most 64 connections, 10 s idle timeout), so a POST /v1/snapshots, which waits on the
 * primary (validation) and on the source thread (storing the request, up to 30 s), never
 * delays /health/live, /health/ready or /metrics. POSTs are served one at a time: another one meanwhile gets
 * 429. Every value a GET serves was published by another thread (atomics, or the lock of
 * what it reads): a GET never waits on the primary or on the log's writer.
 */
#include "server/rowlogd_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct rowlogd_http {
    rowlogd_view view;
    struct MHD_Daemon *mhd;
    unsigned port;
    pthread_mutex_t post_lock; /* held while a POST /v1/snapshots is served */
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *content_type, const void *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result respond_json_status2(struct MHD_Connection *conn, unsigned status,
                                            const char *state, const char *phase,
                                            const char *reason)
{
    rl_buf b = RL_BUF_INIT;
    rl_buf_puts(&b, "{\"status\":");
    rl_buf_json_str(&b, state, strlen(state));
    if (phase) {
        rl_buf_puts(&b, ",\"phase\":");
        rl_buf_json_str(&b, phase, strlen(phase));
    }
    if (reason) {
        rl_buf_puts(&b, ",\"reason\":");
        rl_buf_json_str(&b, reason, strlen(reason));
    }
    rl_buf_puts(&b, "}\n");
    enum MHD_Result r =
        rl_buf_ok(&b) ? respond(conn, status, "application/json", b.p, b.len) : MHD_NO;
    rl_buf_free(&b);
    return r;
}

static enum MHD_Result respond_json_status(struct MHD_Connection *conn, unsigned status,
                                           const char *state, const char *reason)
{
    return respond_json_status2(conn, status, state, NULL, reason);
}

/* Readiness gates traffic to the Kafka port: consumers can read (and commit offsets) while
 * a snapshot fills the log, so a running snapshot is ready, with the phase said. A snapshot
 * of a large table can take hours; a 503 for all that time would take rowlogd out of its
 * service for no benefit and make a restart loop likely where the probe has a threshold. */
static enum MHD_Result serve_ready(rowlogd_http *h, struct MHD_Connection *conn)
{
    rowlogd_source_stats *st = &h->view.src->stats;
    log_store_stats ls;
    log_store_stats_get(h->view.store, &ls);
    char reason[700];
    if (ls.error != 0) {
        snprintf(reason, sizeof reason, "the log refuses writes: %s", rl_strerror(ls.error));
    } else if (!atomic_load(&st->running)) {
        rowlogd_source_position pos;
        rowlogd_source_stats_position(st, &pos);
        snprintf(reason, sizeof reason, "the source stopped%s%s", pos.last_error ? ": " : "",
                 pos.last_error ? pos.last_error_msg : "");
    } else if (atomic_load(&st->snapshot_running) && !atomic_load(&st->connected)) {
        return respond_json_status2(conn, MHD_HTTP_OK, "ready", "snapshot", NULL);
    } else if (!atomic_load(&st->connected)) {
        rowlogd_source_position pos;
        rowlogd_source_stats_position(st, &pos);
        snprintf(reason, sizeof reason, "not connected to the source%s%s",
                 pos.last_error ? ": " : "", pos.last_error ? pos.last_error_msg : "");
    } else {
        return respond_json_status2(conn, MHD_HTTP_OK, "ready", "streaming", NULL);
    }
    return respond_json_status(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready", reason);
}

static enum MHD_Result serve_metrics(rowlogd_http *h, struct MHD_Connection *conn)
{
    rl_buf b = RL_BUF_INIT;
    int rc = rowlogd_metrics_render(&h->view, rl_now_ms(), &b);
    enum MHD_Result r;
    if (rc != 0) {
        rl_warn("/metrics: cannot render: %s", rl_strerror(rc));
        r = respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                    "cannot render the metrics\n", 26);
    } else {
        r = respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    }
    rl_buf_free(&b);
    return r;
}

static enum MHD_Result serve_offsets(rowlogd_http *h, struct MHD_Connection *conn)
{
    const char *topic = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "topic");
    const char *gtid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "gtid");
    if (!topic || !topic[0] || !gtid || !gtid[0])
        return respond_json_status(conn, MHD_HTTP_BAD_REQUEST, "error",
                                   "parameters topic and gtid are required");
    int nparts = log_store_partitions(h->view.store, topic);
    if (nparts < 0)
        return respond_json_status(conn, MHD_HTTP_NOT_FOUND, "error", "no such topic");
    rl_buf b = RL_BUF_INIT;
    rl_buf_puts(&b, "{\"topic\":");
    rl_buf_json_str(&b, topic, strlen(topic));
    rl_buf_puts(&b, ",\"gtid\":");
    rl_buf_json_str(&b, gtid, strlen(gtid));
    rl_buf_puts(&b, ",\"partitions\":[");
    enum MHD_Result r;
    for (int p = 0; p < nparts; p++) {
        int64_t off = 0;
        rl_err err = {0};
        int rc = log_store_offset_for_gtid(h->view.store, topic, (uint32_t)p, gtid, &off, &err);
        if (rc != 0) {
            rl_buf_free(&b);
            if (rc == RL_ECONFIG)
                return respond_json_status(conn, MHD_HTTP_BAD_REQUEST, "error", err.msg);
            if (rc == RL_ENOTFOUND) /* the topic went away meanwhile */
                return respond_json_status(conn, MHD_HTTP_NOT_FOUND, "error", "no such topic");
            rl_warn("/v1/offsets: %s", err.msg);
            return respond_json_status(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error",
                                       err.msg[0] ? err.msg : rl_strerror(rc));
        }
        rl_buf_printf(&b, "%s{\"partition\":%d,\"offset\":%lld}", p ? "," : "", p, (long long)off);
    }
    rl_buf_puts(&b, "]}\n");
    r = rl_buf_ok(&b) ? respond(conn, MHD_HTTP_OK, "application/json", b.p, b.len) : MHD_NO;
    rl_buf_free(&b);
    return r;
}

static enum MHD_Result serve_snapshots_get(rowlogd_http *h, struct MHD_Connection *conn)
{
    rowlogd_source_stats *st = &h->view.src->stats;
    rl_buf b = RL_BUF_INIT;
    rl_buf_printf(&b, "{\"running\":%s,\"tables\":[",
                  atomic_load(&st->ondemand_running) ? "true" : "false");
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->od_ntables; i++) {
        const rowlogd_snapshot_table_stats *t = &st->od_tables[i];
        rl_buf_puts(&b, i ? ",{\"table\":" : "{\"table\":");
        rl_buf_json_str(&b, t->name, strlen(t->name));
        rl_buf_printf(&b,
                      ",\"rows_read\":%llu,\"rows_estimated\":%llu,\"chunks\":%llu,"
                      "\"rows_dropped\":%llu,\"done\":%s}",
                      (unsigned long long)t->rows_read, (unsigned long long)t->rows_estimated,
                      (unsigned long long)t->chunks, (unsigned long long)t->rows_dropped,
                      t->done ? "true" : "false");
    }
    pthread_mutex_unlock(&st->lock);
    rl_buf_puts(&b, "]}\n");
    enum MHD_Result r =
        rl_buf_ok(&b) ? respond(conn, MHD_HTTP_OK, "application/json", b.p, b.len) : MHD_NO;
    rl_buf_free(&b);
    return r;
}

enum { HTTP_ONDEMAND_WAIT_MS = 30000, HTTP_ONDEMAND_MAX = 64 };

static enum MHD_Result serve_snapshots_post(rowlogd_http *h, struct MHD_Connection *conn)
{
    const char *arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tables");
    if (!arg || !arg[0])
        return respond_json_status(conn, MHD_HTTP_BAD_REQUEST, "error",
                                   "parameter tables=db.table[,db.table...] is required");
    if (pthread_mutex_trylock(&h->post_lock) != 0)
        return respond_json_status(conn, 429, "error",
                                   "another snapshot request is being served: retry");
    char *copy = strdup(arg);
    if (!copy) {
        pthread_mutex_unlock(&h->post_lock);
        return MHD_NO;
    }
    const char *names[HTTP_ONDEMAND_MAX];
    size_t n = 0;
    bool too_many = false;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == HTTP_ONDEMAND_MAX) {
            too_many = true;
            break;
        }
        names[n++] = tok;
    }
    enum MHD_Result r;
    rl_err err = {0};
    int rc = too_many ? rl_err_set(&err, RL_ECONFIG, "at most %d tables per request",
                                   HTTP_ONDEMAND_MAX)
                      : rowlogd_ondemand_validate(h->view.opts, names, n, &err);
    if (rc == 0)
        rc = rowlogd_source_request_snapshot(h->view.src, names, n, HTTP_ONDEMAND_WAIT_MS, &err);
    if (rc == 0) {
        rl_buf b = RL_BUF_INIT;
        rl_buf_puts(&b, "{\"status\":\"accepted\",\"tables\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                rl_buf_putc(&b, ',');
            rl_buf_json_str(&b, names[i], strlen(names[i]));
        }
        rl_buf_puts(&b, "]}\n");
        r = rl_buf_ok(&b) ? respond(conn, MHD_HTTP_ACCEPTED, "application/json", b.p, b.len)
                          : MHD_NO;
        rl_buf_free(&b);
        rl_info("on-demand snapshot requested: %s", arg);
    } else {
        unsigned status = rc == RL_ECONFIG        ? MHD_HTTP_BAD_REQUEST
                          : rc == RL_ENOTFOUND    ? MHD_HTTP_NOT_FOUND
                          : rc == RL_EUNSUPPORTED ? 422u
                          : rc == -ETIMEDOUT      ? MHD_HTTP_SERVICE_UNAVAILABLE
                          : rc == RL_ESOURCE || rc == -ECONNREFUSED ? MHD_HTTP_BAD_GATEWAY
                                                                    : MHD_HTTP_INTERNAL_SERVER_ERROR;
        r = respond_json_status(conn, status, "error", err.msg[0] ? err.msg : rl_strerror(rc));
        rl_warn("on-demand snapshot refused (%u): %s", status, err.msg);
    }
    free(copy);
    pthread_mutex_unlock(&h->post_lock);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    rowlogd_http *h = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (*upload_data_size != 0)
        return MHD_NO;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && strcmp(url, "/v1/snapshots") == 0)
        return serve_snapshots_post(h, conn);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_json_status(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "error",
                                   "only GET and HEAD are served (and POST /v1/snapshots)");
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(h, conn);
    if (strcmp(url, "/health/live") == 0)
        return respond_json_status(conn, MHD_HTTP_OK, "live", NULL);
    if (strcmp(url, "/health/ready") == 0)
        return serve_ready(h, conn);
    if (strcmp(url, "/v1/offsets") == 0)
        return serve_offsets(h, conn);
    if (strcmp(url, "/v1/snapshots") == 0)
        return serve_snapshots_get(h, conn);
    return respond_json_status(conn, MHD_HTTP_NOT_FOUND, "error", "no such path");
}

int rowlogd_http_start(rowlogd_http **out, const rowlogd_view *view, rl_err *err)
{
    const rowlogd_opts *o = view->opts;
    *out = NULL;
    char host[256];
    size_t hl = strlen(o->http_host);
    /* "[::1]" as in HOST:PORT notation */
    if (hl >= 2 && o->http_host[0] == '[' && o->http_host[hl - 1] == ']')
        snprintf(host, sizeof host, "%.*s", (int)(hl - 2), o->http_host + 1);
    else
        snprintf(host, sizeof host, "%s", o->http_host);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%u", o->http_port);
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0 || !ai)
        return rl_err_set(err, RL_ECONFIG, "--http %s:%u: cannot resolve: %s", o->http_host,
                          o->http_port, gai_strerror(g));
    rowlogd_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return rl_err_set(err, -ENOMEM, "out of memory");
    }
    h->view = *view;
    pthread_mutex_init(&h->post_lock, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    h->mhd =
        MHD_start_daemon(flags, (uint16_t)o->http_port, NULL, NULL, on_request, h,
                         MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    int e = errno;
    freeaddrinfo(ai);
    if (!h->mhd) {
        pthread_mutex_destroy(&h->post_lock);
        free(h);
        return rl_err_set(err, e ? -e : -EADDRINUSE, "--http %s:%u: cannot listen: %s",
                          o->http_host, o->http_port, strerror(e ? e : EADDRINUSE));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : o->http_port;
    *out = h;
    return 0;
}

unsigned rowlogd_http_port(const rowlogd_http *h)
{
    return h->port;
}

void rowlogd_http_stop(rowlogd_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    pthread_mutex_destroy(&h->post_lock);
    free(h);
}
