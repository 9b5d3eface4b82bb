/* SPDX-License-Identifier: Apache-2.0 */
/* log.h — the logging sink. Pure modules log through it; the sink itself is
 * set once by main() (stderr by default), so tests may capture it. */
#ifndef CZK_BASE_LOG_H
#define CZK_BASE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

typedef void log_sink_fn(enum log_level level, const char *msg);

void log_set_sink(log_sink_fn *sink);
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_D(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define LOG_I(...) log_msg(LOG_INFO, __VA_ARGS__)
#define LOG_W(...) log_msg(LOG_WARN, __VA_ARGS__)
#define LOG_E(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
