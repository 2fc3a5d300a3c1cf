/*
 * time: RFC 3339 parsing and formatting (records.md), and civil days in the
 * configured zone across the daylight-saving changes of Europe/Copenhagen.
 *
 * Expected instants were computed with date(1), and a sweep checks the parser
 * against timegm(3), an implementation that shares nothing with lib/time.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "psymon/time.h"

#define SEC(x) (INT64_C(x) * PSY_USEC)

static int
parse(const char *s, psy_time_t *ret)
{
    return psy_time_parse(s, strlen(s), ret);
}

typedef struct {
    const char *text;
    psy_time_t want;
} good_t;

/* Valid RFC 3339 section 5.6 date-times and the instants they name. */
static void
test_parse_valid(void **state)
{
    static const good_t cases[] = {
        {"2024-03-01T13:05:00Z", SEC(1709298300)},
        {"2024-03-01T14:05:00+01:00", SEC(1709298300)},
        {"2024-03-01T08:05:00-05:00", SEC(1709298300)},
        {"2024-03-01T13:05:00-00:00", SEC(1709298300)},
        {"2024-03-01T13:05:00+00:00", SEC(1709298300)},
        {"2024-03-01t13:05:00z", SEC(1709298300)},
        {"2024-03-01T13:05:00z", SEC(1709298300)},
        {"2024-03-01t13:05:00Z", SEC(1709298300)},
        /* The offset carries the instant across midnight and a month end. */
        {"2024-03-02T00:35:00+11:30", SEC(1709298300)},
        {"2024-02-29T23:05:00-14:00", SEC(1709298300)},
        /* Fractions: any number of digits, truncated to microseconds. */
        {"2024-03-01T13:05:00.5Z", SEC(1709298300) + 500000},
        {"2024-03-01T13:05:00.000001Z", SEC(1709298300) + 1},
        {"2024-03-01T13:05:00.123456789Z", SEC(1709298300) + 123456},
        {"2024-03-01T13:05:00.9999999Z", SEC(1709298300) + 999999},
        {"2024-03-01T14:05:00.25+01:00", SEC(1709298300) + 250000},
        {"2024-03-01T13:05:00.0Z", SEC(1709298300)},
        /* Leap years: 2000 and 2024 have 29 February. */
        {"2000-02-29T00:00:00Z", SEC(951782400)},
        {"2024-02-29T12:00:00Z", SEC(1709208000)},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", SEC(-1)},
        {"1969-12-31T23:59:59.5Z", SEC(-1) + 500000},
        {"2024-12-31T23:59:59Z", SEC(1735689599)},
        {"9999-12-31T23:59:59Z", SEC(253402300799)},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        psy_time_t t = 0;
        int r = parse(cases[i].text, &t);
        if (r != 0 || t != cases[i].want)
            fail_msg("%s: r=%d t=%lld want %lld", cases[i].text, r, (long long)t,
                     (long long)cases[i].want);
    }
}

