/*
 * kafka_server.c - the Kafka listener and its connections on a libev loop: accept, framing,
 * the per-connection output queue, backpressure and Fetch long-poll parking. The requests
 * themselves are decoded and answered in kafka_api.c and kafka_fetch.c.
 *
 * Framing (Kafka protocol guide, "Common Request and Response Structure"): every request and
 * response is an int32 big-endian size followed by that many bytes.
 *
 *   off  size  field
 *   0    4     size     int32, bytes that follow; a request with size < 0 or above
 *                       max_request_bytes closes the connection (before anything is
 *                       allocated for it)
 *   4    size  request  header (kafka_api.c) + body
 *
 * Life of a connection:
 *   - on_read reads up to KAFKA_READ_CHUNK bytes (more when a large request is half there)
 *     into conn->in; conn_run then takes complete frames one by one: a request is processed
 *     only when the previous one has been answered, so responses leave in request order.
 *   - A response is built in conn->obuf (headers, small bodies) interleaved with Fetch record
 *     parts (never copied): file ranges of the segments (log_read fd and file_pos), sent with
 *     sendfile(2), or, when no descriptor could be had or opts.fetch_no_sendfile, slices of
 *     the log's mapping. conn_flush sends runs of buffered bytes with sendmsg() over an iovec
 *     of up to KAFKA_IOV_BATCH parts (MSG_MORE when a file part follows: header and records
 *     leave in full TCP segments) and file parts with sendfile, at most KAFKA_FLUSH_TURN
 *     bytes per loop iteration (then write_w brings it back after the other connections). A
 *     short write or EAGAIN starts write_w; the next call resumes at the byte where the
 *     socket stopped (head_off, also inside a file part).
 *   - A response with cold record bytes (kafka_warm.c) is queued at once; its record parts
 *     are sent only as far as an I/O thread has faulted them in (sendfile or a copy from
 *     a non-resident page would block the loop on the disk), chunk by chunk, and the
 *     connection reads no request until all of it is warm.
 *   - Reading stops while a Fetch is parked, while a group or offsets request waits
 *     (JoinGroup/SyncGroup barriers, OffsetCommit until durable: conn->wait) or while more
 *     than KAFKA_OUT_HIGH bytes wait to be sent (backpressure), and resumes when that clears;
 *     frames already buffered are then processed without waiting for new bytes.
 *   - A waiting group request is answered by whatever completes it (another member's
 *     request, a timer): the response is built then, and the connection goes on the server's
 *     ready list; on_ready (an ev_prepare, run before the loop blocks) resumes it. Resuming
 *     never happens on another connection's stack, so group code is never re-entered.
 *   - conn_close() is the one place that frees a connection; it stops every watcher first.
 *
 * Accept: accept4 in batches; accepting pauses at max_connections (resumes when one closes)
 * and for 100 ms after EMFILE/ENFILE/ENOBUFS/ENOMEM, leaving clients in the kernel backlog.
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define KAFKA_IOV_BATCH 64
/* Bytes one connection may send per loop iteration: a large Fetch response (up to the
 * socket buffer, 4 MiB on Linux by default, per sendmsg) does not keep the loop from the
 * other connections for the whole copy. */
#define KAFKA_FLUSH_TURN ((size_t)1 << 20)
#define KAFKA_ACCEPT_BATCH 32
#define KAFKA_ACCEPT_RETRY_S 0.1
#define KAFKA_ACCEPT_WARN_S 60.0
/* Largest read asked for at once while a big request (a Produce) is arriving. */
#define KAFKA_READ_MAX ((size_t)1 << 20)
/* Input and output buffers larger than this are freed when empty instead of kept. */
#define KAFKA_BUF_KEEP ((size_t)4 << 20)

static void conn_close(kafka_conn *conn);
static int conn_run(kafka_conn *conn);
static void conn_watch(kafka_conn *conn);
static void ready_unlink(kafka_conn *conn);

/* ------------------------------------------------------------------ options, addresses */

void kafka_server_opts_init(kafka_server_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    snprintf(opts->listen_host, sizeof opts->listen_host, "127.0.0.1");
    opts->listen_port = 9092;
    opts->max_request_bytes = (size_t)100 << 20;
    opts->max_connections = 4096;
    opts->group_min_session_ms = 6000;
    opts->group_max_session_ms = 1800000;
    opts->offsets_segment_bytes = (uint64_t)8 << 20;
    opts->offsets_compact_interval_ms = 60000;
}

static void opts_normalize(kafka_server_opts *o)
{
    if (!o->listen_host[0])
        snprintf(o->listen_host, sizeof o->listen_host, "127.0.0.1");
    if (o->max_request_bytes == 0)
        o->max_request_bytes = (size_t)100 << 20;
    /* The size field is an int32. */
    if (o->max_request_bytes > INT32_MAX)
        o->max_request_bytes = INT32_MAX;
    if (o->max_connections == 0)
        o->max_connections = 4096;
    if (o->group_min_session_ms <= 0)
        o->group_min_session_ms = 6000;
    if (o->group_max_session_ms <= 0)
        o->group_max_session_ms = 1800000;
    if (o->offsets_segment_bytes == 0)
        o->offsets_segment_bytes = (uint64_t)8 << 20;
    if (o->offsets_segment_bytes < ((uint64_t)1 << 20))
        o->offsets_segment_bytes = (uint64_t)1 << 20;
    if (o->offsets_compact_interval_ms == 0)
        o->offsets_compact_interval_ms = 60000;
    o->offsets_dir[sizeof o->offsets_dir - 1] = 0;
    o->listen_host[sizeof o->listen_host - 1] = 0;
    o->advertised_host[sizeof o->advertised_host - 1] = 0;
}

