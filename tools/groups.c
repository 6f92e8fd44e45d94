/*
 * groups.c - `rowlog groups`: consumer groups with their members, committed offsets and lag.
 *
 * Output, tab-separated lines, groups sorted by name:
 *   group<TAB>GROUP<TAB>STATE<TAB>PROTOCOL<TAB>MEMBERS
 *   member<TAB>GROUP<TAB>MEMBER_ID<TAB>CLIENT_ID<TAB>HOST<TAB>ASSIGNED
 *   offset<TAB>GROUP<TAB>TOPIC<TAB>PARTITION<TAB>COMMITTED<TAB>LOG_END<TAB>LAG<TAB>MEMBER_ID
 * ASSIGNED lists the member's partitions as TOPIC:P,P,... separated by spaces ("-" for none).
 * One offset line per partition that has a committed offset or is assigned to a member,
 * sorted by topic and partition; COMMITTED and LAG are "-" when the group has no committed
 * offset there, MEMBER_ID "-" when no member holds the partition. LAG = LOG_END - COMMITTED.
 *
 * How:
 *   - ListGroups and DescribeGroups (rd_kafka_list_groups) give the groups, their state and
 *     members; a member's assignment is the ConsumerProtocolAssignment the group leader sent
 *     through SyncGroup (apache/kafka clients/src/main/resources/common/message/
 *     ConsumerProtocolAssignment.json), decoded here:
 *       version int16, assigned_partitions array (int32 count) of
 *         { topic string (int16 length + bytes), partitions array (int32 count) of int32 },
 *       user_data bytes (int32 length, -1 = null) (ignored)
 *   - committed offsets: a second client handle with group.id = GROUP that never subscribes,
 *     so rd_kafka_committed sends OffsetFetch only and the group is not joined or disturbed;
 *     it is asked about every partition of every non-internal topic in the metadata;
 *   - log end offsets: the high watermark (ListOffsets latest).
 */
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS_PROG "rowlog groups"
/* Bounds on a decoded assignment, so that a hostile one cannot make us allocate much. */
#define GROUPS_MAX_ASSIGNED 100000

/* One assigned partition of one member. */
typedef struct groups_assigned {
    char topic[256];
    int32_t partition;
    const char *member_id; /* points into the group list */
} groups_assigned;

typedef struct groups_list {
    groups_assigned *a;
    size_t n, cap;
} groups_list;

static void groups_usage(FILE *f)
{
    fputs("usage: rowlog groups [--bootstrap HOST:PORT] [--timeout MS] [--verbose] [GROUP...]\n"
          "\n"
          "Lists consumer groups (every group, or the GROUPs named), tab-separated:\n"
          "  group   GROUP STATE PROTOCOL MEMBERS\n"
          "  member  GROUP MEMBER_ID CLIENT_ID HOST ASSIGNED(TOPIC:P,P ...)\n"
          "  offset  GROUP TOPIC PARTITION COMMITTED LOG_END LAG MEMBER_ID\n"
          "An offset line is printed for every partition with a committed offset or an owner;\n"
          "'-' marks a missing value. Reading the committed offsets does not join the group.\n"
          "\n"
          "  --bootstrap HOST:PORT  broker to connect to (default " TOOL_DEFAULT_BOOTSTRAP ")\n"
          "  --timeout MS           limit for each request (default 10000)\n"
          "  --verbose              print librdkafka's log lines on stderr\n"
          "  --help                 this text\n"
          "\n"
          "Exit status: 0 done, 1 error (broker down, groups not supported), 2 usage.\n",
          f);
}

static int groups_add(groups_list *l, rl_slice topic, int32_t partition, const char *member_id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        groups_assigned *a = realloc(l->a, cap * sizeof *a);
        if (!a)
            return -ENOMEM;
        l->a = a;
        l->cap = cap;
    }
    groups_assigned *g = &l->a[l->n++];
    size_t n = topic.len < sizeof g->topic - 1 ? topic.len : sizeof g->topic - 1;
    memcpy(g->topic, topic.p, n);
    g->topic[n] = '\0';
    g->partition = partition;
    g->member_id = member_id;
    return 0;
}

/* Decodes one member's assignment into l and its text form into text ("t:0,1 u:3").
 * Returns 0, RL_ECORRUPT (malformed: err says where) or -ENOMEM. */
