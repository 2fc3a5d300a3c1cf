/*
 * Instants and calendar arithmetic.
 *
 * An instant is psy_time_t: microseconds since 1970-01-01T00:00:00Z. Civil
 * (calendar) time is only ever computed in one configured zone, which
 * psy_tz_set() installs for the whole process before any thread starts.
 */
#ifndef PSYMON_TIME_H
#define PSYMON_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t psy_time_t;

#define PSY_TIME_NONE INT64_MIN
#define PSY_USEC      INT64_C(1000000)
#define PSY_HOUR      (INT64_C(3600) * PSY_USEC)
#define PSY_DAY       (INT64_C(86400) * PSY_USEC)

/* Now, from the realtime clock. */
psy_time_t psy_time_now(void);

/*
 * Parses an RFC 3339 section 5.6 date-time (offset or Z required, 'T'/'Z' in
 * either case, fractions allowed and truncated to microseconds, no leap
 * second). Returns 0, or -EINVAL with *ret untouched.
 */
int psy_time_parse(const char *s, size_t len, psy_time_t *ret);

/*
 * Writes t as RFC 3339 in UTC with second precision ("2024-03-01T13:05:00Z"),
 * plus ".ffffff" when t has a fraction. buf needs 32 bytes.
 */
void psy_time_format(psy_time_t t, char *buf, size_t size);

/*
 * Installs the zone for civil time ("Europe/Copenhagen"). Returns 0, or
 * -ENOENT when the zone database has no such zone. Not thread-safe: call it
 * once at start-up.
 */
int psy_tz_set(const char *zone);

/* True when the zone database knows `zone`. */
bool psy_tz_exists(const char *zone);

/*
 * Parses a duration as an operator writes it: a whole number and one unit
 * of s, m, h or d ("0s", "90s", "15m", "4h", "2d"). Returns 0 with the
 * microseconds in *ret_us, or -EINVAL with *ret_us untouched. At most
 * PSY_DURATION_MAX_DAYS days, so that sums of durations cannot overflow.
 */
#define PSY_DURATION_MAX_DAYS 36500
int psy_duration_parse(const char *s, int64_t *ret_us);

/*
 * The instant at which the civil day y-m-d starts in the installed zone
 * (m may run past 12 or below 1; it is normalised: 2024-13-01 is 2025-01-01).
 */
psy_time_t psy_civil_start(int y, int m, int d);

/*
 * Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1-12, d
 * 1-31), and back: calendar arithmetic without any zone (H. Hinnant's
 * algorithms).
 */
int64_t psy_days_from_civil(int64_t y, unsigned m, unsigned d);
void psy_civil_from_days(int64_t days, int *ret_y, int *ret_m, int *ret_d);

/* The civil date holding t in the installed zone. */
void psy_civil_date(psy_time_t t, int *ret_y, int *ret_m, int *ret_d);

#endif