/* Everything that is not an RFC 3339 date-time is refused, and *ret is untouched. */
static void
test_parse_invalid(void **state)
{
    static const char *const cases[] = {
        "",
        "2024",
        "2024-03-01",
        "2024-03-01T13:05Z",     /* seconds are required */
        "2024-03-01T13:05:00",   /* missing offset */
        "2024-03-01T13:05:00.5", /* missing offset after a fraction */
        "2024-03-01 13:05:00Z",  /* space instead of T */
        "2024-03-01X13:05:00Z",
        "2024-03-01T13:05:00ZZ", /* trailing junk */
        "2024-03-01T13:05:00Z ",
        " 2024-03-01T13:05:00Z",
        "2024-03-01T13:05:00+01:00x",
        "2024-03-01T13:05:00+01:00Z",
        "2024-03-01T13:05:00.Z", /* a dot without digits */
        "2024-03-01T13:05:00.5.5Z",
        "2024-03-01T13:05:00+0100", /* offset without colon */
        "2024-03-01T13:05:00+01",
        "2024-03-01T13:05:00+1:00",
        "2024-03-01T13:05:00+01:60",
        "2024-03-01T13:05:00+24:00",
        "2024-03-01T13:05:00 +01:00",
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* divisible by 100, not by 400 */
        "2024-02-30T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-03-01T24:00:00Z", /* hour 24 */
        "2024-03-01T23:60:00Z",
        "2024-12-31T23:59:60Z", /* no leap second */
        "2016-12-31T23:59:60Z",
        "24-03-01T13:05:00Z",
        "02024-03-01T13:05:00Z",
        "2024-3-01T13:05:00Z",
        "2024-03-1T13:05:00Z",
        "2024-03-01T1:05:00Z",
        "2024/03/01T13:05:00Z",
        "2024-03-01T13.05.00Z",
        "+024-03-01T13:05:00Z",
        "2024-03-01T13:05:-1Z",
        "2024-03-01T13:05:00\xef\xbc\xba", /* a full-width Z */
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        psy_time_t t = 42;
        int r = parse(cases[i], &t);
        if (r != -EINVAL || t != 42)
            fail_msg("'%s' accepted: r=%d t=%lld", cases[i], r, (long long)t);
    }
}

/* Only the first len bytes count: the parser must not read a NUL-free buffer past len. */
static void
test_parse_len(void **state)
{
    static const char text[] = "2024-03-01T13:05:00Zjunk";
    psy_time_t t = 0;
    (void)state;

    assert_int_equal(psy_time_parse(text, 20, &t), 0);
    assert_int_equal(t, SEC(1709298300));
    assert_int_equal(psy_time_parse(text, 21, &t), -EINVAL);
    assert_int_equal(psy_time_parse(text, 19, &t), -EINVAL);
    for (size_t n = 0; n < 20; n++)
        assert_int_equal(psy_time_parse(text, n, &t), -EINVAL);

    /* An embedded NUL is not the end of the text. */
    assert_int_equal(psy_time_parse("2024-03-01T13:05:00Z\0", 21, &t), -EINVAL);

    /* A buffer that ends exactly after the text, with no NUL after it. */
    char *exact = malloc(20);
    assert_non_null(exact);
    memcpy(exact, text, 20);
    assert_int_equal(psy_time_parse(exact, 20, &t), 0);
    assert_int_equal(psy_time_parse(exact, 19, &t), -EINVAL);
    free(exact);
}

/* Every day of 1899-2101 at a few times of day, compared with timegm(3). */
static void
test_parse_sweep_timegm(void **state)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char buf[64];
    (void)state;

    for (int y = 1899; y <= 2101; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= mdays[m - 1] + 1; d++) {
                struct tm tm = {.tm_year = y - 1900,
                                .tm_mon = m - 1,
                                .tm_mday = d,
                                .tm_hour = d % 24,
                                .tm_min = (d * 7) % 60,
                                .tm_sec = y % 60};
                time_t want = timegm(&tm);
                /* timegm normalises an impossible date; the parser must refuse it. */
                bool real = tm.tm_mday == d && tm.tm_mon == m - 1;
                snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, d % 24,
                         (d * 7) % 60, y % 60);
                psy_time_t t = 0;
                int r = parse(buf, &t);
                if (real ? (r != 0 || t != (psy_time_t)want * PSY_USEC) : r != -EINVAL)
                    fail_msg("%s: r=%d t=%lld timegm=%lld", buf, r, (long long)t, (long long)want);
            }
}