static int groups_decode_assignment(const void *p, size_t n, const char *member_id, groups_list *l,
                                    rl_buf *text, rl_err *err)
{
    rl_buf_reset(text);
    if (n == 0) {
        rl_buf_putc(text, '-');
        return 0;
    }
    rl_reader rd = rl_reader_make(rl_slice_make(p, n));
    int16_t version = rl_get_i16be(&rd);
    int32_t ntopics = rl_get_i32be(&rd);
    if (rd.err || version < 0 || ntopics < 0 || (size_t)ntopics > rl_reader_left(&rd) / 6)
        return rl_err_set(err, RL_ECORRUPT, "member %s: malformed assignment header (%zu bytes)",
                          member_id, n);
    for (int32_t t = 0; t < ntopics; t++) {
        int16_t tlen = rl_get_i16be(&rd);
        rl_slice topic = rl_get_bytes(&rd, tlen > 0 ? (size_t)tlen : 0);
        int32_t nparts = rl_get_i32be(&rd);
        if (rd.err || tlen <= 0 || nparts < 0 || (size_t)nparts > rl_reader_left(&rd) / 4 ||
            l->n + (size_t)nparts > GROUPS_MAX_ASSIGNED)
            return rl_err_set(err, RL_ECORRUPT,
                              "member %s: malformed assignment at byte %zu of %zu", member_id,
                              (size_t)(rd.p - (const uint8_t *)p), n);
        if (text->len)
            rl_buf_putc(text, ' ');
        rl_buf_append(text, topic.p, topic.len);
        rl_buf_putc(text, ':');
        for (int32_t i = 0; i < nparts; i++) {
            int32_t part = rl_get_i32be(&rd);
            if (i)
                rl_buf_putc(text, ',');
            rl_buf_put_i64(text, part);
            if (groups_add(l, topic, part, member_id))
                return -ENOMEM;
        }
    }
    /* user_data follows; not needed. */
    if (text->len == 0)
        rl_buf_putc(text, '-');
    return rl_buf_ok(text) ? 0 : -ENOMEM;
}

static const char *groups_owner(const groups_list *l, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->a[i].partition == partition && strcmp(l->a[i].topic, topic) == 0)
            return l->a[i].member_id;
    }
    return NULL;
}

static int groups_info_cmp(const void *a, const void *b)
{
    const struct rd_kafka_group_info *x = *(const struct rd_kafka_group_info *const *)a;
    const struct rd_kafka_group_info *y = *(const struct rd_kafka_group_info *const *)b;
    return strcmp(x->group, y->group);
}

static int groups_tp_cmp(const void *a, const void *b)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Prints the member and offset lines of one group. */
static int groups_show(const tool_kafka_opts *ko, const struct rd_kafka_group_info *gi,
                       const struct rd_kafka_metadata *md, rl_err *err)
{
    groups_list l = {NULL, 0, 0};
    rl_buf text = RL_BUF_INIT;
    tool_kafka *gc = NULL;
    rd_kafka_topic_partition_list_t *tpl = NULL;
    int rc = 0;

    printf("group\t%s\t%s\t%s\t%d\n", gi->group, gi->state ? gi->state : "-",
           gi->protocol && gi->protocol[0] ? gi->protocol : "-", gi->member_cnt);
    if (gi->err)
        fprintf(stderr, GROUPS_PROG ": group '%s': %s\n", gi->group, rd_kafka_err2str(gi->err));
    for (int m = 0; m < gi->member_cnt; m++) {
        const struct rd_kafka_group_member_info *mi = &gi->members[m];
        rc = groups_decode_assignment(mi->member_assignment, (size_t)mi->member_assignment_size,
                                      mi->member_id, &l, &text, err);
        if (rc == RL_ECORRUPT) {
            fprintf(stderr, GROUPS_PROG ": group '%s': %s\n", gi->group, err->msg);
            rl_buf_reset(&text);
            rl_buf_putc(&text, '?');
            rc = 0;
        } else if (rc) {
            rl_err_set(err, rc, "out of memory");
            goto out;
        }
        printf("member\t%s\t%s\t%s\t%s\t%s\n", gi->group, mi->member_id,
               mi->client_id ? mi->client_id : "-", mi->client_host ? mi->client_host : "-",
               rl_buf_cstr(&text));
    }

    /* Committed offsets: every partition of every non-internal topic. */
    size_t total = 0;
    for (int t = 0; t < md->topic_cnt; t++)
        total += md->topics[t].partition_cnt > 0 ? (size_t)md->topics[t].partition_cnt : 0;
    tpl = rd_kafka_topic_partition_list_new((int)(total ? total : 1));
    if (!tpl) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (mt->err || tool_topic_is_internal(mt->topic))
            continue;
        for (int p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(tpl, mt->topic, mt->partitions[p].id);
    }
    for (size_t i = 0; i < l.n; i++) { /* assigned topics missing from metadata */
        if (!rd_kafka_topic_partition_list_find(tpl, l.a[i].topic, l.a[i].partition))
            rd_kafka_topic_partition_list_add(tpl, l.a[i].topic, l.a[i].partition);
    }
    if (tpl->cnt == 0)
        goto out;
    const char *extra[] = {"group.id", gi->group, NULL};
    gc = tool_kafka_new(ko, extra, err);
    if (!gc) {
        rc = err->code;
        goto out;
    }
    rd_kafka_resp_err_t e = rd_kafka_committed(tool_kafka_rk(gc), tpl, ko->timeout_ms);
    if (e) {
        rc = rl_err_set(err, RL_EPROTO, "group '%s': cannot read committed offsets: %s", gi->group,
                        rd_kafka_err2str(e));
        goto out;
    }
    qsort(tpl->elems, (size_t)tpl->cnt, sizeof tpl->elems[0], groups_tp_cmp);
    for (int i = 0; i < tpl->cnt; i++) {
        rd_kafka_topic_partition_t *p = &tpl->elems[i];
        const char *owner = groups_owner(&l, p->topic, p->partition);
        bool committed = p->err == RD_KAFKA_RESP_ERR_NO_ERROR && p->offset >= 0;
        if (!committed && !owner)
            continue;
        int64_t lo = 0, hi = -1;
        e = rd_kafka_query_watermark_offsets(tool_kafka_rk(gc), p->topic, p->partition, &lo, &hi,
                                             ko->timeout_ms);
        if (e)
            fprintf(stderr, GROUPS_PROG ": %s [%" PRId32 "]: cannot read its log end: %s\n",
                    p->topic, p->partition, rd_kafka_err2str(e));
        printf("offset\t%s\t%s\t%" PRId32 "\t", gi->group, p->topic, p->partition);
        if (committed)
            printf("%" PRId64 "\t", p->offset);
        else
            fputs("-\t", stdout);
        if (e)
            fputs("-\t-\t", stdout);
        else if (committed)
            printf("%" PRId64 "\t%" PRId64 "\t", hi, hi > p->offset ? hi - p->offset : 0);
        else
            printf("%" PRId64 "\t-\t", hi);
        printf("%s\n", owner ? owner : "-");
    }
out:
    if (tpl)
        rd_kafka_topic_partition_list_destroy(tpl);
    tool_kafka_destroy(gc);
    free(l.a);
    rl_buf_free(&text);
    return rc;
}

