/*
 * Logging for the daemons and the command line: one line per event on
 * stderr, which systemd keeps. Library code (lib/, proto/, the pure cores)
 * does not log; it returns errors and the daemon decides.
 *
 * An identical line repeated within a short window is suppressed and
 * counted; the count is reported with the next line that gets through.
 */
#ifndef PSYMON_LOG_H
#define PSYMON_LOG_H

enum {
    PSY_LOG_ERR = 3,
    PSY_LOG_WARNING = 4,
    PSY_LOG_NOTICE = 5,
    PSY_LOG_INFO = 6,
    PSY_LOG_DEBUG = 7
};

/* Sets the program name shown on every line and the most verbose level logged. */
void psy_log_init(const char *program, int max_level);

void psy_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define psy_err(...)    psy_log(PSY_LOG_ERR, __VA_ARGS__)
#define psy_warn(...)   psy_log(PSY_LOG_WARNING, __VA_ARGS__)
#define psy_notice(...) psy_log(PSY_LOG_NOTICE, __VA_ARGS__)
#define psy_info(...)   psy_log(PSY_LOG_INFO, __VA_ARGS__)
#define psy_debug(...)  psy_log(PSY_LOG_DEBUG, __VA_ARGS__)

#endif
