/*
 * rowlogd_poller.c - the primary poller thread: every opts->poll_ms it asks the primary for
 * its head position, GTID set and binlog list (reader/primary.h) over a connection of its
 * own, and keeps the last answer for the HTTP thread. It never touches the source thread's
 * replication connection, and the HTTP thread never waits on the primary: a slow or
 * unreachable primary only makes the polled values older (rowlog_source_head_poll_age).
 */
#include "server/rowlogd_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void *poller_main(void *arg)
{
    rowlogd_poller *p = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    binlog_primary_t *prim = NULL;
    binlog_primary_status st;
    memset(&st, 0, sizeof st);
    int rc = binlog_primary_new(&prim, &p->opts->source);
    bool warned = false;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        pthread_mutex_unlock(&p->lock);
        rl_err err = {0};
        if (prim)
            rc = binlog_primary_poll(prim, &st, &err);
        else
            rl_err_set(&err, rc, "out of memory");
        pthread_mutex_lock(&p->lock);
        p->polls++;
        p->error = rc;
        if (rc == 0) {
            /* Swap: the published status takes this poll's files, ours gets the old ones
             * (freed by the next poll). */
            binlog_primary_status old = p->st;
            p->st = st;
            st = old;
            p->have = true;
            p->error_msg[0] = 0;
            warned = false;
        } else {
            p->poll_errors++;
            snprintf(p->error_msg, sizeof p->error_msg, "%s", err.msg);
            if (!warned)
                rl_warn("primary poll: %s (lag metrics keep the last values)", err.msg);
            warned = true;
        }
        if (p->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += p->opts->poll_ms / 1000;
        until.tv_nsec += (long)(p->opts->poll_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&p->lock);
    binlog_primary_status_free(&st);
    binlog_primary_free(prim);
    return NULL;
}

int rowlogd_poller_start(rowlogd_poller *p, const rowlogd_opts *opts)
{
    memset(p, 0, sizeof *p);
    p->opts = opts;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    int rc = pthread_create(&p->thread, NULL, poller_main, p);
    if (rc != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        return -rc;
    }
    return 0;
}

void rowlogd_poller_stop(rowlogd_poller *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    binlog_primary_status_free(&p->st);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
}

int rowlogd_poller_get(rowlogd_poller *p, binlog_primary_status *out)
{
    pthread_mutex_lock(&p->lock);
    int rc = p->have ? binlog_primary_status_copy(out, &p->st) : RL_ENOTFOUND;
    pthread_mutex_unlock(&p->lock);
    return rc;
}
