/*
 * binlog_file_next_transient (reader/file.c: pread into a reused buffer, slices valid until
 * the next call) must yield exactly what binlog_file_next (the mapping) yields: the same
 * events byte for byte, the same offsets, the same end (clean, zero-filled tail) and the same
 * errors with the same messages. Checked on every binlog fixture (skipped when
 * RL_FIXTURES_DIR is absent) with the default buffer and with buffer units of 19, 64 and
 * 1000 bytes, so that events straddle the buffer's end and many are larger than it; and on
 * hand-built files: zero tails (whole and not), truncated headers, events running past the
 * end, sizes below 19 bytes, a zero header followed by data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader/binlog_int.h"

static const size_t units[] = {0, 19, 64, 1000};

/* Reads path both ways with the given buffer unit; asserts they agree. Returns the events. */
static size_t compare_file(const char *path, size_t unit)
{
    binlog_file_t *a = NULL, *b = NULL;
    rl_err ea = {0, ""}, eb = {0, ""};
    int ra = binlog_file_open(&a, path, &ea), rb = binlog_file_open(&b, path, &eb);
    assert_int_equal(ra, rb);
    if (ra < 0) {
        assert_string_equal(ea.msg, eb.msg);
        return 0;
    }
    binlog__file_set_buffer(b, unit);
    size_t n = 0;
    for (;;) {
        rl_slice va = {NULL, 0}, vb = {NULL, 0};
        ra = binlog_file_next(a, &va, &ea);
        rb = binlog_file_next_transient(b, &vb, &eb);
        if (ra != rb)
            fail_msg("%s (unit %zu) event %zu: mmap %d (%s), transient %d (%s)", path, unit, n,
                     ra, ea.msg, rb, eb.msg);
        assert_int_equal(binlog_file_offset(a), binlog_file_offset(b));
        if (ra != 1)
            break;
        assert_int_equal(va.len, vb.len);
        assert_memory_equal(va.p, vb.p, va.len);
        n++;
    }
    if (ra < 0) {
        assert_string_equal(ea.msg, eb.msg);
        /* Errors stick, on both. */
        rl_slice v;
        assert_int_equal(binlog_file_next_transient(b, &v, &eb), rb);
        assert_string_equal(ea.msg, eb.msg);
    }
    binlog_file_close(a);
    binlog_file_close(b);
    return n;
}

static void test_fixtures(void **state)
{
    (void)state;
    DIR *d = opendir(RL_FIXTURES_DIR);
    if (!d)
        skip();
    struct dirent *de;
    size_t files = 0, events = 0;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (nm[0] == '.' || (l > 4 && strcmp(nm + l - 4, ".txt") == 0) ||
            strcmp(nm, "MANIFEST.md") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", RL_FIXTURES_DIR, nm);
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
            events += compare_file(path, units[u]);
        files++;
    }
    closedir(d);
    printf("# %zu fixtures, %zu events compared (4 buffer sizes)\n", files, events);
    assert_true(files > 50);
    assert_true(events > 1000);
}

static char *temp_file(const void *p, size_t n)
{
    char *path = strdup("/tmp/rowlog-test-transient.XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    return path;
}

/* magic, then events of the given sizes (type 2, event_size set, bytes filled), then tail. */
static void build(rl_buf *f, const uint32_t *sizes, size_t nsizes, const uint8_t *tail,
                  size_t ntail)
{
    rl_buf_reset(f);
    rl_buf_append(f, "\xfe" "bin", 4);
    for (size_t i = 0; i < nsizes; i++) {
        size_t at = f->len;
        for (uint32_t k = 0; k < sizes[i]; k++)
            rl_buf_putc(f, (char)(1 + (i * 31 + k) % 251));
        uint32_t s = sizes[i];
        f->p[at + 4] = 2;
        f->p[at + 9] = (uint8_t)s;
        f->p[at + 10] = (uint8_t)(s >> 8);
        f->p[at + 11] = (uint8_t)(s >> 16);
        f->p[at + 12] = (uint8_t)(s >> 24);
    }
    rl_buf_append(f, tail, ntail);
}

static size_t compare_bytes(const rl_buf *f, const char *want_err)
{
    char *p = temp_file(f->p, f->len);
    size_t n = 0;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        n = compare_file(p, units[u]);
        if (want_err) {
            binlog_file_t *b;
            rl_err e = {0, ""};
            assert_int_equal(binlog_file_open(&b, p, &e), 0);
            binlog__file_set_buffer(b, units[u]);
            rl_slice v;
            int rc;
            while ((rc = binlog_file_next_transient(b, &v, &e)) == 1)
                ;
            assert_int_equal(rc, RL_ECORRUPT);
            if (!strstr(e.msg, want_err))
                fail_msg("unit %zu: '%s' lacks '%s'", units[u], e.msg, want_err);
            binlog_file_close(b);
        }
    }
    unlink(p);
    free(p);
    return n;
}

static void test_edges(void **state)
{
    (void)state;
    rl_buf f = RL_BUF_INIT;
    static const uint32_t sizes[] = {19, 100, 3000, 19, 64, 65, 1000, 1001, 20};
    const size_t ns = sizeof sizes / sizeof sizes[0];
    uint8_t zeros[5000] = {0};

    build(&f, sizes, ns, NULL, 0);
    assert_int_equal(compare_bytes(&f, NULL), ns);
    /* Zero-filled tails, shorter and longer than a header and than the buffers. */
    size_t tails[] = {1, 18, 19, 100, 4999};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        build(&f, sizes, ns, zeros, tails[i]);
        assert_int_equal(compare_bytes(&f, NULL), ns);
    }
    /* A zero header with data after it is no tail: event_size 0 is an error. */
    uint8_t late[3000] = {0};
    late[2500] = 7;
    build(&f, sizes, ns, late, sizeof late);
    assert_int_equal(compare_bytes(&f, "below the 19-byte header"), ns);
    /* A truncated header. */
    uint8_t part[7] = {1, 2, 3, 4, 5, 6, 7};
    build(&f, sizes, ns, part, sizeof part);
    assert_int_equal(compare_bytes(&f, "truncated event header (7 of 19 bytes)"), ns);
    /* An event running past the end. */
    build(&f, sizes, ns, NULL, 0);
    f.len -= 1;
    assert_int_equal(compare_bytes(&f, "runs past the end of the file"), ns - 1);
    /* Only the magic. */
    build(&f, sizes, 0, NULL, 0);
    assert_int_equal(compare_bytes(&f, NULL), 0);
    rl_buf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