/* "host:port" (IPv6 hosts in brackets), numeric, for log lines. host_only receives the bare
 * host when not NULL. */
static void addr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen,
                        char *host_only, size_t host_len)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(host, sizeof host, "?");
        snprintf(serv, sizeof serv, "?");
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%s", host, serv);
    else
        snprintf(out, outlen, "%s:%s", host, serv);
    if (host_only)
        snprintf(host_only, host_len, "%s", host);
}

static bool addr_is_wildcard(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_UNSPECIFIED(a);
    }
    return false;
}

/* ------------------------------------------------------------------ output queue */

void kafka__pin_release(struct log_segment *pin, int fd)
{
    if (!pin)
        return;
    log_read rd;
    memset(&rd, 0, sizeof rd);
    rd.pin = pin;
    rd.fd = fd;
    log_read_release(&rd);
}

/* Releases the pins (and read descriptors) of parts [from, to). */
static void parts_release(kafka_conn *conn, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        kafka__pin_release(conn->parts[i].pin, conn->parts[i].fd);
        conn->parts[i].pin = NULL;
        conn->parts[i].fd = -1;
    }
}

static int parts_push(kafka_conn *conn, const uint8_t *p, size_t off, size_t len,
                      struct log_segment *pin, int fd, uint64_t fpos, bool merge)
{
    if (len == 0)
        return 0;
    if (merge && !p && conn->nparts > conn->part_head) {
        kafka_part *last = &conn->parts[conn->nparts - 1];
        if (!last->p && last->off + last->len == off) {
            last->len += len;
            return 0;
        }
    }
    if (conn->nparts == conn->parts_cap) {
        size_t cap = conn->parts_cap ? conn->parts_cap * 2 : 16;
        kafka_part *np = realloc(conn->parts, cap * sizeof *np);
        if (!np)
            return -ENOMEM;
        conn->parts = np;
        conn->parts_cap = cap;
    }
    conn->parts[conn->nparts].p = p;
    conn->parts[conn->nparts].off = off;
    conn->parts[conn->nparts].len = len;
    conn->parts[conn->nparts].pin = pin;
    conn->parts[conn->nparts].fd = fd;
    conn->parts[conn->nparts].fpos = fpos;
    conn->parts[conn->nparts].warm_at = KAFKA_NO_WARM;
    conn->nparts++;
    return 0;
}

void kafka__resp_begin(kafka_conn *conn, int32_t correlation_id)
{
    conn->resp_obuf_start = conn->obuf.len;
    conn->resp_nparts_start = conn->nparts;
    conn->resp_cut = conn->obuf.len;
    conn->resp_slice_bytes = 0;
    rl_buf_put_be32(&conn->obuf, 0); /* size, patched by kafka__resp_end */
    rl_buf_put_be32(&conn->obuf, (uint32_t)correlation_id);
}

int kafka__resp_slice(kafka_conn *conn, rl_slice s, struct log_segment *pin, int fd,
                      uint64_t fpos)
{
    if (s.len == 0) {
        kafka__pin_release(pin, fd);
        return 0;
    }
    if (!rl_buf_ok(&conn->obuf))
        return -ENOMEM;
    if (fd >= 0 && (conn->srv->opts.fetch_no_sendfile || conn->fd < 0)) {
        /* Sent from the mapping: the descriptor goes back to the log's table now. */
        log_read rd;
        memset(&rd, 0, sizeof rd);
        rd.pin = pin;
        rd.fd = fd;
        log_read_fd_release(&rd);
        fd = -1;
    }
    int rc = parts_push(conn, NULL, conn->resp_cut, conn->obuf.len - conn->resp_cut, NULL, -1, 0,
                        false);
    if (rc == 0)
        rc = parts_push(conn, s.p, 0, s.len, pin, fd, fd >= 0 ? fpos : 0, false);
    if (rc != 0)
        return rc;
    conn->resp_cut = conn->obuf.len;
    conn->resp_slice_bytes += s.len;
    return 0;
}

size_t kafka__resp_len(const kafka_conn *conn)
{
    return conn->obuf.len - conn->resp_obuf_start;
}

int kafka__bound(int64_t ntopics, int64_t nparts, size_t resp_bytes, rl_err *err)
{
    if (ntopics > KAFKA_MAX_REQ_TOPICS)
        return rl_err_set(err, RL_ETOOBIG,
                          "%" PRId64 " topics in one request (at most %d are answered)", ntopics,
                          KAFKA_MAX_REQ_TOPICS);
    if (nparts > KAFKA_MAX_REQ_PARTITIONS)
        return rl_err_set(err, RL_ETOOBIG,
                          "more than %d partitions in one request (%" PRId64 " so far)",
                          KAFKA_MAX_REQ_PARTITIONS, nparts);
    if (resp_bytes > KAFKA_MAX_RESP_BYTES)
        return rl_err_set(err, RL_ETOOBIG, "response above %zu bytes",
                          (size_t)KAFKA_MAX_RESP_BYTES);
    return 0;
}

