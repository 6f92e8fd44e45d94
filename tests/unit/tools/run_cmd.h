/* run_cmd.h - test helper: runs a program with arguments, collects its stdout and stderr and
 * exit status, and kills it after a deadline. Included by the tools/ tests that drive the
 * built `rowlog` binary (its path comes from the ROWLOG_BIN compile definition). */
#ifndef ROWLOG_TEST_RUN_CMD_H
#define ROWLOG_TEST_RUN_CMD_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/rl.h"

typedef struct run_result {
    rl_buf out;
    rl_buf err;
    int status; /* exit status, or 128 + signal number; -1 when it had to be killed */
} run_result;

typedef struct run_proc {
    pid_t pid;
    int out_fd;
    int err_fd;
} run_proc;

/* Starts argv[0] with argv; stdin is /dev/null. Returns 0 or -errno. */
static int run_start(run_proc *rp, char *const argv[])
{
    int o[2], e[2];
    if (pipe(o) != 0)
        return -errno;
    if (pipe(e) != 0) {
        close(o[0]);
        close(o[1]);
        return -errno;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        return rc;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    rp->pid = pid;
    rp->out_fd = o[0];
    rp->err_fd = e[0];
    return 0;
}

static int64_t run_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is available from the process's pipes into res, waiting at most wait_ms.
 * Returns false once both pipes reached end of file. */
static bool run_pump(run_proc *rp, run_result *res, int wait_ms)
{
    struct pollfd pf[2];
    int n = 0;
    if (rp->out_fd >= 0)
        pf[n++] = (struct pollfd){rp->out_fd, POLLIN, 0};
    if (rp->err_fd >= 0)
        pf[n++] = (struct pollfd){rp->err_fd, POLLIN, 0};
    if (n == 0)
        return false;
    if (poll(pf, (nfds_t)n, wait_ms) <= 0)
        return true;
    for (int i = 0; i < n; i++) {
        if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[65536];
        ssize_t got = read(pf[i].fd, buf, sizeof buf);
        bool is_out = pf[i].fd == rp->out_fd;
        if (got > 0) {
            rl_buf_append(is_out ? &res->out : &res->err, buf, (size_t)got);
        } else if (got == 0 || errno != EINTR) {
            close(pf[i].fd);
            if (is_out)
                rp->out_fd = -1;
            else
                rp->err_fd = -1;
        }
    }
    return rp->out_fd >= 0 || rp->err_fd >= 0;
}

/* Collects the rest of the output and the exit status; kills the process at deadline_ms
 * (monotonic, run_now_ms) if it has not exited by then. */
static void run_finish(run_proc *rp, run_result *res, int64_t deadline_ms)
{
    bool killed = false;
    while (run_pump(rp, res, 100)) {
        if (!killed && run_now_ms() > deadline_ms) {
            kill(rp->pid, SIGKILL);
            killed = true;
        }
    }
    int st = 0;
    while (waitpid(rp->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (killed)
        res->status = -1;
    else if (WIFEXITED(st))
        res->status = WEXITSTATUS(st);
    else
        res->status = 128 + WTERMSIG(st);
    rl_buf_cstr(&res->out);
    rl_buf_cstr(&res->err);
}

/* Runs argv to completion (killed after timeout_s seconds). */
static void run_cmd(char *const argv[], int timeout_s, run_result *res)
{
    run_proc rp;
    memset(res, 0, sizeof *res);
    if (run_start(&rp, argv) != 0) {
        res->status = -1;
        rl_buf_cstr(&res->out); /* empty strings, so callers can print them */
        rl_buf_cstr(&res->err);
        return;
    }
    run_finish(&rp, res, run_now_ms() + (int64_t)timeout_s * 1000);
}

static void run_result_free(run_result *res)
{
    rl_buf_free(&res->out);
    rl_buf_free(&res->err);
}

/* Number of '\n'-terminated lines in b. */
static size_t run_count_lines(const rl_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->p[i] == '\n';
    return n;
}

#endif /* ROWLOG_TEST_RUN_CMD_H */
