/*
 * kafka_client.c - the librdkafka consumer handle shared by `rowlog tail`, `topics`, `offsets`
 * and `groups`, with the broker options they parse alike and the watermark query.
 *
 * The tools use librdkafka's legacy simple-consumer API (rd_kafka_consume_start_queue and
 * friends, rdkafka.h "Simple Consumer API (legacy)"): partitions are assigned explicitly, no
 * consumer group exists, so the broker only needs ApiVersions, Metadata, ListOffsets and Fetch
 * (the APIs rowlog's server offers, server/kafka.h). Nothing is committed.
 *
 * librdkafka retries a refused connection forever; a command-line tool must instead say that
 * the broker is down and exit.
 * `rowlog tail --group` and `rowlog groups` add a group.id (and, for tail, commit settings and
 * a rebalance callback) to the same handle; everything else stays the same. librdkafka reports RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN through
 * the error callback (served by rd_kafka_poll on the main thread); requests here are therefore
 * made in short slices between which the callback is served.
 */
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

/* Longest wait of one metadata request before error callbacks are checked again, ms. */
#define TOOL_KAFKA_SLICE_MS 200

struct tool_kafka {
    rd_kafka_t *rk;
    const char *prog;
    char bootstrap[512];
    int timeout_ms;
    bool verbose;
    const sigset_t *stop;
    /* Set by the error callback (main thread, inside rd_kafka_poll), read by the caller. */
    bool all_down;
    void (*rebalance)(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                      rd_kafka_topic_partition_list_t *parts, void *arg);
    void *rebalance_arg;
    bool fatal;
    char reason[512]; /* last transport-level error text, for the "broker down" message */
};

static void kafka_error_cb(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    tool_kafka *kc = opaque;
    switch (code) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        kc->all_down = true;
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
        snprintf(kc->reason, sizeof kc->reason, "%s", reason);
        if (kc->verbose)
            fprintf(stderr, "%s: %s\n", kc->prog, reason);
        break;
    case RD_KAFKA_RESP_ERR__FATAL: {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        snprintf(kc->reason, sizeof kc->reason, "%s", why);
        kc->fatal = true;
        break;
    }
    default:
        /* Kept as well: it explains a later "all brokers down" (a peer that is not a Kafka
         * broker shows up as a bad message, for instance). */
        snprintf(kc->reason, sizeof kc->reason, "%s", reason);
        fprintf(stderr, "%s: warning: %s: %s\n", kc->prog,
                rd_kafka_err2name((rd_kafka_resp_err_t)code), reason);
        break;
    }
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const tool_kafka *kc = rd_kafka_opaque(rk);
    if (kc && kc->verbose)
        fprintf(stderr, "%s: librdkafka %d %s: %s\n", kc->prog, level, fac, buf);
}

static void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    tool_kafka *kc = opaque;
    kc->rebalance(rk, e, parts, kc->rebalance_arg);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, rl_err *err)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
        return rl_err_set(err, RL_ECONFIG, "%s=%s: %s", name, value, why);
    return 0;
}

tool_kafka *tool_kafka_new(const tool_kafka_opts *opts, const char *const *extra, rl_err *err)
{
    rd_kafka_conf_t *conf = NULL;
    tool_kafka *kc = calloc(1, sizeof *kc);
    if (!kc) {
        rl_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    kc->prog = opts->prog ? opts->prog : "rowlog";
    snprintf(kc->bootstrap, sizeof kc->bootstrap, "%s",
             opts->bootstrap ? opts->bootstrap : TOOL_DEFAULT_BOOTSTRAP);
    kc->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : TOOL_DEFAULT_TIMEOUT_MS;
    kc->verbose = opts->verbose;
    kc->stop = opts->stop;
    if (kc->bootstrap[0] == '\0') {
        rl_err_set(err, RL_ECONFIG, "empty bootstrap server list");
        goto fail;
    }

    conf = rd_kafka_conf_new();
    if (!conf) {
        rl_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, kc);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    kc->rebalance = opts->rebalance;
    kc->rebalance_arg = opts->rebalance_arg;
    if (kc->rebalance)
        rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
    if (conf_set(conf, "bootstrap.servers", kc->bootstrap, err) ||
        conf_set(conf, "client.id", "rowlog-cli", err) ||
        conf_set(conf, "check.crcs", "true", err) ||
        conf_set(conf, "enable.auto.commit", "false", err) ||
        conf_set(conf, "enable.auto.offset.store", "false", err) ||
        conf_set(conf, "enable.partition.eof", "true", err) ||
        conf_set(conf, "allow.auto.create.topics", "false", err))
        goto fail;
    for (const char *const *kv = extra; kv && kv[0]; kv += 2) {
        if (conf_set(conf, kv[0], kv[1], err))
            goto fail;
    }

    char why[512];
    kc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!kc->rk) {
        rl_err_set(err, RL_ECONFIG, "cannot create the Kafka client: %s", why);
        goto fail;
    }
    return kc; /* conf now belongs to rk */

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(kc);
    return NULL;
}