void kafka__resp_abort(kafka_conn *conn)
{
    if (conn->obuf.len > conn->resp_obuf_start)
        conn->obuf.len = conn->resp_obuf_start;
    parts_release(conn, conn->resp_nparts_start, conn->nparts);
    conn->nparts = conn->resp_nparts_start;
}

int kafka__resp_end(kafka_conn *conn, rl_err *err)
{
    if (!rl_buf_ok(&conn->obuf)) {
        kafka__resp_abort(conn);
        return rl_err_set(err, -ENOMEM, "out of memory building a response");
    }
    size_t total = conn->obuf.len - conn->resp_obuf_start + conn->resp_slice_bytes;
    if (total - 4 > INT32_MAX) {
        kafka__resp_abort(conn);
        return rl_err_set(err, RL_ETOOBIG, "response of %zu bytes exceeds the int32 size field",
                          total);
    }
    rl_buf_patch_be32(&conn->obuf, conn->resp_obuf_start, (uint32_t)(total - 4));
    int rc = parts_push(conn, NULL, conn->resp_cut, conn->obuf.len - conn->resp_cut, NULL, -1, 0,
                        true);
    if (rc != 0) {
        kafka__resp_abort(conn);
        return rl_err_set(err, rc, "out of memory queueing a response");
    }
    conn->out_pending += total;
    return 0;
}

static void conn_advance(kafka_conn *conn, size_t n)
{
    while (n > 0) {
        kafka_part *pt = &conn->parts[conn->part_head];
        size_t left = pt->len - conn->head_off;
        if (n < left) {
            conn->head_off += n;
            conn->out_pending -= n;
            return;
        }
        n -= left;
        conn->out_pending -= left;
        /* Sent whole: the segment it came from may now be unmapped. */
        parts_release(conn, conn->part_head, conn->part_head + 1);
        conn->part_head++;
        conn->head_off = 0;
    }
}

/* Bytes of pt from byte `from` on that may be sent now: all of them, or for a part of a
 * response being warmed (kafka_warm.c) what the I/O thread has warmed so far. */
static size_t part_sendable(const kafka_conn *conn, const kafka_part *pt, size_t from)
{
    size_t len = pt->len - from;
    if (pt->warm_at == KAFKA_NO_WARM || !conn->warm)
        return len;
    size_t done = atomic_load_explicit(&conn->warm->done, memory_order_acquire);
    size_t at = pt->warm_at + from;
    if (done <= at)
        return 0;
    return done - at < len ? done - at : len;
}

/* sendfile(2) has no MSG_NOSIGNAL: writing to a socket the peer closed raises SIGPIPE,
 * which kills a process that did not ignore it. Unless it was ignored when the server
 * started (rowlogd does), a flush that uses sendfile blocks SIGPIPE on the loop thread for
 * its duration and takes back the one a closed peer raised before unblocking (three
 * syscalls per flush, not per part). */
typedef struct sigpipe_guard {
    bool masked;
    sigset_t old;
} sigpipe_guard;

static void sigpipe_block(kafka_conn *conn, sigpipe_guard *g)
{
    if (g->masked || conn->srv->sigpipe_ignored)
        return;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0)
        g->masked = true;
}

