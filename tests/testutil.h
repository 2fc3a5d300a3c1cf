/*
 * Helpers the cmocka tests share. Include after <cmocka.h>.
 */
#ifndef PSYMON_TESTUTIL_H
#define PSYMON_TESTUTIL_H

#include <string.h>

#include "psymon/time.h"

/* An RFC 3339 instant as psy_time_t; the test fails on a malformed one. */
static inline psy_time_t
T(const char *s)
{
    psy_time_t t = 0;

    assert_int_equal(psy_time_parse(s, strlen(s), &t), 0);
    return t;
}

#endif
