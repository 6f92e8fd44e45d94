/*
 * binlog_dump.c - `rowlog binlog dump`: decodes local binlog files into change events.
 *
 * Output, one line per row change (keys in this order, no spaces):
 *   {"topic":"T","key":K,"value":V}
 * T, K and V are binlog_change.topic, .key and .value from the decoder (reader/binlog.h): the
 * same topic name, key and Debezium-style envelope rowlogd appends to its log, so this shows
 * exactly what a consumer of rowlogd would read for these files.
 *
 * Each FILE is read with binlog_file_* (mmap) and decoded by a fresh decoder: a binlog file
 * starts with its own FORMAT_DESCRIPTION and needs nothing from the file before it. Files are
 * processed in the order given.
 *
 * This is the decoder's benchmark path (bench/binlog_dump.sh): lines go straight from the
 * decoder's slices into a 1 MiB stdio buffer with unlocked writes, and the escaped topic
 * prefix is rebuilt only when the topic changes. No allocation per row.
 *
 * On a decoder or file error: what was decoded so far is flushed to stdout, the error (which
 * names file, position and event type) goes to stderr, and the exit status is 1.
 */
#include "tools/tools.h"

#include "reader/binlog.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_PROG "rowlog binlog dump"

typedef struct dump_ctx {
    FILE *out;
    rl_buf topic;     /* raw topic bytes of the previous change */
    rl_buf prefix;    /* `{"topic":"T","key":` for that topic */
    uint64_t changes; /* lines written */
    int werr;         /* first write error (-errno), 0 if none */
} dump_ctx;

static void binlog_usage(FILE *f)
{
    fputs("usage: rowlog binlog dump [--topic-prefix NAME] FILE...\n"
          "\n"
          "Decodes local MySQL/MariaDB binlog files and prints one JSON object per row\n"
          "change, one per line, in binlog order:\n"
          "  {\"topic\":\"T\",\"key\":K,\"value\":V}\n"
          "where T is PREFIX.DB.TABLE, K the primary-key columns and V the change envelope\n"
          "(before, after, source, op, ts_ms), as rowlogd would publish them.\n"
          "\n"
          "  --topic-prefix NAME  first part of topic names (default rowlog)\n"
          "  --help               this text\n"
          "\n"
          "Exit status: 0 done, 1 error (unreadable file, corrupt or unsupported event: the\n"
          "message names file, position and event type), 2 usage.\n",
          f);
}

static int dump_set_topic(dump_ctx *dc, rl_slice topic)
{
    rl_buf_reset(&dc->topic);
    rl_buf_reset(&dc->prefix);
    rl_buf_append(&dc->topic, topic.p, topic.len);
    rl_buf_append(&dc->prefix, "{\"topic\":", 9);
    rl_buf_json_str(&dc->prefix, topic.p, topic.len);
    rl_buf_append(&dc->prefix, ",\"key\":", 7);
    if (!rl_buf_ok(&dc->topic) || !rl_buf_ok(&dc->prefix)) {
        rl_buf_reset(&dc->topic); /* forces a rebuild next time */
        return -ENOMEM;
    }
    return 0;
}

static int dump_json(dump_ctx *dc, rl_slice s)
{
    if (s.len == 0)
        return tool_write(dc->out, "null", 4);
    return tool_write(dc->out, s.p, s.len);
}

static int dump_on_change(void *ctx, const binlog_change *ch)
{
    dump_ctx *dc = ctx;
    int rc;
    if (ch->topic.len != dc->topic.len ||
        (ch->topic.len && memcmp(ch->topic.p, dc->topic.p, ch->topic.len) != 0) ||
        dc->prefix.len == 0) {
        rc = dump_set_topic(dc, ch->topic);
        if (rc)
            return rc;
    }
    if ((rc = tool_write(dc->out, dc->prefix.p, dc->prefix.len)) != 0 ||
        (rc = dump_json(dc, ch->key)) != 0 || (rc = tool_write(dc->out, ",\"value\":", 9)) != 0 ||
        (rc = dump_json(dc, ch->value)) != 0 || (rc = tool_write(dc->out, "}\n", 2)) != 0) {
        dc->werr = rc;
        return rc;
    }
    dc->changes++;
    return 0;
}

