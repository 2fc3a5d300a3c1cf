/*
 * Logging to stderr, one line per event, with repeats suppressed.
 *
 * A daemon that fails the same way every second for a week must not fill
 * the journal: an identical message within REPEAT_WINDOW_S of the previous
 * one is counted instead of printed, and the count is reported once the
 * window has passed or another message comes.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psymon/log.h"

#define REPEAT_WINDOW_S 60
#define LINE_MAX_LEN    1024

static const char *log_program = "psymon";
static int log_max_level = PSY_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[LINE_MAX_LEN];
static time_t last_time;
static unsigned long suppressed;
static int log_journal; /* stderr goes to the journal: prefix lines with <level> */

void
psy_log_init(const char *program, int max_level)
{
    log_program = program;
    log_max_level = max_level;
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

static const char *
level_name(int level)
{
    switch (level) {
    case PSY_LOG_ERR:
        return "error";
    case PSY_LOG_WARNING:
        return "warning";
    case PSY_LOG_NOTICE:
        return "notice";
    case PSY_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void
psy_log(int level, const char *fmt, ...)
{
    char line[LINE_MAX_LEN];
    va_list ap;
    time_t now = time(NULL);

    if (level > log_max_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_lock);
    if (strcmp(line, last_line) == 0 && now - last_time < REPEAT_WINDOW_S) {
        suppressed++;
    } else {
        /* The "<N>" prefix lets journald keep the level when it captures stderr. */
        if (suppressed)
            fprintf(stderr, "%.0d%s%s: last message repeated %lu more times\n", 0,
                    log_journal ? "<5>" : "", log_program, suppressed);
        fprintf(stderr, "%s%s: %s: %s\n",
                log_journal ? (const char *[]){"<3>", "<4>", "<5>", "<6>", "<7>"}[level - 3] : "",
                log_program, level_name(level), line);
        snprintf(last_line, sizeof(last_line), "%s", line);
        last_time = now;
        suppressed = 0;
    }
    pthread_mutex_unlock(&log_lock);
}
