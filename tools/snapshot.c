/*
 * snapshot.c - `rowlog snapshot [--http HOST:PORT] [--wait] DB.TABLE...`: asks a running
 * rowlogd for an on-demand snapshot of tables while it streams (POST /v1/snapshots,
 * server/rowlogd_http.c; docs/snapshots.md "On demand", docs/cli.md).
 *
 * rowlogd answers once the request is stored durably (202): from then on a restart of rowlogd
 * resumes it. With --wait the command then polls GET /v1/snapshots every second and prints
 * each table's progress until all the requested tables are done. Exit status: 0 accepted (and
 * with --wait: complete), 1 refused or failed (rowlogd's reason on stderr), 2 usage error,
 * 130 interrupted.
 */
#include "tools/tools.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void snapshot_usage(FILE *f)
{
    fputs("usage: rowlog snapshot [--http HOST:PORT | --rowlogd URL] [--wait] [--timeout MS]\n"
          "                       DB.TABLE...\n"
          "\n"
          "Asks rowlogd to read the tables again while it keeps streaming (an on-demand\n"
          "snapshot: no lock, no write to the source; docs/snapshots.md). The tables' current\n"
          "rows are appended to their topics as op \"r\" records, source.snapshot\n"
          "\"incremental\", merged with the stream so that the topic reduced per key equals the\n"
          "table. Needs GTIDs at the source and a primary key (or a UNIQUE key of NOT NULL\n"
          "columns) on each table.\n"
          "\n"
          "  --http HOST:PORT  rowlogd's --http address (default " TOOL_DEFAULT_HTTP ")\n"
          "  --rowlogd URL     the same as a URL (http://HOST:PORT)\n"
          "  --wait            follow the progress until every table is done\n"
          "  --timeout MS      per HTTP request (default 60000: validation connects to the\n"
          "                    source, and the request waits for the next transaction boundary)\n",
          f);
}

/* Progress of the requested tables from GET /v1/snapshots; *all_done when every one of
 * names is listed as done. Prints one line per requested table. */
static int print_progress(const char *body, char **names, int n, bool *all_done, rl_err *err)
{
    json_error_t je;
    json_t *root = json_loads(body, 0, &je);
    json_t *tables = root ? json_object_get(root, "tables") : NULL;
    if (!json_is_array(tables)) {
        json_decref(root);
        return rl_err_set(err, RL_EPROTO, "GET /v1/snapshots: not the expected JSON (%s)",
                          root ? "no tables array" : je.text);
    }
    *all_done = true;
    for (int i = 0; i < n; i++) {
        json_t *t = NULL, *it;
        size_t k;
        json_array_foreach(tables, k, it)
        {
            const char *nm = json_string_value(json_object_get(it, "table"));
            if (nm && strcmp(nm, names[i]) == 0)
                t = it;
        }
        if (!t) {
            *all_done = false;
            printf("%s: queued\n", names[i]);
            continue;
        }
        json_int_t rows = json_integer_value(json_object_get(t, "rows_read"));
        json_int_t est = json_integer_value(json_object_get(t, "rows_estimated"));
        json_int_t chunks = json_integer_value(json_object_get(t, "chunks"));
        json_int_t dropped = json_integer_value(json_object_get(t, "rows_dropped"));
        bool done = json_is_true(json_object_get(t, "done"));
        if (!done)
            *all_done = false;
        printf("%s: %s, %lld rows read (of ~%lld), %lld chunks, %lld rows left to the stream\n",
               names[i], done ? "done" : "running", (long long)rows, (long long)est,
               (long long)chunks, (long long)dropped);
    }
    fflush(stdout);
    json_decref(root);
    return 0;
}