static int dump_on_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)cp;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Decodes one file. Returns 0 or a negative code with err set. */
static int dump_file(dump_ctx *dc, const char *path, const binlog_decoder_opts *dopts, rl_err *err)
{
    binlog_file_t *f = NULL;
    binlog_decoder_t *dec = NULL;
    binlog_handler h = {dc, dump_on_change, dump_on_commit};
    int rc = binlog_file_open(&f, path, err);
    if (rc) {
        if (!err->msg[0])
            rl_err_set(err, rc, "%s", rl_strerror(rc));
        goto out;
    }
    rc = binlog_decoder_new(&dec, dopts, &h);
    if (rc) {
        rl_err_set(err, rc, "%s: cannot create a decoder: %s", path, rl_strerror(rc));
        goto out;
    }
    binlog_decoder_set_file(dec, base_name(path));

    rl_slice ev;
    while ((rc = binlog_file_next(f, &ev, err)) == 1) {
        rc = binlog_decoder_feed(dec, ev, err);
        if (rc < 0)
            break;
    }
    if (rc < 0 && !err->msg[0])
        rl_err_set(err, rc, "%s at offset %llu: %s", path,
                   (unsigned long long)binlog_file_offset(f), rl_strerror(rc));
    if (rc > 0)
        rc = 0;
out:
    /* Several files may be given: make sure the message says which one failed. */
    if (rc < 0 && !strstr(err->msg, base_name(path)))
        rl_err_wrap(err, rc, "%s", path);
    if (dec)
        binlog_decoder_free(dec);
    if (f)
        binlog_file_close(f);
    return rc;
}

static int binlog_dump_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"topic-prefix", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    binlog_decoder_opts dopts = {NULL, NULL, 0};
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
            if (!*optarg)
                return tool_usage_error(DUMP_PROG, binlog_usage, "--topic-prefix needs a NAME%s", "");
            dopts.topic_prefix = optarg;
            break;
        case 'h':
            binlog_usage(stdout);
            return TOOL_EXIT_OK;
        case ':':
            return tool_usage_error(DUMP_PROG, binlog_usage, "option %s needs a value", argv[optind - 1]);
        default:
            return tool_usage_error(DUMP_PROG, binlog_usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tool_usage_error(DUMP_PROG, binlog_usage, "no FILE given%s", "");

    dump_ctx dc = {stdout, RL_BUF_INIT, RL_BUF_INIT, 0, 0};
    rl_err err = {0, ""};
    int status = TOOL_EXIT_OK;
    setvbuf(stdout, NULL, _IOFBF, TOOL_STDOUT_BUF);
    for (int a = optind; a < argc; a++) {
        int rc = dump_file(&dc, argv[a], &dopts, &err);
        if (rc) {
            fflush(stdout);
            if (dc.werr)
                fprintf(stderr, DUMP_PROG ": cannot write to stdout: %s\n", strerror(-dc.werr));
            else
                fprintf(stderr, DUMP_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(rc));
            status = TOOL_EXIT_FAIL;
            break;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (status == TOOL_EXIT_OK)
            fprintf(stderr, DUMP_PROG ": cannot write to stdout: %s\n",
                    strerror(errno ? errno : EIO));
        status = TOOL_EXIT_FAIL;
    }
    rl_buf_free(&dc.topic);
    rl_buf_free(&dc.prefix);
    return status;
}

int tool_binlog_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "rowlog binlog: missing subcommand\n");
        binlog_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "dump") == 0)
        return binlog_dump_main(argc - 1, argv + 1);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        binlog_usage(stdout);
        return TOOL_EXIT_OK;
    }
    fprintf(stderr, "rowlog binlog: unknown subcommand '%s'\n", sub);
    binlog_usage(stderr);
    return TOOL_EXIT_USAGE;
}
