/*
 * Tests of collectors/pseudonym.c: CPR normalisation, the Danish century
 * rule, ages at a civil date, and HMAC-SHA-256 pseudonyms against vectors
 * computed independently with
 *   printf %s ID | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pseudonym.h"
#include "psymon/time.h"

static const uint8_t key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void
hex_to_bytes(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static psy_time_t
at(const char *s)
{
    psy_time_t t = 0;

    assert_int_equal(psy_time_parse(s, strlen(s), &t), 0);
    return t;
}

static void
check_normalise(const char *in, const char *want)
{
    char out[PSY_PATIENT_MAX];
    size_t n = pseudonym_normalise(in, strlen(in), out);

    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

static void
test_normalise(void **state)
{
    (void)state;
    check_normalise("010190-1234", "0101901234");
    check_normalise("0101901234", "0101901234");
    /* Only the exact DDMMYY-SSSS form loses its dash. */
    check_normalise("01019-01234", "01019-01234");
    check_normalise("010190-123a", "010190-123a");
    check_normalise("010190 1234", "010190 1234");
    check_normalise("010190-12345", "010190-12345");
    check_normalise("ABC-123", "ABC-123");
    check_normalise("", "");
}

static void
check_hmac(const char *id, const char *hex)
{
    uint8_t want[32], got[32];

    hex_to_bytes(hex, want);
    pseudonym_make(key, id, strlen(id), got);
    assert_memory_equal(got, want, 32);
}

static void
test_hmac_vectors(void **state)
{
    (void)state;
    check_hmac("0101901234", "ec8ee9f1171562dc7ab8560142b9c1767eb5da8bffddaf89d58e89da3db166af");
    /* The dashed form is the same patient. */
    check_hmac("010190-1234", "ec8ee9f1171562dc7ab8560142b9c1767eb5da8bffddaf89d58e89da3db166af");
    check_hmac("0101901235", "094295b0352b6214ed7d1c914debfb1983d2d2195753092028028630e6d98e1e");
    /* Not a CPR number: hashed as it is, dash and all. */
    check_hmac("ABC-123", "a30287bf71be9280d87afc5579b08e4a7e0c7f2b40a4fe97e047413495f4d20b");
}

static void
test_hmac_depends_on_key(void **state)
{
    uint8_t other[32], a[32], b[32];

    (void)state;
    memcpy(other, key, 32);
    other[31] ^= 1;
    pseudonym_make(key, "0101901234", 10, a);
    pseudonym_make(other, "0101901234", 10, b);
    assert_memory_not_equal(a, b, 32);
}

static void
check_birth(const char *cpr, int y, int m, int d)
{
    int gy = 0, gm = 0, gd = 0;

    assert_int_equal(pseudonym_cpr_birth(cpr, strlen(cpr), &gy, &gm, &gd), 0);
    assert_int_equal(gy, y);
    assert_int_equal(gm, m);
    assert_int_equal(gd, d);
}

static void
test_century_rule(void **state)
{
    (void)state;
    /* Seventh digit 0-3: 1900s. */
    check_birth("0101000000", 1900, 1, 1);
    check_birth("010190-1234", 1990, 1, 1);
    check_birth("3112993999", 1999, 12, 31);
    check_birth("0101053000", 1905, 1, 1);
    /* 4 or 9: 2000s up to YY 36, else 1900s. */
    check_birth("0101364000", 2036, 1, 1);
    check_birth("0101374000", 1937, 1, 1);
    check_birth("0101369000", 2036, 1, 1);
    check_birth("0101379000", 1937, 1, 1);
    check_birth("0101004000", 2000, 1, 1);
    /* 5-8: 2000s up to YY 57, else 1800s. */
    check_birth("0101575000", 2057, 1, 1);
    check_birth("0101585000", 1858, 1, 1);
    check_birth("0101578000", 2057, 1, 1);
    check_birth("0101998000", 1899, 1, 1);
    check_birth("0101106000", 2010, 1, 1);
    check_birth("0101997000", 1899, 1, 1);
}

static void
check_not_cpr(const char *s)
{
    int y = -7, m = -7, d = -7;

    assert_int_equal(pseudonym_cpr_birth(s, strlen(s), &y, &m, &d), -EINVAL);
    assert_int_equal(y, -7); /* untouched on failure */
    assert_int_equal(m, -7);
    assert_int_equal(d, -7);
}

static void
test_invalid_dates(void **state)
{
    (void)state;
    check_not_cpr("3102901234");            /* 31 February */
    check_not_cpr("3104901234");            /* 31 April */
    check_not_cpr("0013901234");            /* month 13 */
    check_not_cpr("0000901234");            /* month 0, day 0 */
    check_not_cpr("0001901234");            /* day 0 */
    check_not_cpr("2902001234");            /* 1900 was no leap year */
    check_birth("2902004234", 2000, 2, 29); /* 2000 was */
    check_not_cpr("2902979234");            /* 1997 was not */
    check_not_cpr("010190123");             /* nine digits */
    check_not_cpr("01019012345");           /* eleven digits */
    check_not_cpr("010190-123");
    check_not_cpr("01019O1234"); /* a letter O */
    check_not_cpr("ABC-123");
    check_not_cpr("");
}

static void
test_age(void **state)
{
    (void)state;
    assert_int_equal(psy_tz_set("UTC"), 0);
    /* Born 1990-03-01. */
    assert_int_equal(pseudonym_age("0103901234", 10, at("2024-02-29T23:59:59Z")), 33);
    assert_int_equal(pseudonym_age("0103901234", 10, at("2024-03-01T00:00:00Z")), 34);
    assert_int_equal(pseudonym_age("010390-1234", 11, at("2024-03-01T00:00:00Z")), 34);
    /* Born 2004-02-29: the birthday of a common year is reached on 1 March. */
    assert_int_equal(pseudonym_age("2902044234", 10, at("2023-02-28T12:00:00Z")), 18);
    assert_int_equal(pseudonym_age("2902044234", 10, at("2023-03-01T12:00:00Z")), 19);
    assert_int_equal(pseudonym_age("2902044234", 10, at("2024-02-29T00:00:00Z")), 20);
    /* On the day of birth. */
    assert_int_equal(pseudonym_age("0101254234", 10, at("2025-01-01T00:00:00Z")), 0);
    /* Born after the record. */
    assert_int_equal(pseudonym_age("0101254234", 10, at("2024-12-31T23:59:59Z")), -ERANGE);
    assert_int_equal(pseudonym_age("3102901234", 10, at("2024-03-01T00:00:00Z")), -EINVAL);
    assert_int_equal(pseudonym_age("P-42", 4, at("2024-03-01T00:00:00Z")), -EINVAL);
}

static void
test_age_in_installed_zone(void **state)
{
    psy_time_t t = at("2024-02-29T23:30:00Z"); /* 2024-03-01 00:30 in Copenhagen */

    (void)state;
    assert_int_equal(psy_tz_set("Europe/Copenhagen"), 0);
    assert_int_equal(pseudonym_age("0103901234", 10, t), 34);
    assert_int_equal(psy_tz_set("UTC"), 0);
    assert_int_equal(pseudonym_age("0103901234", 10, t), 33);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_hmac_vectors),
        cmocka_unit_test(test_hmac_depends_on_key),
        cmocka_unit_test(test_century_rule),
        cmocka_unit_test(test_invalid_dates),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_age_in_installed_zone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
