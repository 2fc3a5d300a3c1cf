/*
 * l10n: numbers, months, local times and the names of every KPI and SPC
 * word in Danish and English, table-driven.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kpi.h"
#include "l10n.h"

static void
test_numbers(void **state)
{
    static const struct {
        l10n_lang_t lang;
        double v;
        int dec;
        const char *want;
    } cases[] = {
        {L10N_DA, 1234.5, 1, "1.234,5"},
        {L10N_EN, 1234.5, 1, "1,234.5"},
        {L10N_DA, 0, 0, "0"},
        {L10N_DA, 999, 0, "999"},
        {L10N_DA, 1000, 0, "1.000"},
        {L10N_DA, 1234567.891, 2, "1.234.567,89"},
        {L10N_EN, 1234567.891, 2, "1,234,567.89"},
        {L10N_DA, -1234.56, 1, "-1.234,6"},
        {L10N_DA, -0.04, 1, "0,0"},
        {L10N_DA, 4.2857, 1, "4,3"},
        {L10N_DA, 0.5, 0, "0"},
        {L10N_EN, 240, 0, "240"},
        {L10N_DA, 100000, 0, "100.000"},
        {L10N_DA, NAN, 1, "–"},
        {L10N_EN, INFINITY, 1, "–"},
        {L10N_DA, 12.345678, 9, "12,345678"},
    };
    char buf[48];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        l10n_number(cases[i].lang, cases[i].v, cases[i].dec, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, buf, cases[i].want);
    }
    /* Truncated, never overrun. */
    l10n_number(L10N_DA, 1234567, 0, buf, 4);
    assert_string_equal(buf, "1.2");
}

static void
test_months(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(l10n_month(L10N_DA, 1), "januar");
    assert_string_equal(l10n_month(L10N_DA, 3), "marts");
    assert_string_equal(l10n_month(L10N_DA, 5), "maj");
    assert_string_equal(l10n_month(L10N_DA, 10), "oktober");
    assert_string_equal(l10n_month(L10N_EN, 3), "March");
    assert_string_equal(l10n_month(L10N_EN, 12), "December");
    assert_string_equal(l10n_month(L10N_DA, 0), "?");
    assert_string_equal(l10n_month(L10N_DA, 13), "?");
    assert_string_equal(l10n_month_short(L10N_DA, 10), "okt.");
    assert_string_equal(l10n_month_short(L10N_EN, 10), "Oct");
    l10n_month_year(L10N_DA, 2024, 3, buf, sizeof(buf));
    assert_string_equal(buf, "marts 2024");
    l10n_month_year(L10N_EN, 2024, 3, buf, sizeof(buf));
    assert_string_equal(buf, "March 2024");
}

static void
test_datetime(void **state)
{
    char buf[48];
    psy_time_t t;

    (void)state;
    assert_int_equal(psy_tz_set("Europe/Copenhagen"), 0);
    /* 2024-03-01T13:05:00Z is 14:05 in Copenhagen (CET). */
    assert_int_equal(psy_time_parse("2024-03-01T13:05:59Z", 20, &t), 0);
    l10n_datetime(L10N_DA, t, buf, sizeof(buf));
    assert_string_equal(buf, "1. marts 2024 kl. 14:05");
    l10n_datetime(L10N_EN, t, buf, sizeof(buf));
    assert_string_equal(buf, "1 March 2024, 14:05");
    /* Summer time: +2 h. */
    assert_int_equal(psy_time_parse("2024-07-31T22:30:00Z", 20, &t), 0);
    l10n_datetime(L10N_DA, t, buf, sizeof(buf));
    assert_string_equal(buf, "1. august 2024 kl. 00:30");
    l10n_datetime(L10N_DA, PSY_TIME_NONE, buf, sizeof(buf));
    assert_string_equal(buf, "aldrig");
    l10n_datetime(L10N_EN, PSY_TIME_NONE, buf, sizeof(buf));
    assert_string_equal(buf, "never");
}

/* Every KPI the engine knows has a name in both languages, and it is not an identifier. */
static void
test_every_kpi_named(void **state)
{
    char buf[128];

    (void)state;
    for (size_t i = 0; i < kpi_count(); i++) {
        for (int l = 0; l < 2; l++) {
            const char *name = l10n_kpi((l10n_lang_t)l, kpi_name(i), buf, sizeof(buf));
            if (!name)
                fail_msg("no %s name for %s", l ? "English" : "Danish", kpi_name(i));
            if (strchr(name, '_') || strcmp(name, kpi_name(i)) == 0)
                fail_msg("name of %s looks like an identifier: %s", kpi_name(i), name);
        }
    }
    assert_null(l10n_kpi(L10N_DA, "no_such_kpi", buf, sizeof(buf)));
    assert_string_equal(l10n_kpi_short(L10N_DA, "belt_over_48h"), "Bælte over 48 t");
    assert_string_equal(l10n_kpi_short(L10N_EN, "readmission_rate_30d"),
                        "Readmitted within 30 days");
    assert_null(l10n_kpi_short(L10N_DA, "admissions"));
    assert_null(l10n_kpi(L10N_DA, "coercion_episodes:nope", buf, sizeof(buf)));
    assert_null(l10n_kpi(L10N_DA, "consultations:social_nurse", buf, sizeof(buf)));
}