/* Formatting is UTC, second precision plus a fraction only when there is one. */
static void
test_format(void **state)
{
    static const good_t cases[] = {
        {"2024-03-01T13:05:00Z", SEC(1709298300)},
        {"2024-03-01T13:05:00.500000Z", SEC(1709298300) + 500000},
        {"2024-03-01T13:05:00.000001Z", SEC(1709298300) + 1},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", SEC(-1)},
        {"1969-12-31T23:59:59.999999Z", -1},
        {"1900-01-01T00:00:00Z", SEC(-2208988800)},
        {"2000-02-29T00:00:00Z", SEC(951782400)},
        {"9999-12-31T23:59:59.999999Z", SEC(253402300799) + 999999},
    };
    char buf[32];
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(buf, 'x', sizeof buf);
        psy_time_format(cases[i].want, buf, sizeof buf);
        assert_string_equal(buf, cases[i].text);
        /* And back. */
        psy_time_t t = 0;
        assert_int_equal(parse(buf, &t), 0);
        assert_int_equal(t, cases[i].want);
    }

    /* A short buffer is truncated, never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    psy_time_format(SEC(1709298300), small, sizeof small);
    assert_string_equal(small, "2024-03");
}

/* parse(format(t)) == t over a spread of instants, fractions included. */
static void
test_format_round_trip(void **state)
{
    char buf[32];
    uint64_t x = 88172645463325252ULL;
    (void)state;

    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* 1900 .. 9999 */
        psy_time_t t =
            SEC(-2208988800) + (psy_time_t)(x % (uint64_t)(SEC(253402300799) - SEC(-2208988800)));
        if (i % 3 == 0)
            t -= t % PSY_USEC; /* whole seconds too */
        psy_time_format(t, buf, sizeof buf);
        psy_time_t back = 0;
        if (parse(buf, &back) != 0 || back != t)
            fail_msg("%lld -> %s -> %lld", (long long)t, buf, (long long)back);
    }
}

static int
setup_cph(void **state)
{
    (void)state;
    return psy_tz_set("Europe/Copenhagen");
}

static int
teardown_utc(void **state)
{
    (void)state;
    return psy_tz_set("UTC");
}

/* Civil days in Copenhagen: 23 h on 2024-03-31, 25 h on 2024-10-27, else 24 h. */
static void
test_civil_start_dst(void **state)
{
    (void)state;

    assert_int_equal(psy_civil_start(2024, 3, 31), SEC(1711839600)); /* 2024-03-30T23:00Z */
    assert_int_equal(psy_civil_start(2024, 4, 1), SEC(1711922400));  /* 2024-03-31T22:00Z */
    assert_int_equal(psy_civil_start(2024, 4, 1) - psy_civil_start(2024, 3, 31), 23 * PSY_HOUR);
    assert_int_equal(psy_civil_start(2024, 10, 27), SEC(1729980000)); /* 2024-10-26T22:00Z */
    assert_int_equal(psy_civil_start(2024, 10, 28), SEC(1730070000)); /* 2024-10-27T23:00Z */
    assert_int_equal(psy_civil_start(2024, 10, 28) - psy_civil_start(2024, 10, 27), 25 * PSY_HOUR);
    assert_int_equal(psy_civil_start(2024, 3, 31) - psy_civil_start(2024, 3, 30), 24 * PSY_HOUR);
    assert_int_equal(psy_civil_start(2024, 4, 2) - psy_civil_start(2024, 4, 1), 24 * PSY_HOUR);
    assert_int_equal(psy_civil_start(2024, 10, 29) - psy_civil_start(2024, 10, 28), 24 * PSY_HOUR);

    /* Every day of 2024: two short or long days, all others 24 h, 366 days in all. */
    int n23 = 0, n25 = 0;
    for (int d = 1; d <= 366; d++) {
        psy_time_t len = psy_civil_start(2024, 1, d + 1) - psy_civil_start(2024, 1, d);
        if (len == 23 * PSY_HOUR)
            n23++;
        else if (len == 25 * PSY_HOUR)
            n25++;
        else
            assert_int_equal(len, 24 * PSY_HOUR);
    }
    assert_int_equal(n23, 1);
    assert_int_equal(n25, 1);
    assert_int_equal(psy_civil_start(2025, 1, 1) - psy_civil_start(2024, 1, 1), 366 * PSY_DAY);
}

