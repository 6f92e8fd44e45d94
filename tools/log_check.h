/*
 * log_check.h - `rowlog log check DIR [--repair]`: offline check (and repair) of a log
 * directory; the work is log_check() in log/ (log/log.h, log/check.c).
 */
#ifndef TOOLS_LOG_CHECK_H
#define TOOLS_LOG_CHECK_H

/*
 * argv[0] is "log" (the command as tools/main.c passes it), argv[1] "check", then DIR and
 * optionally --repair (in any order after "check"); --help prints the usage. Prints each
 * finding and repair action on stdout, a summary on stderr. Exit status: 0 the log is clean,
 * 1 damage was found (repaired or not) or the check failed (DIR open by rowlogd, unreadable
 * checkpoint, I/O error), 2 usage error. Main thread; link with rowlog_log.
 */
int rl_tool_log_check(int argc, char **argv);

#endif