void tool_kafka_destroy(tool_kafka *kc)
{
    if (!kc)
        return;
    if (kc->rk)
        rd_kafka_destroy(kc->rk);
    free(kc);
}

rd_kafka_t *tool_kafka_rk(tool_kafka *kc)
{
    return kc->rk;
}

int tool_kafka_timeout_ms(const tool_kafka *kc)
{
    return kc->timeout_ms;
}

int tool_kafka_poll_errors(tool_kafka *kc, rl_err *err)
{
    /* A group consumer's main queue is redirected to the consumer queue
     * (rd_kafka_poll_set_consumer): rd_kafka_poll there would take records away from
     * rd_kafka_consumer_poll, which serves the error callback itself. */
    if (!kc->rebalance)
        rd_kafka_poll(kc->rk, 0);
    if (kc->fatal)
        return rl_err_set(err, RL_EPROTO, "fatal Kafka client error: %s", kc->reason);
    if (kc->all_down) {
        kc->all_down = false;
        return rl_err_set(err, -ECONNREFUSED, "cannot reach the broker(s) at %s: %s", kc->bootstrap,
                          kc->reason[0] ? kc->reason : "all brokers are down");
    }
    return 0;
}

int tool_kafka_metadata(tool_kafka *kc, rd_kafka_topic_t *rkt, const struct rd_kafka_metadata **md,
                        rl_err *err)
{
    int64_t deadline = rl_mono_ns() + (int64_t)kc->timeout_ms * 1000000;
    for (;;) {
        int64_t left_ms = (deadline - rl_mono_ns()) / 1000000;
        int slice =
            left_ms < TOOL_KAFKA_SLICE_MS ? (int)(left_ms > 0 ? left_ms : 1) : TOOL_KAFKA_SLICE_MS;
        rd_kafka_resp_err_t e = rd_kafka_metadata(kc->rk, rkt == NULL, rkt, md, slice);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__TIMED_OUT && e != RD_KAFKA_RESP_ERR__TRANSPORT)
            return rl_err_set(err, RL_EPROTO, "metadata request to %s failed: %s", kc->bootstrap,
                              rd_kafka_err2str(e));
        int rc = tool_kafka_poll_errors(kc, err);
        if (rc)
            return rc;
        if (kc->stop && tool_signals_pending(kc->stop))
            return rl_err_set(err, RL_ESTOPPED, "interrupted");
        if (rl_mono_ns() >= deadline)
            return rl_err_set(err, -ETIMEDOUT, "no metadata from %s within %d ms%s%s",
                              kc->bootstrap, kc->timeout_ms, kc->reason[0] ? ": " : "", kc->reason);
    }
}

int tool_kafka_option(int c, const char *prog, void (*usage)(FILE *f), char **argv,
                      tool_kafka_opts *ko)
{
    uint64_t v;
    switch (c) {
    case 'b':
        if (!*optarg)
            return tool_usage_error(prog, usage, "--bootstrap needs HOST:PORT%s", "");
        ko->bootstrap = optarg;
        return TOOL_OPT_NEXT;
    case 'T':
        if (tool_parse_u64(optarg, 3600000, &v) != 0 || v == 0)
            return tool_usage_error(prog, usage, "--timeout takes 1 to 3600000 ms, not '%s'",
                                    optarg);
        ko->timeout_ms = (int)v;
        return TOOL_OPT_NEXT;
    case 'v':
        ko->verbose = true;
        return TOOL_OPT_NEXT;
    case 'h':
        usage(stdout);
        return TOOL_EXIT_OK;
    case ':':
        return tool_usage_error(prog, usage, "option %s needs a value", argv[optind - 1]);
    default:
        return tool_usage_error(prog, usage, "unknown option '%s'", argv[optind - 1]);
    }
}

int tool_kafka_watermarks(tool_kafka *kc, const char *topic, int32_t partition, int64_t *lo,
                          int64_t *hi, rl_err *err)
{
    int64_t l = 0, h = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(kc->rk, topic, partition, &l, &h, kc->timeout_ms);
    if (e)
        return rl_err_set(err, RL_EPROTO, "%s [%" PRId32 "]: cannot read offsets: %s", topic,
                          partition, rd_kafka_err2str(e));
    *lo = l;
    *hi = h;
    return 0;
}
