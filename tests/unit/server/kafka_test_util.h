/*
 * kafka_test_util.h - helpers shared by the server tests written after test_kafka_server.c:
 * a kafka_server on its own libev loop and thread, and a raw protocol client (blocking
 * socket with timeouts, request framing with header v1, big-endian string helpers).
 * Included by one test .c each (every function is static); needs cmocka included first.
 */
#ifndef KAFKA_TEST_UTIL_H
#define KAFKA_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/rl.h"
#include "log/log.h"
#include "server/kafka.h"
#include "kafka_log_gen.h"

/* Not every test uses every helper. */
#define KT_UNUSED __attribute__((unused))

/* A kafka_server on its own libev loop and thread. */
typedef struct kt_server {
    struct ev_loop *loop;
    ev_async stop_w;
    pthread_t thread;
    kafka_server_t *srv;
    unsigned port;
    _Atomic int loop_tid; /* the loop thread's kernel thread id (0 until it runs) */
} kt_server;

KT_UNUSED static void kt_on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

KT_UNUSED static void *kt_loop_main(void *arg)
{
    kt_server *st = arg;
    atomic_store(&st->loop_tid, (int)syscall(SYS_gettid));
    ev_run(st->loop, 0);
    return NULL;
}

/* Starts a server on port 0 with opts (listen_port forced to 0), then the loop's thread. */
KT_UNUSED static void kt_server_start(kt_server *st, log_store_t *store,
                                      const kafka_server_opts *opts)
{
    rl_err err = {0};
    memset(st, 0, sizeof *st);
    st->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(st->loop);
    kafka_server_opts ko = *opts;
    ko.listen_port = 0;
    if (kafka_server_start(&st->srv, st->loop, store, &ko, &err) != 0)
        fail_msg("kafka_server_start: %s", err.msg);
    st->port = kafka_server_port(st->srv);
    assert_true(st->port > 0);
    ev_async_init(&st->stop_w, kt_on_stop);
    ev_async_start(st->loop, &st->stop_w);
    assert_int_equal(pthread_create(&st->thread, NULL, kt_loop_main, st), 0);
}

/* Stops the loop's thread, then the server (on this thread, which now owns the loop). */
KT_UNUSED static void kt_server_stop(kt_server *st)
{
    ev_async_send(st->loop, &st->stop_w);
    pthread_join(st->thread, NULL);
    kafka_server_stop(st->srv);
    ev_async_stop(st->loop, &st->stop_w);
    ev_loop_destroy(st->loop);
    st->srv = NULL;
}

KT_UNUSED static int64_t kt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

KT_UNUSED static void kt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ raw protocol client */

/* Connects to 127.0.0.1:port with 20 s send and receive timeouts and, when rcvbuf > 0, a
 * receive buffer of rcvbuf bytes set before connecting (so the window is small from the
 * start: the server's writes stop short). */
KT_UNUSED static int kt_connect_rcvbuf(unsigned port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

KT_UNUSED static int kt_connect(unsigned port)
{
    return kt_connect_rcvbuf(port, 0);
}

/* Sends all of p; false when the peer is gone (EPIPE, ECONNRESET). */
KT_UNUSED static bool kt_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return false;
        if (w < 0)
            fail_msg("send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
    return true;
}

KT_UNUSED static bool kt_recv_n(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* Reads one response frame (without its size field) into out; false when the connection
 * closed (or timed out) first. */
KT_UNUSED static bool kt_recv_frame_or_close(int fd, rl_buf *out)
{
    uint8_t sz[4];
    if (!kt_recv_n(fd, sz, 4))
        return false;
    uint32_t n = ((uint32_t)sz[0] << 24) | ((uint32_t)sz[1] << 16) | ((uint32_t)sz[2] << 8) | sz[3];
    assert_true(n >= 4 && n < (256u << 20));
    rl_buf_reset(out);
    assert_int_equal(rl_buf_reserve(out, n), 0);
    if (!kt_recv_n(fd, out->p, n))
        return false;
    out->len = n;
    return true;
}

KT_UNUSED static void kt_recv_frame(int fd, rl_buf *out)
{
    if (!kt_recv_frame_or_close(fd, out))
        fail_msg("no response (connection closed or timed out)");
}

/* True when the server closed the connection (EOF or reset) within the receive timeout. */
KT_UNUSED static bool kt_closed(int fd)
{
    uint8_t b[4096];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r == 0)
            return true;
        if (r < 0)
            return errno == ECONNRESET;
    }
}

/* Starts a request: size placeholder + header v1 (client id "raw-test"). */
KT_UNUSED static void kt_req_begin(rl_buf *b, int16_t key, int16_t version, int32_t corr)
{
    rl_buf_reset(b);
    rl_buf_put_be32(b, 0);
    rl_buf_put_be16(b, (uint16_t)key);
    rl_buf_put_be16(b, (uint16_t)version);
    rl_buf_put_be32(b, (uint32_t)corr);
    rl_buf_put_be16(b, 8);
    rl_buf_append(b, "raw-test", 8);
}

KT_UNUSED static void kt_req_end(rl_buf *b)
{
    assert_true(rl_buf_ok(b));
    rl_buf_patch_be32(b, 0, (uint32_t)(b->len - 4));
}

KT_UNUSED static void kt_put_str(rl_buf *b, const char *s)
{
    rl_buf_put_be16(b, (uint16_t)strlen(s));
    rl_buf_puts(b, s);
}

KT_UNUSED static rl_slice kt_get_str(rl_reader *rd)
{
    int16_t n = rl_get_i16be(rd);
    if (n < 0)
        return rl_slice_make(NULL, 0);
    return rl_get_bytes(rd, (size_t)n);
}

/* Sends the request in b and reads its response into resp, checking the correlation id;
 * rd is left after the response header. */
KT_UNUSED static rl_reader kt_call(int fd, const rl_buf *b, rl_buf *resp)
{
    assert_true(kt_send(fd, b->p, b->len));
    kt_recv_frame(fd, resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(resp));
    rl_reader req = rl_reader_make(rl_slice_make(b->p, b->len));
    rl_reader_skip(&req, 8);
    int32_t corr = rl_get_i32be(&req);
    assert_int_equal(rl_get_i32be(&rd), corr);
    return rd;
}

#endif /* KAFKA_TEST_UTIL_H */