int tool_snapshot_main(int argc, char **argv)
{
    const char *prog = "rowlog snapshot";
    const char *http = TOOL_DEFAULT_HTTP;
    uint64_t timeout_ms = 60000;
    bool wait = false;
    char *names[64];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            snapshot_usage(stdout);
            return TOOL_EXIT_OK;
        } else if (strcmp(a, "--http") == 0 || strcmp(a, "--rowlogd") == 0) {
            if (++i == argc)
                return tool_usage_error(prog, snapshot_usage, "%s needs an address", a);
            http = argv[i];
            if (strncmp(http, "http://", 7) == 0)
                http += 7;
        } else if (strcmp(a, "--wait") == 0) {
            wait = true;
        } else if (strcmp(a, "--timeout") == 0) {
            if (++i == argc || tool_parse_u64(argv[i], 3600000, &timeout_ms) != 0 ||
                timeout_ms == 0)
                return tool_usage_error(prog, snapshot_usage, "--timeout: '%s' is not 1-3600000 ms",
                                        i < argc ? argv[i] : "");
        } else if (a[0] == '-') {
            return tool_usage_error(prog, snapshot_usage, "unknown option '%s'", a);
        } else {
            const char *dot = strchr(a, '.');
            if (!dot || dot == a || !dot[1] || strchr(a, ','))
                return tool_usage_error(prog, snapshot_usage, "'%s' is not DB.TABLE", a);
            if (n == (int)(sizeof names / sizeof names[0]))
                return tool_usage_error(prog, snapshot_usage, "at most 64 tables ('%s')", a);
            names[n++] = argv[i];
        }
    }
    if (n == 0)
        return tool_usage_error(prog, snapshot_usage, "%s", "no DB.TABLE given");
    size_t hl = strlen(http);
    if (hl && http[hl - 1] == '/')
        hl--;
    if (!hl || memchr(http, '/', hl) || !memchr(http, ':', hl))
        return tool_usage_error(prog, snapshot_usage, "--http: '%s' is not HOST:PORT", http);

    rl_buf url = RL_BUF_INIT, body = RL_BUF_INIT;
    rl_err err = {0};
    int ret = TOOL_EXIT_FAIL;
    rl_buf_printf(&url, "http://%.*s/v1/snapshots?tables=", (int)hl, http);
    for (int i = 0; i < n; i++) {
        if (i)
            rl_buf_puts(&url, "%2C");
        tool_url_escape(&url, names[i]);
    }
    long status = 0;
    const char *u = rl_buf_cstr(&url);
    if (!u) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto out;
    }
    if (tool_http_post(u, (int)timeout_ms, 0, &status, &body, &err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        goto out;
    }
    const char *b = rl_buf_cstr(&body);
    if (status != 202) {
        /* rowlogd's reason is in {"status":"error","reason":"..."} */
        json_t *root = b ? json_loads(b, 0, NULL) : NULL;
        const char *why = root ? json_string_value(json_object_get(root, "reason")) : NULL;
        fprintf(stderr, "%s: refused (HTTP %ld): %s\n", prog, status, why ? why : (b ? b : ""));
        json_decref(root);
        goto out;
    }
    printf("accepted: ");
    for (int i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", names[i]);
    printf("\n");
    fflush(stdout);
    if (!wait) {
        ret = TOOL_EXIT_OK;
        goto out;
    }
    sigset_t stop;
    if (tool_signals_block(&stop) != 0) {
        fprintf(stderr, "%s: cannot block signals\n", prog);
        goto out;
    }
    rl_buf_reset(&url);
    rl_buf_printf(&url, "http://%.*s/v1/snapshots", (int)hl, http);
    for (;;) {
        rl_buf_reset(&body);
        u = rl_buf_cstr(&url);
        if (!u || tool_http_get(u, (int)timeout_ms, 0, &status, &body, &err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, u ? err.msg : "out of memory");
            goto out;
        }
        b = rl_buf_cstr(&body);
        bool done = false;
        if (status != 200 || !b) {
            fprintf(stderr, "%s: GET /v1/snapshots: HTTP %ld\n", prog, status);
            goto out;
        }
        if (print_progress(b, names, n, &done, &err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            goto out;
        }
        if (done) {
            ret = TOOL_EXIT_OK;
            goto out;
        }
        struct timespec ts = {1, 0};
        if (sigtimedwait(&stop, NULL, &ts) > 0) {
            ret = TOOL_EXIT_INTERRUPTED;
            goto out;
        }
    }
out:
    rl_buf_free(&url);
    rl_buf_free(&body);
    return ret;
}