/* m past 12 or below 1 rolls into the next or previous years. */
static void
test_civil_start_normalise(void **state)
{
    (void)state;

    assert_int_equal(psy_civil_start(2024, 13, 1), psy_civil_start(2025, 1, 1));
    assert_int_equal(psy_civil_start(2024, 0, 1), psy_civil_start(2023, 12, 1));
    assert_int_equal(psy_civil_start(2024, -1, 1), psy_civil_start(2023, 11, 1));
    assert_int_equal(psy_civil_start(2024, -11, 1), psy_civil_start(2023, 1, 1));
    assert_int_equal(psy_civil_start(2024, -12, 1), psy_civil_start(2022, 12, 1));
    assert_int_equal(psy_civil_start(2024, 24, 1), psy_civil_start(2025, 12, 1));
    assert_int_equal(psy_civil_start(2024, 25, 1), psy_civil_start(2026, 1, 1));
    assert_int_equal(psy_civil_start(2021, 12 * 3 + 3, 31), psy_civil_start(2024, 3, 31));
    /* Day overflow is normalised too (mktime), which period code relies on. */
    assert_int_equal(psy_civil_start(2024, 2, 30), psy_civil_start(2024, 3, 1));
    /* Copenhagen is UTC+1 in winter. */
    assert_int_equal(psy_civil_start(2025, 1, 1), SEC(1735686000)); /* 2024-12-31T23:00Z */
}

/* The civil date holding an instant, in Copenhagen and in UTC. */
static void
test_civil_date(void **state)
{
    int y, m, d;
    (void)state;

    /* 23:30Z on 1 March is 00:30 on 2 March in Copenhagen (UTC+1). */
    psy_civil_date(SEC(1709335800), &y, &m, &d); /* 2024-03-01T23:30:00Z */
    assert_int_equal(y * 10000 + m * 100 + d, 20240302);
    psy_civil_date(SEC(1709335800) - 3600 * PSY_USEC, &y, &m, &d); /* 22:30Z */
    assert_int_equal(y * 10000 + m * 100 + d, 20240301);
    /* The last microsecond of a civil day and the first of the next. */
    psy_time_t start = psy_civil_start(2024, 3, 31);
    psy_civil_date(start - 1, &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20240330);
    psy_civil_date(start, &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20240331);
    /* New year in summer time and winter time. */
    psy_civil_date(SEC(1735686000), &y, &m, &d); /* 2024-12-31T23:00Z */
    assert_int_equal(y * 10000 + m * 100 + d, 20250101);
    psy_civil_date(SEC(1735686000) - 1, &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20241231);
    /* In summer Copenhagen is UTC+2: 22:00Z on 30 June is 1 July. */
    psy_civil_date(SEC(1719784800), &y, &m, &d); /* 2024-06-30T22:00:00Z */
    assert_int_equal(y * 10000 + m * 100 + d, 20240701);

    /* Round trip over every day of 2021-2030. */
    for (int k = 0; k < 3653; k++) {
        psy_time_t s = psy_civil_start(2021, 1, 1 + k);
        int y2, m2, d2;
        psy_civil_date(s, &y, &m, &d);
        psy_civil_date(s + 12 * PSY_HOUR, &y2, &m2, &d2);
        assert_int_equal(psy_civil_start(y, m, d), s);
        assert_int_equal(y * 10000 + m * 100 + d, y2 * 10000 + m2 * 100 + d2);
        psy_civil_date(s - 1, &y2, &m2, &d2);
        assert_int_not_equal(y * 10000 + m * 100 + d, y2 * 10000 + m2 * 100 + d2);
    }

    /* The same instants in UTC. */
    assert_int_equal(psy_tz_set("UTC"), 0);
    psy_civil_date(SEC(1709335800), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20240301);
    psy_civil_date(SEC(1709337600), &y, &m, &d); /* 2024-03-02T00:00:00Z */
    assert_int_equal(y * 10000 + m * 100 + d, 20240302);
    psy_civil_date(-1, &y, &m, &d); /* one microsecond before the epoch */
    assert_int_equal(y * 10000 + m * 100 + d, 19691231);
    psy_civil_date(0, &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 19700101);
    assert_int_equal(psy_civil_start(2024, 3, 2), SEC(1709337600));
    assert_int_equal(psy_civil_start(2024, 4, 1) - psy_civil_start(2024, 3, 31), 24 * PSY_HOUR);
}

