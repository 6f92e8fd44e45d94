/*
 * tail.c - `rowlog tail`: prints the records of Kafka topics as JSON lines.
 *
 * Output, one line per record (keys in this order, no spaces):
 *   {"topic":"T","partition":P,"offset":O,"key":K,"value":V}
 * K and V embed the record's key and value (tool_json_embed: JSON as is, anything else as a
 * JSON string, a null key or value as null).
 *
 * How: librdkafka's legacy simple consumer (see kafka_client.c). For each topic, metadata gives
 * the partitions; every partition is started on one shared queue at the requested offset
 * (RD_KAFKA_OFFSET_BEGINNING / _END / an absolute offset); enable.partition.eof makes
 * librdkafka deliver one RD_KAFKA_RESP_ERR__PARTITION_EOF event when a partition's fetch
 * reaches the high watermark, which ends the run without --follow. auto.offset.reset=error
 * turns an absolute offset outside [log start, high watermark] into an error rather than a
 * silent jump.
 *
 * Output is buffered (1 MiB stdio buffer) and flushed whenever the queue has nothing more
 * ready, so a pipe reader sees each batch before this process blocks again.
 */
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TAIL_PROG "rowlog tail"
/* Messages taken from the queue per call. */
#define TAIL_BATCH 1024
/* Longest wait for new records before checking signals and broker state, ms. */
#define TAIL_WAIT_MS 100

typedef struct tail_topic {
    const char *name;
    rd_kafka_topic_t *rkt;
    int32_t npart_ids; /* size of eof[] (highest partition id + 1) */
    bool *eof;         /* indexed by partition id: reached the end once */
    bool *started;     /* indexed by partition id: consume_start succeeded */
    rl_buf prefix;     /* `{"topic":"T","partition":` */
} tail_topic;

typedef struct tail_opts {
    const char *bootstrap;
    int64_t start; /* RD_KAFKA_OFFSET_BEGINNING, _END or an offset >= 0 */
    bool follow;
    uint64_t max; /* 0 = no limit */
    int timeout_ms;
    bool verbose;
} tail_opts;

static void tail_usage(FILE *f)
{
    fputs("usage: rowlog tail [--bootstrap HOST:PORT] [--from beginning|end|OFFSET] [--follow]\n"
          "                   [--max N] [--timeout MS] [--verbose] TOPIC...\n"
          "\n"
          "Prints the records of every partition of each TOPIC, one JSON object per line:\n"
          "  {\"topic\":\"T\",\"partition\":P,\"offset\":O,\"key\":K,\"value\":V}\n"
          "K and V are the record's key and value as JSON; a key or value that is not valid\n"
          "JSON is printed as a JSON string, a null one as null.\n"
          "\n"
          "  --bootstrap HOST:PORT  broker to connect to (default " TOOL_DEFAULT_BOOTSTRAP ")\n"
          "  --from WHERE           where to start in every partition: beginning (default),\n"
          "                         end, or an offset (an offset outside a partition's range\n"
          "                         is an error)\n"
          "  --follow               wait for new records until SIGINT or SIGTERM (exit 0);\n"
          "                         without it, exit once every partition reached its end\n"
          "  --max N                exit after N records\n"
          "  --timeout MS           limit for metadata requests (default 10000)\n"
          "  --verbose              print librdkafka's log lines on stderr\n"
          "  --help                 this text\n"
          "\n"
          "Exit status: 0 done, 1 error (unknown topic, broker down, bad offset), 2 usage.\n",
          f);
}

