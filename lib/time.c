/*
 * Instants, RFC 3339 and civil time in the one configured zone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "psymon/time.h"

psy_time_t
psy_time_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (psy_time_t)ts.tv_sec * PSY_USEC + ts.tv_nsec / 1000;
}

int64_t
psy_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
psy_civil_from_days(int64_t z, int *ret_y, int *ret_m, int *ret_d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *ret_y = (int)((int64_t)yoe + era * 400 + (m <= 2));
    *ret_m = (int)m;
    *ret_d = (int)d;
}

static int
days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* Reads exactly n digits at s[*pos]; -1 when they are not all digits or the input ends. */
static int
digits(const char *s, size_t len, size_t *pos, int n)
{
    int v = 0;

    if (*pos + (size_t)n > len)
        return -1;
    for (int i = 0; i < n; i++) {
        char c = s[*pos + (size_t)i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *pos += (size_t)n;
    return v;
}

static bool
expect(const char *s, size_t len, size_t *pos, char a, char b)
{
    if (*pos >= len || (s[*pos] != a && s[*pos] != b))
        return false;
    (*pos)++;
    return true;
}

int
psy_time_parse(const char *s, size_t len, psy_time_t *ret)
{
    size_t p = 0;
    int y, mo, d, h, mi, sec;
    int64_t frac = 0;

    if ((y = digits(s, len, &p, 4)) < 0 || !expect(s, len, &p, '-', '-') ||
        (mo = digits(s, len, &p, 2)) < 0 || !expect(s, len, &p, '-', '-') ||
        (d = digits(s, len, &p, 2)) < 0 || !expect(s, len, &p, 'T', 't') ||
        (h = digits(s, len, &p, 2)) < 0 || !expect(s, len, &p, ':', ':') ||
        (mi = digits(s, len, &p, 2)) < 0 || !expect(s, len, &p, ':', ':') ||
        (sec = digits(s, len, &p, 2)) < 0)
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -EINVAL;

    if (p < len && s[p] == '.') {
        size_t start = ++p;
        int64_t scale = 100000;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            frac += (s[p] - '0') * scale;
            scale /= 10;
            p++;
        }
        if (p == start)
            return -EINVAL;
    }

    int64_t offset_s;
    if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
        offset_s = 0;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p++] == '-' ? -1 : 1;
        int oh, om;
        if ((oh = digits(s, len, &p, 2)) < 0 || !expect(s, len, &p, ':', ':') ||
            (om = digits(s, len, &p, 2)) < 0 || oh > 23 || om > 59)
            return -EINVAL;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (p != len)
        return -EINVAL;

    int64_t secs = psy_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - offset_s;
    *ret = secs * PSY_USEC + frac;
    return 0;
}

void
psy_time_format(psy_time_t t, char *buf, size_t size)
{
    int64_t secs = t / PSY_USEC, frac = t % PSY_USEC;
    if (frac < 0) {
        frac += PSY_USEC;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int y, m, d;
    psy_civil_from_days(days, &y, &m, &d);
    if (frac)
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(rem / 3600),
                 (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
    else
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
                 (int)(rem / 60 % 60), (int)(rem % 60));
}

bool
psy_tz_exists(const char *zone)
{
    char path[512];
    const char *dir = getenv("TZDIR");
    struct stat st;

    if (!zone || !*zone || strstr(zone, "..") || zone[0] == '/')
        return false;
    if (strcmp(zone, "UTC") == 0)
        return true;
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", zone);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
psy_duration_parse(const char *s, int64_t *ret_us)
{
    int64_t n = 0, unit;
    const char *d = s;

    /* Digits only: no sign, no white space, no fraction, and no more than fit in a long time. */
    while (*d >= '0' && *d <= '9' && d - s < 9)
        n = n * 10 + (*d++ - '0');
    if (d == s || d[0] == '\0' || d[1] != '\0')
        return -EINVAL;
    switch (*d) {
    case 's':
        unit = PSY_USEC;
        break;
    case 'm':
        unit = 60 * PSY_USEC;
        break;
    case 'h':
        unit = PSY_HOUR;
        break;
    case 'd':
        unit = PSY_DAY;
        break;
    default:
        return -EINVAL;
    }
    if (n > PSY_DURATION_MAX_DAYS * (PSY_DAY / unit))
        return -EINVAL;
    *ret_us = n * unit;
    return 0;
}

int
psy_tz_set(const char *zone)
{
    /* glibc falls back to UTC for an unknown zone without a word; check first. */
    if (!psy_tz_exists(zone))
        return -ENOENT;
    if (setenv("TZ", zone, 1) < 0)
        return -errno;
    tzset();
    return 0;
}

psy_time_t
psy_civil_start(int y, int m, int d)
{
    struct tm tm = {0};

    /* Normalise the month ourselves: mktime would too, but only within int range of tm_mon. */
    int m0 = m - 1;
    y += m0 >= 0 ? m0 / 12 : -((11 - m0) / 12);
    m0 = ((m0 % 12) + 12) % 12;
    tm.tm_year = y - 1900;
    tm.tm_mon = m0;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    return (psy_time_t)mktime(&tm) * PSY_USEC;
}

void
psy_civil_date(psy_time_t t, int *ret_y, int *ret_m, int *ret_d)
{
    struct tm tm;
    int64_t secs = t / PSY_USEC;
    if (t % PSY_USEC < 0)
        secs--;
    time_t tt = (time_t)secs;

    localtime_r(&tt, &tm);
    *ret_y = tm.tm_year + 1900;
    *ret_m = tm.tm_mon + 1;
    *ret_d = tm.tm_mday;
}