static void
test_tz_unknown(void **state)
{
    (void)state;

    assert_int_equal(psy_tz_set("Europe/Atlantis"), -ENOENT);
    assert_int_equal(psy_tz_set(""), -ENOENT);
    assert_int_equal(psy_tz_set("../../etc/passwd"), -ENOENT);
    assert_int_equal(psy_tz_set("/etc/passwd"), -ENOENT);
    assert_int_equal(psy_tz_set("Europe"), -ENOENT); /* a folder, not a zone */
    assert_false(psy_tz_exists("Europe/Atlantis"));
    assert_false(psy_tz_exists(NULL));
    assert_true(psy_tz_exists("Europe/Copenhagen"));
    assert_true(psy_tz_exists("UTC"));

    /* A refused zone leaves the installed one in place. */
    assert_int_equal(psy_tz_set("Europe/Copenhagen"), 0);
    assert_int_equal(psy_tz_set("Nowhere/Nothing"), -ENOENT);
    assert_int_equal(psy_civil_start(2024, 4, 1) - psy_civil_start(2024, 3, 31), 23 * PSY_HOUR);
}

static void
test_now(void **state)
{
    (void)state;
    psy_time_t a = psy_time_now();
    time_t b = time(NULL);
    /* Within a few seconds of time(2): the unit is microseconds, not seconds or ns. */
    assert_true(a / PSY_USEC >= (psy_time_t)b - 5 && a / PSY_USEC <= (psy_time_t)b + 5);
}

/* Durations as an operator writes them: a whole number and one unit. */
static void
test_duration_parse(void **state)
{
    static const struct {
        const char *text;
        int64_t us;
    } good[] = {
        {"0s", 0},
        {"1s", PSY_USEC},
        {"90s", 90 * PSY_USEC},
        {"15m", 15 * 60 * PSY_USEC},
        {"4h", 4 * PSY_HOUR},
        {"2d", 2 * PSY_DAY},
        {"007m", 7 * 60 * PSY_USEC},
        {"36500d", 36500 * PSY_DAY},
        {"876000h", 36500 * PSY_DAY},
    };
    static const char *const bad[] = {"",      "s",      "10",      "-1s",         "+1s", "1.5h",
                                      "1h30m", " 1s",    "1s ",     "1 s",         "1w",  "1S",
                                      "1ms",   "36501d", "876001h", "9999999999s", "1d\n"};
    int64_t us;
    (void)state;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        us = -1;
        if (psy_duration_parse(good[i].text, &us) != 0)
            fail_msg("'%s' refused", good[i].text);
        assert_int_equal(us, good[i].us);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        us = 42;
        if (psy_duration_parse(bad[i], &us) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(us, 42); /* untouched */
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_len),
        cmocka_unit_test(test_parse_sweep_timegm),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test_setup_teardown(test_civil_start_dst, setup_cph, teardown_utc),
        cmocka_unit_test_setup_teardown(test_civil_start_normalise, setup_cph, teardown_utc),
        cmocka_unit_test_setup_teardown(test_civil_date, setup_cph, teardown_utc),
        cmocka_unit_test_setup_teardown(test_tz_unknown, NULL, teardown_utc),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_duration_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
