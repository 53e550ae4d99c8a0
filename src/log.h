/* SPDX-License-Identifier: Apache-2.0 */
/* Logging, for step functions only: parsers and builders return errors. */
#pragma once

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARN = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

void log_set_max_level(int level);
int log_get_max_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last error logged (for the run's record), "" if none since clear. */
const char *log_last_error(void);
void log_last_error_clear(void);
/* Write text verbatim to stderr (pre-formatted diagnostics). */
void log_raw(const char *text);

#define log_error(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