static void sigpipe_unblock(sigpipe_guard *g)
{
    if (!g->masked)
        return;
    /* Taken back whatever the call returned: a sendfile that wrote some bytes before the
     * peer went away returns the count, not EPIPE, and has raised the signal all the same.
     * A SIGPIPE that was already blocked before is left to its owner. */
    sigset_t pending;
    if (!sigismember(&g->old, SIGPIPE) && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    g->masked = false;
}

/* Sends the head part's file bytes with sendfile (at most len). Returns the bytes sent, 0 on
 * EAGAIN, or -errno. */
static ssize_t conn_sendfile(kafka_conn *conn, const kafka_part *pt, size_t len,
                             sigpipe_guard *g)
{
    sigpipe_block(conn, g);
    for (;;) {
        off_t at = (off_t)(pt->fpos + conn->head_off);
        ssize_t w = sendfile(conn->fd, pt->fd, &at, len);
        if (w > 0) {
            KAFKA_STAT_ADD(conn->srv, fetch_sendfile_bytes, w);
            return w;
        }
        if (w == 0) {
            /* The file ends before the committed bytes it held: it cannot have been cut
             * below them (log.h), so something else truncated it. */
            rl_warn("kafka: connection from %s: segment file ends before byte %llu of a Fetch "
                    "response; closing",
                    conn->peer, (unsigned long long)at);
            return -EIO;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

/* Sends as much of the queue as the socket takes: runs of buffered bytes and mapped slices
 * with one sendmsg each (MSG_MORE when a file part follows, so the response header and the
 * records leave in full segments), file parts with sendfile. A part being warmed is sent
 * only as far as it is warm; the rest waits for kafka__conn_warmed. Returns 0 (sets
 * want_write when bytes remain that the socket did not take) or -errno. */
static int conn_flush_queue(kafka_conn *conn, sigpipe_guard *g)
{
    if (conn->fd < 0) {
        /* A socket-less connection (kafka__feed): what would be sent is dropped. */
        conn_advance(conn, conn->out_pending);
    }
    size_t sent = 0;
    while (conn->part_head < conn->nparts) {
        if (sent >= KAFKA_FLUSH_TURN) {
            /* This connection had its turn: the others (and new requests) go first. */
            conn->want_write = true;
            return 0;
        }
        const kafka_part *head = &conn->parts[conn->part_head];
        if (head->fd >= 0) {
            size_t len = part_sendable(conn, head, conn->head_off);
            if (len == 0) {
                conn->want_write = false; /* the warm-up's progress resumes it */
                return 0;
            }
            if (len > KAFKA_FLUSH_TURN - sent)
                len = KAFKA_FLUSH_TURN - sent;
            ssize_t w = conn_sendfile(conn, head, len, g);
            if (w < 0)
                return (int)w;
            if (w == 0) {
                conn->want_write = true;
                return 0;
            }
            conn_advance(conn, (size_t)w);
            sent += (size_t)w;
            if ((size_t)w < len) {
                conn->want_write = true;
                return 0;
            }
            continue;
        }
        struct iovec iov[KAFKA_IOV_BATCH];
        int n = 0;
        size_t want = 0;
        bool more = false;
        for (size_t i = conn->part_head;
             i < conn->nparts && n < KAFKA_IOV_BATCH && want < KAFKA_FLUSH_TURN; i++) {
            const kafka_part *pt = &conn->parts[i];
            if (pt->fd >= 0) {
                more = true; /* sendfile goes on right after this */
                break;
            }
            size_t from = i == conn->part_head ? conn->head_off : 0;
            size_t len = part_sendable(conn, pt, from);
            if (len == 0)
                break;
            const uint8_t *base = (pt->p ? pt->p : conn->obuf.p + pt->off) + from;
            bool partial = len < pt->len - from;
            if (len > KAFKA_FLUSH_TURN - want)
                len = KAFKA_FLUSH_TURN - want;
            iov[n].iov_base = (void *)(uintptr_t)base;
            iov[n].iov_len = len;
            want += len;
            n++;
            if (partial)
                break;
        }
        if (n == 0) {
            conn->want_write = false; /* the head part waits for its warm-up */
            return 0;
        }
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        /* MSG_NOSIGNAL: a peer that went away gives EPIPE here, not a SIGPIPE to the process. */
        ssize_t w = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn->want_write = true;
                return 0;
            }
            return -errno;
        }
        conn_advance(conn, (size_t)w);
        sent += (size_t)w;
        if ((size_t)w < want) {
            /* The socket buffer is full: another call now would only return EAGAIN. */
            conn->want_write = true;
            return 0;
        }
    }
    /* Drained: start the buffers over, so a steady connection reuses the same memory. */
    conn->want_write = false;
    rl_buf_reset(&conn->obuf);
    if (conn->obuf.cap > KAFKA_BUF_KEEP)
        rl_buf_free(&conn->obuf);
    conn->nparts = conn->part_head = conn->head_off = 0;
    RL_ASSERT(conn->out_pending == 0);
    return 0;
}

static int conn_flush(kafka_conn *conn)
{
    sigpipe_guard g;
    g.masked = false;
    int rc = conn_flush_queue(conn, &g);
    sigpipe_unblock(&g);
    return rc;
}

/* ------------------------------------------------------------------ parking */

void kafka__park(kafka_conn *conn, int32_t max_wait_ms)
{
    kafka_server_t *srv = conn->srv;
    RL_ASSERT(!conn->parked);
    conn->parked = true;
    /* Insert at the head: on_notify walks the list from a saved next pointer, so a connection
     * that parks again while the list is being walked is not visited twice. */
    conn->park_prev = NULL;
    conn->park_next = srv->parked;
    if (srv->parked)
        srv->parked->park_prev = conn;
    srv->parked = conn;
    ev_timer_set(&conn->park_w, (double)max_wait_ms / 1000.0, 0.0);
    ev_timer_start(srv->loop, &conn->park_w);
    KAFKA_STAT_ADD(srv, fetch_parked, 1);
    KAFKA_STAT_ADD(srv, fetch_parked_now, 1);
}

static void conn_unpark(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    if (!conn->parked)
        return;
    ev_timer_stop(srv->loop, &conn->park_w);
    if (conn->park_prev)
        conn->park_prev->park_next = conn->park_next;
    else
        srv->parked = conn->park_next;
    if (conn->park_next)
        conn->park_next->park_prev = conn->park_prev;
    conn->park_prev = conn->park_next = NULL;
    conn->parked = false;
    KAFKA_STAT_SUB(srv, fetch_parked_now, 1);
}

/* Re-evaluates a parked Fetch; answers it and goes on with the connection if it is done. */
static void conn_resume(kafka_conn *conn, bool expired)
{
    kafka_server_t *srv = conn->srv;
    rl_err err = {0};
    int rc = kafka__fetch_resume(conn, expired, &err);
    if (rc == KAFKA_PARKED)
        return;
    conn_unpark(conn);
    if (rc < 0) {
        rl_warn("kafka: closing connection from %s: %s", conn->peer, err.msg);
        conn_close(conn);
        return;
    }
    KAFKA_STAT_ADD(srv, requests, 1);
    if (expired)
        KAFKA_STAT_ADD(srv, fetch_expired, 1);
    else
        KAFKA_STAT_ADD(srv, fetch_woken, 1);
    conn_run(conn);
}

void kafka__conn_warmed(kafka_conn *conn, bool done)
{
    if (done) {
        /* Every part may go now; the marks must not apply to a later job's progress. */
        for (size_t i = conn->part_head; i < conn->nparts; i++)
            conn->parts[i].warm_at = KAFKA_NO_WARM;
    }
    /* Sends what is now warm; once done also takes the requests that waited. */
    conn_run(conn);
}

static void on_park_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_resume(w->data, true);
}

static void on_notify(struct ev_loop *loop, ev_async *w, int revents)
{
    kafka_server_t *srv = w->data;
    (void)loop;
    (void)revents;
    kafka_conn *conn = srv->parked;
    while (conn) {
        /* conn_resume may close conn or park it again (at the head), never touches next. */
        kafka_conn *next = conn->park_next;
        conn_resume(conn, false);
        conn = next;
    }
}

/* ------------------------------------------------------------------ waiting requests */

void kafka__wait_begin(kafka_conn *conn, int wait, kafka_member *member)
{
    RL_ASSERT(conn->wait == KAFKA_WAIT_NONE && wait != KAFKA_WAIT_NONE);
    conn->wait = wait;
    conn->wait_member = member;
}

void kafka__ready_kick(kafka_server_t *srv)
{
    if (!ev_is_active(&srv->ready_w))
        ev_prepare_start(srv->loop, &srv->ready_w);
}

void kafka__wait_done(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    RL_ASSERT(conn->wait != KAFKA_WAIT_NONE);
    conn->wait = KAFKA_WAIT_NONE;
    conn->wait_member = NULL;
    /* Answered at once (before its handler returned), the connection may already have gone
     * on to wait again and be answered again before on_ready ran: it is listed once. */
    if (conn->on_ready) {
        kafka__ready_kick(srv);
        return;
    }
    conn->on_ready = true;
    conn->ready_prev = NULL;
    conn->ready_next = srv->ready;
    if (srv->ready)
        srv->ready->ready_prev = conn;
    srv->ready = conn;
    kafka__ready_kick(srv);
}

static void ready_unlink(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    if (!conn->on_ready)
        return;
    if (conn->ready_prev)
        conn->ready_prev->ready_next = conn->ready_next;
    else
        srv->ready = conn->ready_next;
    if (conn->ready_next)
        conn->ready_next->ready_prev = conn->ready_prev;
    conn->ready_prev = conn->ready_next = NULL;
    conn->on_ready = false;
}

/* Before the loop blocks: resumes the connections whose waiting request was answered.
 * Resuming one may answer others (its next buffered request completes a barrier); the loop
 * runs until none is left. */
static void on_ready(struct ev_loop *loop, ev_prepare *w, int revents)
{
    kafka_server_t *srv = w->data;
    (void)revents;
    while (srv->ready || srv->commit_pending) {
        /* One durable commit of the offsets log for every OffsetCommit handled since the
         * last one (group commit); it answers them onto the ready list. */
        kafka__offsets_flush(srv);
        if (!srv->ready)
            continue;
        kafka_conn *conn = srv->ready;
        ready_unlink(conn);
        if (conn->doomed) {
            conn_close(conn);
            continue;
        }
        KAFKA_STAT_ADD(srv, requests, 1);
        conn_run(conn);
    }
    /* Once per loop iteration at most, not per request. */
    kafka__offsets_publish(srv);
    if (!srv->pub_dirty)
        ev_prepare_stop(loop, w);
}

/* ------------------------------------------------------------------ connections */

/* Starts or stops the watchers to match the connection's state. */
static void conn_watch(kafka_conn *conn)
{
    struct ev_loop *loop = conn->srv->loop;
    if (conn->fd < 0)
        return; /* kafka__feed: nothing to watch */
    bool want_read =
        !conn->parked && !conn->warm && !conn->wait && conn->out_pending < KAFKA_OUT_HIGH;
    if (want_read && !ev_is_active(&conn->read_w))
        ev_io_start(loop, &conn->read_w);
    else if (!want_read && ev_is_active(&conn->read_w))
        ev_io_stop(loop, &conn->read_w);
    if (conn->want_write && !ev_is_active(&conn->write_w))
        ev_io_start(loop, &conn->write_w);
    else if (!conn->want_write && ev_is_active(&conn->write_w))
        ev_io_stop(loop, &conn->write_w);
}

/* Size field of the next buffered frame; false when its 4 bytes are not all there. */
static bool conn_peek_size(const kafka_conn *conn, int32_t *size)
{
    *size = 0;
    if (conn->in.len - conn->in_pos < 4)
        return false;
    rl_reader rd = rl_reader_make(
        rl_slice_make(conn->in.p + conn->in_pos, conn->in.len - conn->in_pos));
    *size = rl_get_i32be(&rd);
    return !rd.err;
}

static bool conn_frame_ready(const kafka_conn *conn)
{
    int32_t size;
    if (!conn_peek_size(conn, &size))
        return false;
    /* An invalid size is "ready" too: processing it closes the connection. */
    return size < 0 || conn->in.len - conn->in_pos - 4 >= (size_t)size;
}

/* Processes buffered complete requests while the connection may. Returns 0, or a negative
 * code after logging why the connection must be closed. */
static int conn_process(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    while (!conn->parked && !conn->warm && !conn->wait && !conn->doomed &&
           conn->out_pending < KAFKA_OUT_HIGH) {
        size_t avail = conn->in.len - conn->in_pos;
        if (avail < 4)
            break;
        rl_reader rd = rl_reader_make(rl_slice_make(conn->in.p + conn->in_pos, avail));
        int32_t size = rl_get_i32be(&rd);
        if (size < 0 || (size_t)size > srv->opts.max_request_bytes) {
            rl_warn("kafka: closing connection from %s: request size %" PRId32 " is %s "
                    "(max_request_bytes %zu)",
                    conn->peer, size, size < 0 ? "negative" : "above the limit",
                    srv->opts.max_request_bytes);
            KAFKA_STAT_ADD(srv, protocol_errors, 1);
            return RL_EPROTO;
        }
        if (avail - 4 < (size_t)size)
            break;
        rl_slice frame = rl_get_bytes(&rd, (size_t)size);
        /* Consumed now; the bytes stay in place until the request is answered, because the
         * buffer is only compacted by on_read, which does not run while a request waits. */
        conn->in_pos += 4 + (size_t)size;
        rl_err err = {0};
        int rc = kafka__request(conn, frame, &err);
        if (rc < 0) {
            rl_warn("kafka: closing connection from %s: %s", conn->peer, err.msg);
            if (rc != -ENOMEM)
                KAFKA_STAT_ADD(srv, protocol_errors, 1);
            return rc;
        }
        if (rc == 0)
            KAFKA_STAT_ADD(srv, requests, 1);
    }
    return 0;
}

/* Processes what is buffered, sends what is queued and sets the watchers. Returns 0, or a
 * negative code after closing (and freeing) the connection. */
static int conn_run(kafka_conn *conn)
{
    for (;;) {
        int rc = conn_process(conn);
        if (rc < 0) {
            conn_close(conn);
            return rc;
        }
        rc = conn_flush(conn);
        if (rc < 0) {
            rl_info("kafka: connection from %s: send: %s; closing", conn->peer,
                    rl_strerror(rc));
            conn_close(conn);
            return rc;
        }
        /* Go round again only when the flush made room for requests already buffered. */
        if (conn->parked || conn->warm || conn->wait || conn->want_write ||
            !conn_frame_ready(conn))
            break;
    }
    conn_watch(conn);
    return 0;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    kafka_conn *conn = w->data;
    kafka_server_t *srv = conn->srv;
    (void)loop;
    (void)revents;

    /* No request is in progress here (a waiting one stops this watcher), so the consumed
     * bytes can go: the buffer keeps at most one partial request plus one read. */
    if (conn->in_pos > 0) {
        size_t left = conn->in.len - conn->in_pos;
        if (left > 0)
            memmove(conn->in.p, conn->in.p + conn->in_pos, left);
        conn->in.len = left;
        conn->in_pos = 0;
    }
    /* A connection that once sent a huge request does not keep its buffer for life. */
    if (conn->in.len == 0 && conn->in.cap > KAFKA_BUF_KEEP)
        rl_buf_free(&conn->in);
    size_t want = KAFKA_READ_CHUNK;
    int32_t size;
    if (conn_peek_size(conn, &size) && size >= 0) {
        /* A large request is arriving: read its remainder in bigger steps. The size was
         * checked against max_request_bytes when it arrived; the buffer grows only with the
         * bytes actually received. */
        if ((size_t)size <= srv->opts.max_request_bytes && (size_t)size + 4 > conn->in.len) {
            size_t rem = (size_t)size + 4 - conn->in.len;
            if (rem > want)
                want = rem < KAFKA_READ_MAX ? rem : KAFKA_READ_MAX;
        }
    }
    if (rl_buf_reserve(&conn->in, want) != 0) {
        rl_warn("kafka: closing connection from %s: out of memory for a request", conn->peer);
        conn_close(conn);
        return;
    }
    ssize_t n = recv(conn->fd, conn->in.p + conn->in.len, conn->in.cap - conn->in.len, 0);
    if (n == 0) {
        rl_debug("kafka: connection from %s closed by the client", conn->peer);
        conn_close(conn);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        rl_info("kafka: connection from %s: read: %s; closing", conn->peer, strerror(errno));
        conn_close(conn);
        return;
    }
    conn->in.len += (size_t)n;
    conn_run(conn);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    kafka_conn *conn = w->data;
    (void)loop;
    (void)revents;
    conn->want_write = false;
    conn_run(conn);
}

static void accept_resume_if_room(kafka_server_t *srv)
{
    if (srv->listen_fd >= 0 && !srv->accept_backoff &&
        srv->nconns < srv->opts.max_connections && !ev_is_active(&srv->accept_w))
        ev_io_start(srv->loop, &srv->accept_w);
}

/* The one place that frees a connection: every watcher is stopped first. */
static void conn_close(kafka_conn *conn)
{
    kafka_server_t *srv = conn->srv;
    ev_io_stop(srv->loop, &conn->read_w);
    ev_io_stop(srv->loop, &conn->write_w);
    conn_unpark(conn);
    ev_timer_stop(srv->loop, &conn->park_w);
    if (conn->wait != KAFKA_WAIT_NONE)
        kafka__group_conn_gone(conn);
    ready_unlink(conn);
    kafka__warm_conn_gone(conn);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    srv->nconns--;
    KAFKA_STAT_SUB(srv, connections_open, 1);
    if (conn->fd >= 0)
        close(conn->fd);
    parts_release(conn, conn->part_head, conn->nparts);
    rl_buf_free(&conn->in);
    rl_buf_free(&conn->obuf);
    free(conn->parts);
    kafka__fetch_free(&conn->fetch);
    free(conn->commit_err);
    free(conn);
    accept_resume_if_room(srv);
}

/* Links a new connection (fd may be -1: kafka__feed) and counts it. */
static kafka_conn *conn_new(kafka_server_t *srv, int fd)
{
    kafka_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        return NULL;
    conn->srv = srv;
    conn->fd = fd;
    ev_io_init(&conn->read_w, on_read, fd, EV_READ);
    ev_io_init(&conn->write_w, on_write, fd, EV_WRITE);
    ev_timer_init(&conn->park_w, on_park_timeout, 0.0, 0.0);
    conn->read_w.data = conn->write_w.data = conn->park_w.data = conn;
    conn->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = conn;
    srv->conns = conn;
    srv->nconns++;
    KAFKA_STAT_ADD(srv, connections_accepted, 1);
    KAFKA_STAT_ADD(srv, connections_open, 1);
    return conn;
}

static bool conn_alive(const kafka_server_t *srv, const kafka_conn *conn)
{
    for (const kafka_conn *c = srv->conns; c; c = c->next)
        if (c == conn)
            return true;
    return false;
}

int kafka__feed(kafka_server_t *srv, rl_slice bytes)
{
    kafka_conn *conn = conn_new(srv, -1);
    if (!conn)
        return -ENOMEM;
    snprintf(conn->peer, sizeof conn->peer, "feed");
    snprintf(conn->local_host, sizeof conn->local_host, "127.0.0.1");
    rl_buf_append(&conn->in, bytes.p, bytes.len);
    if (!rl_buf_ok(&conn->in)) {
        conn_close(conn);
        return -ENOMEM;
    }
    int rc = conn_run(conn);
    if (rc < 0)
        return rc; /* closed by conn_run */
    /* What the loop's prepare phase would do next: answer completed barriers, make commits
     * durable, resume waiting connections (which may go on with buffered frames). */
    on_ready(srv->loop, &srv->ready_w, 0);
    if (conn_alive(srv, conn))
        conn_close(conn);
    return 0;
}

static void conn_open(kafka_server_t *srv, int fd, const struct sockaddr *sa, socklen_t salen)
{
    kafka_conn *conn = conn_new(srv, fd);
    if (!conn) {
        rl_warn("kafka: out of memory accepting a connection; closing it");
        close(fd);
        return;
    }
    /* Responses are written whole, one sendmsg each: Nagle would only delay them. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    addr_format(sa, salen, conn->peer, sizeof conn->peer, NULL, 0);
    if (srv->wildcard) {
        struct sockaddr_storage ls;
        socklen_t lslen = sizeof ls;
        char tmp[128];
        if (getsockname(fd, (struct sockaddr *)&ls, &lslen) == 0)
            addr_format((struct sockaddr *)&ls, lslen, tmp, sizeof tmp, conn->local_host,
                        sizeof conn->local_host);
        else
            snprintf(conn->local_host, sizeof conn->local_host, "%s", srv->opts.listen_host);
    }
    ev_io_start(srv->loop, &conn->read_w);
    rl_debug("kafka: connection from %s", conn->peer);
}

/* Accept trouble (max_connections, EMFILE) can last: say so at most once a minute. */
static bool accept_warn_due(kafka_server_t *srv)
{
    ev_tstamp now = ev_now(srv->loop);
    if (srv->accept_warned_at > 0 && now - srv->accept_warned_at < KAFKA_ACCEPT_WARN_S)
        return false;
    srv->accept_warned_at = now;
    return true;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    kafka_server_t *srv = w->data;
    (void)revents;
    for (int i = 0; i < KAFKA_ACCEPT_BATCH; i++) {
        if (srv->nconns >= srv->opts.max_connections) {
            if (accept_warn_due(srv))
                rl_warn("kafka: %zu connections open (max_connections): accepting paused until "
                        "one closes",
                        srv->nconns);
            ev_io_stop(loop, &srv->accept_w);
            KAFKA_STAT_ADD(srv, accept_pauses, 1);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* Level-triggered accept would spin on this; wait and leave the clients in
                 * the kernel's backlog. */
                if (accept_warn_due(srv))
                    rl_warn("kafka: accept on port %u: %s; pausing accepts for %.0f ms at a "
                            "time until it passes",
                            srv->port, strerror(e), KAFKA_ACCEPT_RETRY_S * 1000);
                ev_io_stop(loop, &srv->accept_w);
                srv->accept_backoff = true;
                ev_timer_set(&srv->accept_retry_w, KAFKA_ACCEPT_RETRY_S, 0.0);
                ev_timer_start(loop, &srv->accept_retry_w);
                KAFKA_STAT_ADD(srv, accept_pauses, 1);
                return;
            }
            rl_warn("kafka: accept on port %u: %s", srv->port, strerror(e));
            return;
        }
        conn_open(srv, fd, (struct sockaddr *)&ss, sl);
    }
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    kafka_server_t *srv = w->data;
    (void)loop;
    (void)revents;
    srv->accept_backoff = false;
    accept_resume_if_room(srv);
}

/* ------------------------------------------------------------------ server */

static int listen_on(kafka_server_t *srv, rl_err *err)
{
    const kafka_server_opts *o = &srv->opts;
    char port[16];
    snprintf(port, sizeof port, "%u", o->listen_port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(o->listen_host, port, &hints, &res);
    if (g != 0)
        return rl_err_set(err, RL_ECONFIG, "kafka: cannot resolve listen host '%s': %s",
                          o->listen_host, gai_strerror(g));
    int rc = -EADDRNOTAVAIL;
    const char *what = "bind";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            what = "socket";
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            rc = -errno;
            what = "bind";
            close(fd);
            continue;
        }
        if (listen(fd, 511) != 0) {
            rc = -errno;
            what = "listen";
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
            rc = -errno;
            what = "getsockname";
            close(fd);
            continue;
        }
        if (ss.ss_family == AF_INET)
            srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        srv->wildcard = !o->advertised_host[0] && addr_is_wildcard((struct sockaddr *)&ss);
        srv->listen_fd = fd;
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    return rl_err_set(err, rc, "kafka: %s %s:%s: %s", what, o->listen_host, port,
                      rl_strerror(rc));
}

int kafka_server_start(kafka_server_t **out, struct ev_loop *loop, log_store_t *store,
                       const kafka_server_opts *opts, rl_err *err)
{
    *out = NULL;
    kafka_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return rl_err_set(err, -ENOMEM, "kafka: out of memory starting the server");
    if (opts)
        srv->opts = *opts;
    else
        kafka_server_opts_init(&srv->opts);
    opts_normalize(&srv->opts);
    srv->loop = loop;
    srv->store = store;
    srv->listen_fd = -1;
    srv->boot_id = (uint64_t)rl_now_ms();
    struct sigaction sa;
    srv->sigpipe_ignored = sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
    pthread_mutex_init(&srv->pub_mu, NULL);
    int rc = kafka__offsets_open(srv, err);
    if (rc == 0)
        rc = listen_on(srv, err);
    if (rc == 0) {
        rc = kafka__warm_start(srv, err);
        if (rc != 0) {
            close(srv->listen_fd);
            srv->listen_fd = -1;
        }
    }
    if (rc != 0) {
        kafka__groups_free(srv);
        kafka__offsets_close(srv);
        pthread_mutex_destroy(&srv->pub_mu);
        free(srv);
        return rc;
    }
    /* The replayed offsets are visible to kafka_server_committed_offsets at once. */
    srv->pub_dirty = true;
    kafka__offsets_publish(srv);
    if (!srv->opts.advertised_host[0] && !srv->wildcard)
        snprintf(srv->opts.advertised_host, sizeof srv->opts.advertised_host, "%s",
                 srv->opts.listen_host);
    ev_io_init(&srv->accept_w, on_accept, srv->listen_fd, EV_READ);
    ev_timer_init(&srv->accept_retry_w, on_accept_retry, KAFKA_ACCEPT_RETRY_S, 0.0);
    ev_async_init(&srv->notify_w, on_notify);
    ev_prepare_init(&srv->ready_w, on_ready);
    srv->accept_w.data = srv->accept_retry_w.data = srv->notify_w.data = srv;
    srv->ready_w.data = srv;
    ev_io_start(loop, &srv->accept_w);
    ev_async_start(loop, &srv->notify_w);
    *out = srv;
    return 0;
}

unsigned kafka_server_port(const kafka_server_t *srv) { return srv->port; }

void kafka_server_notify(kafka_server_t *srv) { ev_async_send(srv->loop, &srv->notify_w); }

void kafka_server_stop(kafka_server_t *srv)
{
    if (!srv)
        return;
    ev_io_stop(srv->loop, &srv->accept_w);
    ev_timer_stop(srv->loop, &srv->accept_retry_w);
    ev_async_stop(srv->loop, &srv->notify_w);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    srv->listen_fd = -1;
    while (srv->conns)
        conn_close(srv->conns);
    kafka__warm_stop(srv);
    ev_prepare_stop(srv->loop, &srv->ready_w);
    kafka__groups_free(srv);
    kafka__offsets_close(srv);
    pthread_mutex_destroy(&srv->pub_mu);
    free(srv->pub);
    free(srv);
}

void kafka_server_stats_get(const kafka_server_t *srv, kafka_server_stats *out)
{
    /* The counters are only read here; atomic_load needs a non-const pointer in C11. */
    kafka_server_t *s = (kafka_server_t *)(uintptr_t)srv;
#define KAFKA_STAT_LOAD(f) out->f = atomic_load_explicit(&s->stats.f, memory_order_relaxed)
    KAFKA_STAT_LOAD(connections_accepted);
    KAFKA_STAT_LOAD(connections_open);
    KAFKA_STAT_LOAD(accept_pauses);
    KAFKA_STAT_LOAD(protocol_errors);
    KAFKA_STAT_LOAD(requests);
    KAFKA_STAT_LOAD(fetch_parked);
    KAFKA_STAT_LOAD(fetch_parked_now);
    KAFKA_STAT_LOAD(fetch_woken);
    KAFKA_STAT_LOAD(fetch_expired);
    KAFKA_STAT_LOAD(fetch_record_bytes);
    KAFKA_STAT_LOAD(produce_refused);
    KAFKA_STAT_LOAD(groups);
    KAFKA_STAT_LOAD(members);
    KAFKA_STAT_LOAD(rebalances);
    KAFKA_STAT_LOAD(offset_commits);
    KAFKA_STAT_LOAD(offset_commit_syncs);
    KAFKA_STAT_LOAD(offsets_compacted);
    KAFKA_STAT_LOAD(fetch_cold);
    KAFKA_STAT_LOAD(fetch_warm_ns);
    KAFKA_STAT_LOAD(fetch_sendfile_bytes);
#undef KAFKA_STAT_LOAD
}
