/* conf_check: the [goal] and [alert] checks that need the aggregator's KPI tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf_check.h"
#include "kpi.h"

static psy_agg_conf_t conf;

static void
goal(const char *kpi, int line)
{
    psy_goal_conf_t *g = &conf.goals[conf.ngoals++];

    snprintf(g->kpi, sizeof(g->kpi), "%s", kpi);
    g->target = 20;
    g->line = line;
}

static void
test_goals(void **state)
{
    char err[256];

    (void)state;
    memset(&conf, 0, sizeof(conf));
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), 0);
    goal("readmission_rate_30d", 12);
    goal("coercion_episodes:belt", 15);
    goal("intrusive_per_1000_bed_days", 18);
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), 0);
    assert_string_equal(err, "");
    goal("intrusive_per_100k", 21);
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a.conf:21: [goal intrusive_per_100k]: "));
    assert_non_null(strstr(err, "has no SPC chart"));
    conf.ngoals--;
    goal("no_such_kpi", 30);
    assert_int_equal(conf_check(&conf, "/etc/psymon/a.conf", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/etc/psymon/a.conf:30: [goal no_such_kpi]: "));
    assert_non_null(strstr(err, "has no SPC chart"));
}

static void
test_alerts(void **state)
{
    char err[256];
    psy_alert_conf_t *a;

    (void)state;
    memset(&conf, 0, sizeof(conf));
    conf.nalerts = 2;
    a = &conf.alerts[0];
    snprintf(a->name, sizeof(a->name), "SpcConcern"); /* a built-in rule tuned: no kpi */
    a->line = 40;
    a = &conf.alerts[1];
    snprintf(a->name, sizeof(a->name), "BeltsAbove20");
    snprintf(a->kpi, sizeof(a->kpi), "coercion_episodes:belt");
    a->threshold = true;
    a->line = 44;
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), 0);
    snprintf(a->kpi, sizeof(a->kpi), "coercion_episodes:belts");
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "a.conf:44: [alert BeltsAbove20]: key 'kpi': unknown KPI "
                             "'coercion_episodes:belts'");
    /* A yearly KPI is fine for a threshold rule: it needs no chart. */
    snprintf(a->kpi, sizeof(a->kpi), "intrusive_per_100k");
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), 0);

    /* A rule that could never see a final figure. */
    snprintf(a->kpi, sizeof(a->kpi), "median_days_to_readmission");
    a->period = KPI_MONTH;
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a.conf:44: [alert BeltsAbove20]: median_days_to_readmission"));
    a->period = KPI_YEAR;
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), 0);

    /* A misspelt built-in rule would leave the rule meant untouched: refused. */
    snprintf(conf.alerts[0].name, sizeof(conf.alerts[0].name), "SpcConcren");
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a.conf:40: [alert SpcConcren]: no built-in rule has this name"));
    assert_non_null(strstr(err, "kind = threshold"));
    snprintf(conf.alerts[0].name, sizeof(conf.alerts[0].name), "SpcConcern");
    /* A rule of one's own may not take a built-in rule's name. */
    snprintf(a->name, sizeof(a->name), "BeltOver48h");
    assert_int_equal(conf_check(&conf, "a.conf", err, sizeof(err)), -EINVAL);
    assert_string_equal(
        err,
        "a.conf:44: [alert BeltOver48h]: a rule of one's own cannot take a built-in rule's name");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goals),
        cmocka_unit_test(test_alerts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