int tool_groups_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_KAFKA_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    tool_kafka_opts ko = {.bootstrap = TOOL_DEFAULT_BOOTSTRAP,
                          .prog = GROUPS_PROG,
                          .timeout_ms = TOOL_DEFAULT_TIMEOUT_MS};
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        int rc = tool_kafka_option(c, GROUPS_PROG, groups_usage, argv, &ko);
        if (rc != TOOL_OPT_NEXT)
            return rc;
    }
    for (int a = optind; a < argc; a++) {
        if (!*argv[a])
            return tool_usage_error(GROUPS_PROG, groups_usage, "empty GROUP name%s", "");
    }

    int status = TOOL_EXIT_FAIL;
    rl_err err = {0, ""};
    const struct rd_kafka_metadata *md = NULL;
    const struct rd_kafka_group_list **lists = NULL;
    const struct rd_kafka_group_info **infos = NULL;
    int nlists = argc > optind ? argc - optind : 1;
    size_t ninfos = 0;
    tool_kafka *kc = tool_kafka_new(&ko, NULL, &err);
    if (!kc)
        goto fail;
    lists = calloc((size_t)nlists, sizeof *lists);
    if (!lists) {
        rl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }
    /* Metadata first: it says quickly and clearly when the broker is down. */
    if (tool_kafka_metadata(kc, NULL, &md, &err))
        goto fail;
    size_t total = 0;
    for (int i = 0; i < nlists; i++) {
        const char *name = argc > optind ? argv[optind + i] : NULL;
        rd_kafka_resp_err_t e =
            rd_kafka_list_groups(tool_kafka_rk(kc), name, &lists[i], ko.timeout_ms);
        if (e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
            rl_err_set(&err, RL_EUNSUPPORTED,
                       "the broker at %s does not support listing groups (ListGroups and "
                       "DescribeGroups)",
                       ko.bootstrap);
            goto fail;
        }
        if (e) {
            rl_err_set(&err, RL_EPROTO, "cannot list groups%s%s: %s", name ? " " : "",
                       name ? name : "", rd_kafka_err2str(e));
            goto fail;
        }
        total += (size_t)lists[i]->group_cnt;
    }
    infos = calloc(total ? total : 1, sizeof *infos);
    if (!infos) {
        rl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < nlists; i++) {
        for (int g = 0; g < lists[i]->group_cnt; g++)
            infos[ninfos++] = &lists[i]->groups[g];
    }
    qsort(infos, ninfos, sizeof *infos, groups_info_cmp);
    for (size_t g = 0; g < ninfos; g++) {
        if (g && strcmp(infos[g]->group, infos[g - 1]->group) == 0)
            continue; /* named twice */
        if (groups_show(&ko, infos[g], md, &err))
            goto fail;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rl_err_set(&err, -EIO, "cannot write to stdout: %s", strerror(errno ? errno : EIO));
        goto fail;
    }
    status = TOOL_EXIT_OK;
    goto out;
fail:
    fflush(stdout);
    fprintf(stderr, GROUPS_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(err.code));
    status = TOOL_EXIT_FAIL;
out:
    for (int i = 0; lists && i < nlists; i++) {
        if (lists[i])
            rd_kafka_group_list_destroy(lists[i]);
    }
    free(lists);
    free(infos);
    if (md)
        rd_kafka_metadata_destroy(md);
    tool_kafka_destroy(kc);
    return status;
}
