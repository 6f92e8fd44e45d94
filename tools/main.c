/*
 * main.c - `rowlog`: dispatches to the subcommands (tail, topics, offsets, groups, status,
 * snapshot, binlog dump, log check).
 * Each subcommand is in its own file and parses its own options; see tools/tools.h for the
 * calling convention and exit statuses.
 */
#include "tools/log_check.h"
#include "tools/status.h"
#include "tools/tools.h"

#include <string.h>

typedef struct tool_cmd {
    const char *name;
    int (*main)(int argc, char **argv);
} tool_cmd;

static const tool_cmd tool_cmds[] = {
    {"tail", tool_tail_main},
    {"topics", tool_topics_main},
    {"offsets", tool_offsets_main},
    {"groups", tool_groups_main},
    {"status", tool_status_main},
    {"snapshot", tool_snapshot_main},
    {"binlog", tool_binlog_main},
    {"log", rl_tool_log_check},
};

static void rowlog_usage(FILE *f)
{
    fputs("usage: rowlog COMMAND [OPTIONS] [ARGS]\n"
          "\n"
          "Commands:\n"
          "  tail [--bootstrap HOST:PORT] [--group NAME]\n"
          "       [--from beginning|end|OFFSET|TIME|gtid:GTID] [--follow] [--max N]\n"
          "       [--format json|pretty|value] [--op c,u,d] TOPIC...\n"
          "                        print the records of topics (wildcards allowed)\n"
          "  topics [--internal] [--bootstrap HOST:PORT]\n"
          "                        list topics and partitions with their offsets\n"
          "  offsets [--gtid GTID | --time TIME] TOPIC...\n"
          "                        per partition, the offset of a GTID or a time\n"
          "  groups [--bootstrap HOST:PORT] [GROUP...]\n"
          "                        consumer groups: members, committed offsets, lag\n"
          "  status [--http HOST:PORT] [--watch [SECONDS]]\n"
          "                        a summary of rowlogd's metrics\n"
          "  snapshot [--http HOST:PORT] [--wait] DB.TABLE...\n"
          "                        ask rowlogd for an on-demand snapshot of tables while it\n"
          "                        streams; --wait follows it to the end\n"
          "  binlog dump [--topic-prefix NAME] FILE...\n"
          "                        decode local binlog files into change events (JSON lines)\n"
          "  log check DIR [--repair]\n"
          "                        check a log directory offline (rowlogd stopped); with\n"
          "                        --repair, cut it at the first damaged batch\n"
          "  help [COMMAND]        this text, or a command's usage\n"
          "\n"
          "`rowlog COMMAND --help` describes each command's options.\n"
          "Exit status: 0 success, 1 error, 2 usage error.\n",
          f);
}

static const tool_cmd *rowlog_find(const char *name)
{
    for (size_t i = 0; i < sizeof tool_cmds / sizeof tool_cmds[0]; i++) {
        if (strcmp(tool_cmds[i].name, name) == 0)
            return &tool_cmds[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        rowlog_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (strcmp(name, "help") == 0 && argc >= 3) {
            const tool_cmd *cmd = rowlog_find(argv[2]);
            if (!cmd) {
                fprintf(stderr, "rowlog: unknown command '%s'\n", argv[2]);
                rowlog_usage(stderr);
                return TOOL_EXIT_USAGE;
            }
            char help[] = "--help";
            char *sub_argv[] = {argv[2], help, NULL};
            return cmd->main(2, sub_argv);
        }
        rowlog_usage(stdout);
        return TOOL_EXIT_OK;
    }
    const tool_cmd *cmd = rowlog_find(name);
    if (!cmd) {
        fprintf(stderr, "rowlog: unknown command '%s'\n", name);
        rowlog_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    return cmd->main(argc - 1, argv + 1);
}
