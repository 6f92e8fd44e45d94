/* Internal topics: rowlogd's own bookkeeping topics (names beginning with "__", such as
 * __rowlog_xa) are marked is_internal in Metadata v1-4 (server/kafka_api.c; Kafka's
 * MetadataResponse.json "IsInternal"), table topics are not, whether all topics or named ones
 * are asked for; and `rowlog topics` (the built binary, ROWLOG_BIN) lists an internal topic
 * only with --internal. A real kafka_server on a real log store holding both kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/server/kafka_test_util.h"
#include "tests/unit/tools/run_cmd.h"

#define T_TABLE "rowlog.shop.orders"
#define T_XA "__rowlog_xa"
#define T_ODD "_single_underscore" /* one underscore: an ordinary topic */

typedef struct fixture {
    char dir[64];
    log_store_t *store;
    kt_server ks;
} fixture;

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rl-internal.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.partitions = 2;
    rl_err err = {0};
    if (log_store_open(&fx->store, fx->dir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    const char *topics[] = {T_TABLE, T_XA, T_ODD};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (kg_append_varied(fx->store, topics[i], 4 + i, 16, 100, &err) != 0)
            fail_msg("append to %s: %s", topics[i], err.msg);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    snprintf(ko.listen_host, sizeof ko.listen_host, "127.0.0.1");
    kt_server_start(&fx->ks, fx->store, &ko);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *fx = *state;
    kt_server_stop(&fx->ks);
    log_store_close(fx->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* Sends Metadata v (null topics: all; else the names given) and returns, per topic in the
 * answer, its name and is_internal byte (at most 8 topics); asserts the rest of the layout. */
typedef struct md_topic {
    char name[64];
    int16_t error;
    int internal;
    int32_t partitions;
} md_topic;

static size_t metadata(fixture *fx, int16_t v, const char *const *names, size_t nnames,
                       md_topic *out)
{
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = kt_connect(fx->ks.port);
    kt_req_begin(&req, 3, v, 77);
    if (!names) {
        rl_buf_put_be32(&req, (uint32_t)-1);
    } else {
        rl_buf_put_be32(&req, (uint32_t)nnames);
        for (size_t i = 0; i < nnames; i++)
            kt_put_str(&req, names[i]);
    }
    if (v >= 4)
        rl_buf_putc(&req, 0); /* allow_auto_topic_creation */
    kt_req_end(&req);
    rl_reader rd = kt_call(fd, &req, &resp);
    if (v >= 3)
        assert_int_equal(rl_get_i32be(&rd), 0); /* throttle */
    assert_int_equal(rl_get_i32be(&rd), 1);     /* brokers */
    (void)rl_get_i32be(&rd);
    (void)kt_get_str(&rd);
    (void)rl_get_i32be(&rd);
    (void)kt_get_str(&rd); /* rack */
    if (v >= 2)
        (void)kt_get_str(&rd); /* cluster id */
    (void)rl_get_i32be(&rd);   /* controller */
    int32_t nt = rl_get_i32be(&rd);
    assert_true(nt >= 0 && nt <= 8);
    for (int32_t t = 0; t < nt; t++) {
        out[t].error = rl_get_i16be(&rd);
        rl_slice name = kt_get_str(&rd);
        assert_true(name.len < sizeof out[t].name);
        memcpy(out[t].name, name.p, name.len);
        out[t].name[name.len] = 0;
        out[t].internal = rl_get_u8(&rd);
        out[t].partitions = rl_get_i32be(&rd);
        for (int32_t p = 0; p < out[t].partitions; p++) {
            (void)rl_get_i16be(&rd);
            (void)rl_get_i32be(&rd);
            (void)rl_get_i32be(&rd);
            int32_t n = rl_get_i32be(&rd);
            rl_reader_skip(&rd, 4 * (size_t)n);
            n = rl_get_i32be(&rd);
            rl_reader_skip(&rd, 4 * (size_t)n);
        }
    }
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
    return (size_t)nt;
}

static const md_topic *find(const md_topic *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

static void test_metadata_marks_internal(void **state)
{
    fixture *fx = *state;
    md_topic t[8];
    for (int16_t v = 1; v <= 4; v++) {
        /* All topics. */
        size_t n = metadata(fx, v, NULL, 0, t);
        assert_int_equal(n, 3);
        const md_topic *xa = find(t, n, T_XA), *tab = find(t, n, T_TABLE), *odd = find(t, n, T_ODD);
        assert_non_null(xa);
        assert_non_null(tab);
        assert_non_null(odd);
        assert_int_equal(xa->internal, 1);
        assert_int_equal(tab->internal, 0);
        assert_int_equal(odd->internal, 0);
        assert_int_equal(xa->partitions, 2);
        assert_int_equal(tab->partitions, 2);
        /* Named topics: the same marks; an unknown internal-looking name is marked too (the
         * mark is a property of the name, as in Kafka, not of the topic's existence). */
        const char *names[] = {T_TABLE, T_XA, "__nosuch"};
        n = metadata(fx, v, names, 3, t);
        assert_int_equal(n, 3);
        assert_string_equal(t[0].name, T_TABLE);
        assert_int_equal(t[0].internal, 0);
        assert_int_equal(t[0].error, 0);
        assert_string_equal(t[1].name, T_XA);
        assert_int_equal(t[1].internal, 1);
        assert_int_equal(t[1].error, 0);
        assert_string_equal(t[2].name, "__nosuch");
        assert_int_equal(t[2].error, 3); /* UNKNOWN_TOPIC_OR_PARTITION */
        assert_int_equal(t[2].internal, 1);
    }
}

/* The topic names of `rowlog topics` output lines (first column), in order, joined by ','. */
static void topic_column(const rl_buf *out, char *dst, size_t cap)
{
    size_t w = 0;
    dst[0] = 0;
    const char *p = (const char *)out->p, *end = p + out->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *tab = memchr(p, '\t', (size_t)((nl ? nl : end) - p));
        assert_non_null(tab);
        int k = snprintf(dst + w, cap - w, "%s%.*s", w ? "," : "", (int)(tab - p), p);
        assert_true(k > 0 && (size_t)k < cap - w);
        w += (size_t)k;
        p = nl ? nl + 1 : end;
    }
}

static void test_rowlog_topics_hides_internal(void **state)
{
    fixture *fx = *state;
    char boot[64], names[512];
    snprintf(boot, sizeof boot, "127.0.0.1:%u", fx->ks.port);

    run_result res;
    char *plain[] = {ROWLOG_BIN, "topics", "--bootstrap", boot, NULL};
    run_cmd(plain, 60, &res);
    if (res.status != 0)
        fail_msg("rowlog topics exited %d: %s", res.status, rl_buf_cstr(&res.err));
    assert_int_equal(run_count_lines(&res.out), 4);
    topic_column(&res.out, names, sizeof names);
    /* Sorted by name, two partitions each; no __rowlog_xa. */
    assert_string_equal(names, T_ODD "," T_ODD "," T_TABLE "," T_TABLE);
    run_result_free(&res);

    char *all[] = {ROWLOG_BIN, "topics", "--internal", "--bootstrap", boot, NULL};
    run_cmd(all, 60, &res);
    if (res.status != 0)
        fail_msg("rowlog topics --internal exited %d: %s", res.status, rl_buf_cstr(&res.err));
    topic_column(&res.out, names, sizeof names);
    assert_string_equal(names, T_XA "," T_XA "," T_ODD "," T_ODD "," T_TABLE "," T_TABLE);
    /* Each internal line has the watermarks of the topic: log start 0, and the partitions'
     * ends add up to the records appended (5). */
    long sum = 0;
    const char *p = rl_buf_cstr(&res.out);
    for (int i = 0; i < 2; i++) {
        char t[64];
        int part;
        long lo, hi;
        assert_int_equal(sscanf(p, "%63[^\t]\t%d\t%ld\t%ld", t, &part, &lo, &hi), 4);
        assert_string_equal(t, T_XA);
        assert_int_equal(part, i);
        assert_int_equal(lo, 0);
        sum += hi;
        p = strchr(p, '\n') + 1;
    }
    assert_int_equal(sum, 5);
    run_result_free(&res);

    /* The usage text names the option. */
    char *help[] = {ROWLOG_BIN, "topics", "--help", NULL};
    run_cmd(help, 30, &res);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(rl_buf_cstr(&res.out), "--internal"));
    run_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata_marks_internal),
        cmocka_unit_test(test_rowlog_topics_hides_internal),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
