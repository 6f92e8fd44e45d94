/*
 * `rowlog binlog dump --format raw` against the fixtures' mariadb-binlog oracles: for every
 * fixture with a `.mariadb-binlog.txt` decode, the raw lines give exactly the events the
 * oracle lists, with the same start offset ("# at N"), server id and end_log_pos ("#YYMMDD
 * HH:MM:SS server id S  end_log_pos L"). mariadb-binlog prints the "# at" lines of an
 * ANNOTATE_ROWS event and the event after it together, before both headers, so the oracle's
 * offsets and headers are paired in order. Also: a truncated file stops with the byte offset
 * and exit status 1; a bad --format is a usage error. Skips when the fixtures are absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run_cmd.h"

typedef struct raw_ev {
    uint64_t at;
    uint64_t server_id;
    uint64_t log_pos;
} raw_ev;

typedef struct raw_list {
    raw_ev *v;
    size_t n, cap;
} raw_list;

static void list_put(raw_list *l, raw_ev e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    l->v[l->n++] = e;
}

/* The oracle's events: "# at N" lines and header lines, paired in order. */
static void oracle_events(const char *path, raw_list *out)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    raw_list ats = {0}, hdrs = {0};
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        uint64_t at, sid, end;
        char tail;
        if (sscanf(line, "# at %" SCNu64 "%c", &at, &tail) == 2 && tail == '\n') {
            list_put(&ats, (raw_ev){at, 0, 0});
            continue;
        }
        unsigned d, hh, mm, ss;
        if (line[0] == '#' &&
            sscanf(line, "#%6u %u:%u:%u server id %" SCNu64 " end_log_pos %" SCNu64, &d, &hh, &mm,
                   &ss, &sid, &end) == 6)
            list_put(&hdrs, (raw_ev){0, sid, end});
    }
    fclose(f);
    assert_int_equal(ats.n, hdrs.n);
    for (size_t i = 0; i < ats.n; i++)
        list_put(out, (raw_ev){ats.v[i].at, hdrs.v[i].server_id, hdrs.v[i].log_pos});
    free(ats.v);
    free(hdrs.v);
}

/* The raw lines: {"file":"F","at":N,...,"server_id":S,"size":Z,"log_pos":L,"flags":G}. */
static void raw_events(const rl_buf *out, raw_list *evs)
{
    const char *p = (const char *)out->p, *end = p + out->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        const char *a = strstr(p, "\"at\":"), *s = strstr(p, "\"server_id\":"),
                   *l = strstr(p, "\"log_pos\":");
        assert_true(a && s && l && a < nl && s < nl && l < nl);
        list_put(evs, (raw_ev){strtoull(a + 5, NULL, 10), strtoull(s + 12, NULL, 10),
                               strtoull(l + 10, NULL, 10)});
        p = nl + 1;
    }
}

static bool have_fixtures(void)
{
    struct stat st;
    return stat(RL_FIXTURES_DIR "/MANIFEST.md", &st) == 0;
}

static void test_raw_matches_oracles(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    DIR *d = opendir(RL_FIXTURES_DIR);
    assert_non_null(d);
    static const char sfx[] = ".mariadb-binlog.txt";
    struct dirent *de;
    size_t files = 0, events = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= sizeof sfx - 1 || strcmp(de->d_name + len - (sizeof sfx - 1), sfx) != 0)
            continue;
        char oracle[4096], binlog[4096];
        snprintf(oracle, sizeof oracle, "%s/%s", RL_FIXTURES_DIR, de->d_name);
        snprintf(binlog, sizeof binlog, "%s/%.*s", RL_FIXTURES_DIR, (int)(len - (sizeof sfx - 1)),
                 de->d_name);
        raw_list want = {0}, got = {0};
        oracle_events(oracle, &want);
        char *argv[] = {ROWLOG_BIN, "binlog", "dump", "--format", "raw", binlog, NULL};
        run_result res;
        run_cmd(argv, 60, &res);
        if (res.status != 0)
            fail_msg("%s: exit %d: %s", binlog, res.status, (const char *)res.err.p);
        raw_events(&res.out, &got);
        if (got.n != want.n)
            fail_msg("%s: %zu events, the oracle lists %zu", binlog, got.n, want.n);
        for (size_t i = 0; i < got.n; i++)
            if (got.v[i].at != want.v[i].at || got.v[i].server_id != want.v[i].server_id ||
                got.v[i].log_pos != want.v[i].log_pos)
                fail_msg("%s: event %zu: at %" PRIu64 " server id %" PRIu64 " log_pos %" PRIu64
                         ", the oracle says at %" PRIu64 " server id %" PRIu64
                         " end_log_pos %" PRIu64,
                         binlog, i, got.v[i].at, got.v[i].server_id, got.v[i].log_pos,
                         want.v[i].at, want.v[i].server_id, want.v[i].log_pos);
        events += got.n;
        files++;
        free(want.v);
        free(got.v);
        run_result_free(&res);
    }
    closedir(d);
    assert_true(files >= 50); /* the MANIFEST lists 98 oracles */
    print_message("%zu files, %zu events match their oracles\n", files, events);
}

static void test_raw_truncated(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    /* The fixture cut in the middle of its third event. */
    const char *src = RL_FIXTURES_DIR "/MyFlash__haha.000008";
    char tmpl[] = "/tmp/rowlog-rawtest-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    char buf[200];
    size_t n = fread(buf, 1, sizeof buf, in); /* events at 4, 123, 154: 200 cuts the third */
    fclose(in);
    assert_int_equal(n, sizeof buf);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
    char *argv[] = {ROWLOG_BIN, "binlog", "dump", "--format", "raw", tmpl, NULL};
    run_result res;
    run_cmd(argv, 60, &res);
    unlink(tmpl);
    assert_int_equal(res.status, 1);
    assert_int_equal(run_count_lines(&res.out), 2);
    assert_non_null(strstr((const char *)res.err.p, "154"));
    run_result_free(&res);
}

static void test_raw_bad_format(void **state)
{
    (void)state;
    char *argv[] = {ROWLOG_BIN, "binlog", "dump", "--format", "sql", "x", NULL};
    run_result res;
    run_cmd(argv, 60, &res);
    assert_int_equal(res.status, 2);
    assert_non_null(strstr((const char *)res.err.p, "'sql' is not events or raw"));
    run_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_matches_oracles),
        cmocka_unit_test(test_raw_truncated),
        cmocka_unit_test(test_raw_bad_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
