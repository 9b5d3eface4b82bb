/* SPDX-License-Identifier: Apache-2.0 */
/* The sink and level are process-wide configuration written once at start-up,
 * not server state: several servers in one process share one log. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static void log_stderr(enum log_level level, const char *msg)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02d %02d:%02d:%02d,%03ld [%s] %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            names[level], msg);
}

static log_sink_fn *log_sink = log_stderr;
static enum log_level log_level_min = LOG_INFO;

void log_set_sink(log_sink_fn *sink)
{
    log_sink = sink ? sink : log_stderr;
}

void log_set_level(enum log_level level)
{
    log_level_min = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_level_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_sink(level, msg);
}