/* Returns 0, TOOL_EXIT_USAGE after printing, or -1 for --help (printed). */
static int tail_parse(int argc, char **argv, tail_opts *o)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"from", required_argument, NULL, 'o'},
        {"follow", no_argument, NULL, 'F'},
        {"max", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    memset(o, 0, sizeof *o);
    o->bootstrap = TOOL_DEFAULT_BOOTSTRAP;
    o->start = RD_KAFKA_OFFSET_BEGINNING;
    o->timeout_ms = TOOL_DEFAULT_TIMEOUT_MS;
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'b':
            if (!*optarg)
                return tool_usage_error(TAIL_PROG, tail_usage, "--bootstrap needs HOST:PORT%s", "");
            o->bootstrap = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "beginning") == 0)
                o->start = RD_KAFKA_OFFSET_BEGINNING;
            else if (strcmp(optarg, "end") == 0)
                o->start = RD_KAFKA_OFFSET_END;
            else if (tool_parse_u64(optarg, INT64_MAX, &v) == 0)
                o->start = (int64_t)v;
            else
                return tool_usage_error(TAIL_PROG, tail_usage, "--from takes beginning, end or an offset, not '%s'",
                                        optarg);
            break;
        case 'F':
            o->follow = true;
            break;
        case 'n':
            if (tool_parse_u64(optarg, UINT64_MAX, &v) != 0 || v == 0)
                return tool_usage_error(TAIL_PROG, tail_usage, "--max takes a positive count, not '%s'", optarg);
            o->max = v;
            break;
        case 'T':
            if (tool_parse_u64(optarg, 3600000, &v) != 0 || v == 0)
                return tool_usage_error(TAIL_PROG, tail_usage, "--timeout takes 1 to 3600000 ms, not '%s'", optarg);
            o->timeout_ms = (int)v;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            tail_usage(stdout);
            return -1;
        case ':':
            return tool_usage_error(TAIL_PROG, tail_usage, "option %s needs a value", argv[optind - 1]);
        default:
            return tool_usage_error(TAIL_PROG, tail_usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tool_usage_error(TAIL_PROG, tail_usage, "no TOPIC given%s", "");
    return 0;
}

/* Formats one record line into line. */
static void tail_format(rl_buf *line, const tail_topic *tt, const rd_kafka_message_t *m)
{
    rl_buf_reset(line);
    rl_buf_append(line, tt->prefix.p, tt->prefix.len);
    rl_buf_put_i64(line, m->partition);
    rl_buf_append(line, ",\"offset\":", 10);
    rl_buf_put_i64(line, m->offset);
    rl_buf_append(line, ",\"key\":", 7);
    tool_json_embed(line, m->key, m->key_len);
    rl_buf_append(line, ",\"value\":", 9);
    tool_json_embed(line, m->payload, m->payload ? m->len : 0);
    rl_buf_append(line, "}\n", 2);
}

/* Reads metadata of tt's topic and starts every partition on rkqu. */
static int tail_start_topic(tool_kafka *kc, tail_topic *tt, int64_t start, int timeout_ms,
                            rd_kafka_queue_t *rkqu, size_t *nparts, rl_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    int rc = tool_kafka_metadata(kc, tt->rkt, &md, err);
    if (rc)
        return rc;
    if (md->topic_cnt != 1) {
        rc = rl_err_set(err, RL_EPROTO, "metadata for topic '%s' lists %d topics", tt->name,
                        md->topic_cnt);
        goto out;
    }
    const struct rd_kafka_metadata_topic *mt = &md->topics[0];
    if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = rl_err_set(err, RL_ENOTFOUND, "unknown topic '%s'", tt->name);
        goto out;
    }
    if (mt->err) {
        rc = rl_err_set(err, RL_EPROTO, "topic '%s': %s", tt->name, rd_kafka_err2str(mt->err));
        goto out;
    }
    if (mt->partition_cnt <= 0) {
        rc = rl_err_set(err, RL_EPROTO, "topic '%s' has no partitions", tt->name);
        goto out;
    }
    int32_t maxid = -1;
    for (int i = 0; i < mt->partition_cnt; i++) {
        int32_t id = mt->partitions[i].id;
        if (id < 0 || id > 1000000) {
            rc = rl_err_set(err, RL_EPROTO, "topic '%s': partition id %" PRId32 " in metadata",
                            tt->name, id);
            goto out;
        }
        if (id > maxid)
            maxid = id;
    }
    tt->npart_ids = maxid + 1;
    tt->eof = calloc((size_t)tt->npart_ids, sizeof *tt->eof);
    tt->started = calloc((size_t)tt->npart_ids, sizeof *tt->started);
    if (!tt->eof || !tt->started) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < mt->partition_cnt; i++) {
        int32_t id = mt->partitions[i].id;
        if (tt->started[id])
            continue; /* a partition listed twice is started once */
        if (start >= 0) {
            /* An absolute offset must lie in [log start, high watermark]: checked here with
             * ListOffsets, before consuming, so the answer never depends on how soon the
             * client reports an out-of-range fetch. */
            int64_t low = 0, high = 0;
            rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                tool_kafka_rk(kc), tt->name, id, &low, &high, timeout_ms);
            if (e) {
                rc = rl_err_set(err, RL_EPROTO, "%s [%" PRId32 "]: cannot read its offsets: %s",
                                tt->name, id, rd_kafka_err2str(e));
                goto out;
            }
            if (start < low || start > high) {
                rc = rl_err_set(err, RL_ERANGE,
                                "%s [%" PRId32 "]: offset %" PRId64 " is outside the partition's "
                                "offsets [%" PRId64 ", %" PRId64 "]",
                                tt->name, id, start, low, high);
                goto out;
            }
        }
        if (rd_kafka_consume_start_queue(tt->rkt, id, start, rkqu) == -1) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            rc = rl_err_set(err, RL_EPROTO, "cannot start %s [%" PRId32 "]: %s", tt->name, id,
                            rd_kafka_err2str(e));
            goto out;
        }
        tt->started[id] = true;
        (*nparts)++;
    }
    /* Partition ids absent from metadata count as already at their end. */
    for (int32_t id = 0; id < tt->npart_ids; id++) {
        if (!tt->started[id])
            tt->eof[id] = true;
    }
    rc = 0;