static void
test_kpi_names(void **state)
{
    static const struct {
        l10n_lang_t lang;
        const char *kpi, *want;
    } cases[] = {
        {L10N_DA, "coercion_episodes:belt", "Bæltefikseringer"},
        {L10N_EN, "coercion_episodes:belt", "Belt fixations"},
        {L10N_DA, "coercion_episodes:physical_restraint", "Fysiske fastholdelser"},
        {L10N_DA, "coercion_episodes:sedative_medication", "Beroligende medicin givet med magt"},
        {L10N_DA, "coercion_persons:belt", "Bæltefiksering, personer"},
        {L10N_EN, "coercion_persons:forced_ect", "Forced ECT, persons"},
        {L10N_DA, "consultations:social_nurse:action_plan",
         "Konsultationer, socialsygeplejerske: handleplan"},
        {L10N_EN, "consultations:social_physician:network_meeting",
         "Consultations, social chief physician: network meeting"},
        {L10N_DA, "intrusive_per_100k", "Indgribende tvang pr. 100.000 borgere"},
        {L10N_EN, "readmission_rate_30d", "Readmissions within 30 days"},
        {L10N_DA, "wait_within_60d_share", "Behandling startet inden for 60 dage"},
    };
    char buf[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = l10n_kpi(cases[i].lang, cases[i].kpi, buf, sizeof(buf));
        if (!got || strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got '%s', want '%s'", cases[i].kpi, got ? got : "(null)", cases[i].want);
    }
    assert_string_equal(l10n_coercion_kind(L10N_DA, "physical_restraint"), "Fysisk fastholdelse");
    assert_null(l10n_coercion_kind(L10N_DA, "nope"));
    assert_string_equal(l10n_consult_role(L10N_DA, "social_physician"), "Socialoverlæge");
    assert_string_equal(l10n_consult_kind(L10N_EN, "follow_home"), "Accompanying home");
}

static void
test_units(void **state)
{
    (void)state;
    assert_string_equal(l10n_kpi_unit(L10N_DA, "readmission_rate_30d"), "%");
    assert_string_equal(l10n_kpi_unit(L10N_DA, "self_discharge_share"), "%");
    assert_string_equal(l10n_kpi_unit(L10N_DA, "intrusive_per_100k"), "pr. 100.000 borgere");
    assert_string_equal(l10n_kpi_unit(L10N_EN, "intrusive_per_1000_bed_days"),
                        "per 1,000 bed days");
    assert_string_equal(l10n_kpi_unit(L10N_DA, "belt_median_hours"), "timer");
    /* A count has no unit, and certainly no SI prefix. */
    assert_string_equal(l10n_kpi_unit(L10N_DA, "admissions"), "");
}

static void
test_spc_words(void **state)
{
    static const char *const words[] = {"high",    "low",  "common", "improvement",  "concern",
                                        "neutral", "pass", "fail",   "hit_and_miss", ""};
    (void)state;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        const char *da = l10n_spc_word(L10N_DA, words[i]);
        const char *en = l10n_spc_word(L10N_EN, words[i]);
        assert_non_null(da);
        assert_non_null(en);
        assert_string_not_equal(da, en);
    }
    assert_string_equal(l10n_spc_word(L10N_DA, "concern"), "Bekymring");
    assert_string_equal(l10n_spc_word(L10N_EN, "hit_and_miss"), "Hit and miss");
    assert_string_equal(l10n_spc_word(L10N_DA, NULL), "Ikke beregnet");
    assert_null(l10n_spc_word(L10N_DA, "bogus"));
}

static void
test_lang(void **state)
{
    (void)state;
    assert_int_equal(l10n_parse("en"), L10N_EN);
    assert_int_equal(l10n_parse("da"), L10N_DA);
    assert_int_equal(l10n_parse(NULL), L10N_DA);
    assert_int_equal(l10n_parse("de"), L10N_DA);
    assert_string_equal(l10n_code(L10N_DA), "da");
    assert_string_equal(l10n_code(L10N_EN), "en");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),   cmocka_unit_test(test_months),
        cmocka_unit_test(test_datetime),  cmocka_unit_test(test_every_kpi_named),
        cmocka_unit_test(test_kpi_names), cmocka_unit_test(test_units),
        cmocka_unit_test(test_spc_words), cmocka_unit_test(test_lang),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