out:
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int tail_flush(rl_err *err)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return rl_err_set(err, errno ? -errno : -EIO, "cannot write to stdout: %s",
                          strerror(errno ? errno : EIO));
    return 0;
}

int tool_tail_main(int argc, char **argv)
{
    tail_opts o;
    int prc = tail_parse(argc, argv, &o);
    if (prc)
        return prc < 0 ? TOOL_EXIT_OK : prc;

    int status = TOOL_EXIT_FAIL;
    rl_err err = {0, ""};
    tool_kafka *kc = NULL;
    rd_kafka_queue_t *rkqu = NULL;
    rd_kafka_message_t **msgs = NULL;
    rl_buf line = RL_BUF_INIT;
    size_t ntopics = 0, nparts = 0, neof = 0;
    uint64_t printed = 0;
    int ntopic_args = argc - optind;
    tail_topic *topics = calloc((size_t)ntopic_args, sizeof *topics);
    msgs = calloc(TAIL_BATCH, sizeof(rd_kafka_message_t *));
    if (!topics || !msgs) {
        rl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }

    sigset_t sigs;
    int rc = tool_signals_block(&sigs);
    if (rc) {
        rl_err_set(&err, rc, "cannot block signals: %s", strerror(-rc));
        goto fail;
    }
    const char *extra[] = {"fetch.wait.max.ms", "100", NULL};
    tool_kafka_opts ko = {o.bootstrap, TAIL_PROG, o.timeout_ms, o.verbose, &sigs};
    kc = tool_kafka_new(&ko, extra, &err);
    if (!kc)
        goto fail;
    rd_kafka_t *rk = tool_kafka_rk(kc);
    rkqu = rd_kafka_queue_new(rk);
    if (!rkqu) {
        rl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }

    for (int a = optind; a < argc; a++) {
        const char *name = argv[a];
        bool dup = false;
        for (size_t t = 0; t < ntopics; t++)
            dup = dup || strcmp(topics[t].name, name) == 0;
        if (dup)
            continue;
        if (!*name) {
            rl_err_set(&err, RL_ECONFIG, "empty topic name");
            goto fail;
        }
        tail_topic *tt = &topics[ntopics];
        tt->name = name;
        rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
        char why[256];
        if (!tconf ||
            rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "error", why, sizeof why) !=
                RD_KAFKA_CONF_OK ||
            rd_kafka_topic_conf_set(tconf, "auto.commit.enable", "false", why, sizeof why) !=
                RD_KAFKA_CONF_OK) {
            if (tconf)
                rd_kafka_topic_conf_destroy(tconf);
            rl_err_set(&err, RL_ECONFIG, "topic configuration: %s", tconf ? why : "no memory");
            goto fail;
        }
        rd_kafka_topic_conf_set_opaque(tconf, tt);
        tt->rkt = rd_kafka_topic_new(rk, name, tconf); /* takes tconf, also on failure */
        if (!tt->rkt) {
            rl_err_set(&err, RL_ECONFIG, "topic '%s': %s", name,
                       rd_kafka_err2str(rd_kafka_last_error()));
            goto fail;
        }
        ntopics++;
        rl_buf_append(&tt->prefix, "{\"topic\":", 9);
        rl_buf_json_str(&tt->prefix, name, strlen(name));
        rl_buf_append(&tt->prefix, ",\"partition\":", 13);
        if (!rl_buf_ok(&tt->prefix)) {
            rl_err_set(&err, -ENOMEM, "out of memory");
            goto fail;
        }
        if (tail_start_topic(kc, tt, o.start, o.timeout_ms, rkqu, &nparts, &err)) {
            if (err.code == RL_ESTOPPED) {
                status = o.follow ? TOOL_EXIT_OK : TOOL_EXIT_INTERRUPTED;
                goto out;
            }
            goto fail;
        }
    }

    setvbuf(stdout, NULL, _IOFBF, TOOL_STDOUT_BUF);
    bool unflushed = false;
    bool done = o.max != 0 && printed >= o.max;
    while (!done) {
        int sig = tool_signals_pending(&sigs);
        if (sig) {
            if (tail_flush(&err))
                goto fail;
            status = o.follow ? TOOL_EXIT_OK : TOOL_EXIT_INTERRUPTED;
            goto out;
        }
        rc = tool_kafka_poll_errors(kc, &err);
        if (rc == -ECONNREFUSED && o.follow) {
            fprintf(stderr, TAIL_PROG ": warning: %s (still retrying)\n", err.msg);
        } else if (rc) {
            goto fail;
        }

        ssize_t cnt =
            rd_kafka_consume_batch_queue(rkqu, unflushed ? 0 : TAIL_WAIT_MS, msgs, TAIL_BATCH);
        if (cnt < 0) {
            rl_err_set(&err, RL_EPROTO, "consume failed: %s",
                       rd_kafka_err2str(rd_kafka_last_error()));
            goto fail;
        }
        if (cnt == 0) {
            if (unflushed && tail_flush(&err))
                goto fail;
            unflushed = false;
            continue;
        }
        bool failed = false;
        for (ssize_t i = 0; i < cnt; i++) {
            rd_kafka_message_t *m = msgs[i];
            tail_topic *tt = m->rkt ? rd_kafka_topic_opaque(m->rkt) : NULL;
            if (done || failed) {
                /* Past the last wanted record: only release the rest of the batch. */
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && tt) {
                if (m->partition >= 0 && m->partition < tt->npart_ids && !tt->eof[m->partition]) {
                    tt->eof[m->partition] = true;
                    neof++;
                }
                if (!o.follow && neof >= nparts)
                    done = true;
            } else if (m->err) {
                rl_err_set(&err, RL_EPROTO, "%s [%" PRId32 "] at offset %" PRId64 ": %s",
                           tt ? tt->name : "?", m->partition, m->offset,
                           rd_kafka_message_errstr(m));
                failed = true;
            } else if (!tt) {
                rl_err_set(&err, RL_EPROTO, "record without a topic at offset %" PRId64, m->offset);
                failed = true;
            } else {
                tail_format(&line, tt, m);
                if (!rl_buf_ok(&line)) {
                    rl_err_set(&err, -ENOMEM,
                               "out of memory formatting %s [%" PRId32 "] offset %" PRId64,
                               tt->name, m->partition, m->offset);
                    failed = true;
                } else if ((rc = tool_write(stdout, line.p, line.len)) != 0) {
                    rl_err_set(&err, rc, "cannot write to stdout: %s", strerror(-rc));
                    failed = true;
                } else {
                    printed++;
                    done = o.max != 0 && printed >= o.max;
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (failed) {
            tail_flush(NULL);
            goto fail;
        }
        unflushed = true;
    }
    if (tail_flush(&err))
        goto fail;
    status = TOOL_EXIT_OK;
    goto out;

fail:
    fprintf(stderr, TAIL_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(err.code));
    status = TOOL_EXIT_FAIL;
out:
    for (size_t t = 0; t < ntopics; t++) {
        tail_topic *tt = &topics[t];
        for (int32_t id = 0; tt->started && id < tt->npart_ids; id++) {
            if (tt->started[id])
                rd_kafka_consume_stop(tt->rkt, id);
        }
    }
    if (rkqu)
        rd_kafka_queue_destroy(rkqu);
    for (size_t t = 0; t < ntopics; t++) {
        rd_kafka_topic_destroy(topics[t].rkt);
        free(topics[t].eof);
        free(topics[t].started);
        rl_buf_free(&topics[t].prefix);
    }
    tool_kafka_destroy(kc);
    free(topics);
    free(msgs);
    rl_buf_free(&line);
    return status;
}
