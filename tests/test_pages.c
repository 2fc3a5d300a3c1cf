/*
 * pages: the completeness rule of dashboard.md, the data-state order, URL
 * parsing, and the pages themselves from a hand-made input: language,
 * data attributes, incomplete figures never shown as good, small counts in
 * the report, CSV, and nothing fetched from elsewhere.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pages.h"

static size_t
count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static psy_time_t
at(const char *s)
{
    psy_time_t t;

    assert_int_equal(psy_time_parse(s, strlen(s), &t), 0);
    return t;
}

/* 2021-01 .. 2026-01: 61 months. */
#define NM 61
static uint64_t full[NM], stopped[NM], late[NM], none[NM], nocur[NM];

static void
make_months(void)
{
    for (int i = 0; i < NM; i++) {
        full[i] = 100 + (uint64_t)i;
        stopped[i] = i < 57 ? 100 : 0; /* the last month with data is 2025-09 */
        late[i] = i >= 41 ? 50 : 0;    /* the first month with data is 2024-06 */
        none[i] = 0;
        nocur[i] = i < 60 ? 100 : 0; /* nothing yet in the current month */
    }
}

static void
test_complete_center(void **state)
{
    psy_time_t as_of = at("2026-01-15T12:00:00Z");
    struct {
        const uint64_t *rec;
        const char *silent; /* NULL: no alert fires */
        int y, m, n;
        bool want;
    } cases[] = {
        {full, NULL, 2025, 12, 1, true},
        {full, NULL, 2025, 1, 12, true}, /* r12:2025-12 */
        {full, NULL, 2026, 1, 1, true},  /* current month, data so far */
        {full, NULL, 2026, 2, 1, false}, /* after as_of */
        {full, NULL, 2025, 10, 3, true}, /* a quarter */
        {full, NULL, 2026, 1, 12, true}, /* the current year: months up to as_of */
        {stopped, NULL, 2025, 9, 1, true},
        {stopped, NULL, 2025, 12, 1, false},
        {stopped, NULL, 2025, 1, 12, false},
        {late, NULL, 2024, 1, 12, false}, /* r12 window before the first data */
        {late, NULL, 2024, 6, 1, true},
        {late, NULL, 2024, 6, 12, true},
        {none, NULL, 2025, 12, 1, false},
        {nocur, NULL, 2026, 1, 1, false},
        {nocur, NULL, 2025, 12, 1, true},
        /* Silent since before the end of December: December is incomplete, November not. */
        {full, "2025-12-20T00:00:00Z", 2025, 12, 1, false},
        {full, "2025-12-20T00:00:00Z", 2025, 11, 1, true},
        /* Silent only since January: December was complete while it was current. */
        {full, "2026-01-02T00:00:00Z", 2025, 12, 1, true},
        {full, "2026-01-02T00:00:00Z", 2026, 1, 1, false},
        /* The month boundary is local: 2025-12-31T23:30Z is already January in Copenhagen. */
        {full, "2025-12-31T23:30:00Z", 2025, 12, 1, true},
        {full, NULL, 2025, 1, 0, false},
    };

    (void)state;
    make_months();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pages_center_data_t c = {.from_year = 2021,
                                 .from_month = 1,
                                 .nmonths = NM,
                                 .records = cases[i].rec,
                                 .silent_since =
                                     cases[i].silent ? at(cases[i].silent) : PSY_TIME_NONE};
        bool got = pages_complete(&c, cases[i].y, cases[i].m, cases[i].n, as_of);
        if (got != cases[i].want)
            fail_msg("case %zu (%d-%02d, %d months): got %d", i, cases[i].y, cases[i].m, cases[i].n,
                     got);
    }
}

static void
test_complete_region(void **state)
{
    psy_time_t as_of = at("2026-01-15T12:00:00Z");
    pages_center_data_t c[3] = {
        {2021, 1, NM, full, PSY_TIME_NONE},
        {2021, 1, NM, late, PSY_TIME_NONE},
        {2021, 1, NM, none, PSY_TIME_NONE},
    };

    (void)state;
    make_months();
    /* Before the late center's first data, only the full one counts. */
    assert_true(pages_complete_region(c, 3, 2024, 3, 1, as_of));
    /* Its r12 window starts before the late center's first month: that one does not count. */
    assert_true(pages_complete_region(c, 3, 2024, 1, 12, as_of));
    assert_true(pages_complete_region(c, 3, 2025, 12, 1, as_of));
    /* A counted center stops: the region is incomplete. */
    c[1].records = stopped;
    assert_false(pages_complete_region(c, 3, 2025, 12, 1, as_of));
    c[1].records = late;
    c[0].silent_since = at("2025-12-01T00:00:00Z");
    assert_false(pages_complete_region(c, 3, 2025, 12, 1, as_of));
    /* No center with data at all: nothing to call complete. */
    assert_false(pages_complete_region(&c[2], 1, 2025, 12, 1, as_of));
}

static void
test_state(void **state)
{
    (void)state;
    assert_string_equal(pages_state(true, true, PAGES_GOOD), "incomplete");
    assert_string_equal(pages_state(true, false, PAGES_GOOD), "incomplete");
    assert_string_equal(pages_state(false, true, PAGES_GOOD), "provisional");
    assert_string_equal(pages_state(false, false, PAGES_GOOD), "good");
    assert_string_equal(pages_state(false, false, PAGES_BAD), "bad");
    assert_string_equal(pages_state(false, false, PAGES_NEUTRAL), "neutral");
}

static void
test_parse(void **state)
{
    pages_request_t r;

    (void)state;
    assert_int_equal(pages_parse("/", NULL, NULL, &r), 0);
    assert_int_equal(r.kind, PAGES_OVERVIEW);
    assert_int_equal(r.lang, L10N_DA);
    assert_false(r.csv);
    assert_int_equal(pages_parse("/center/pc-amager", "en", "csv", &r), 0);
    assert_int_equal(r.kind, PAGES_CENTER);
    assert_string_equal(r.arg, "pc-amager");
    assert_int_equal(r.lang, L10N_EN);
    assert_true(r.csv);
    assert_int_equal(pages_parse("/kpi/readmission_rate_30d", "da", "html", &r), 0);
    assert_int_equal(r.kind, PAGES_KPI);
    assert_int_equal(pages_parse("/report/2025-10", NULL, NULL, &r), 0);
    assert_int_equal(r.kind, PAGES_REPORT);
    assert_int_equal(r.year, 2025);
    assert_int_equal(r.month, 10);
    assert_int_equal(pages_parse("/alerts", NULL, NULL, &r), 0);
    assert_int_equal(pages_parse("/collectors", NULL, NULL, &r), 0);
    assert_int_equal(r.kind, PAGES_COLLECTORS);
    assert_int_equal(pages_parse("/report/2025-13", NULL, NULL, &r), -EINVAL);
    assert_int_equal(pages_parse("/report/25-10", NULL, NULL, &r), -EINVAL);
    assert_int_equal(pages_parse("/", NULL, "pdf", &r), -EINVAL);
    assert_int_equal(pages_parse("/", "de", NULL, &r), -EINVAL);
    assert_int_equal(pages_parse("/center/", NULL, NULL, &r), -ENOENT);
    assert_int_equal(pages_parse("/center/a<b", NULL, NULL, &r), -ENOENT);
    assert_int_equal(pages_parse("/nope", NULL, NULL, &r), -ENOENT);
}

/* ---- A small region: two centers, one of which stopped delivering. ---- */

static svg_spc_point_t pts[3][4][12];
static svg_r12_point_t r12[3][12];
static pages_level_t levels[3];
static pages_collector_t coll[2];
static pages_alert_t alerts[1];
static pages_figure_t all[3][2];
static psy_agg_conf_t conf;
static pages_input_t in;

static void
figure(pages_figure_t *g, const char *kpi, const char *period, double v, bool integer)
{
    memset(g, 0, sizeof(*g));
    g->kpi = kpi;
    snprintf(g->period, sizeof(g->period), "%s", period);
    g->set = true;
    g->integer = integer;
    g->value = v;
    g->on_track = -1;
}

static void
make_input(void)
{
    static const char *const ids[3] = {"region", "pc-a", "pc-b"};
    static const char *const names[3] = {"Region Test", "Psykiatrisk Center A", "Center B & Co"};

    memset(&in, 0, sizeof(in));
    memset(levels, 0, sizeof(levels));
    memset(&conf, 0, sizeof(conf));
    conf.target_pct = 30;
    conf.first_year = 2024;
    conf.first_month = 1;
    conf.last_year = 2030;
    conf.last_month = 12;
    conf.nbaseline = 3;
    conf.baseline_years[0] = 2021;
    conf.baseline_years[1] = 2022;
    conf.baseline_years[2] = 2023;
    for (int l = 0; l < 3; l++) {
        pages_level_t *lv = &levels[l];
        lv->id = ids[l];
        lv->name = names[l];
        lv->is_region = l == 0;
        /* Center B stopped: its month and the region's are incomplete. */
        lv->complete = lv->complete_r12 = l == 1;
        for (int k = 0; k < PAGES_HEADLINE_N; k++) {
            bool r = k == 0;
            figure(&lv->headline[k], pages_headline[k], r ? "r12:2025-10" : "2025-10",
                   k == 3 ? 3 : 1234.5 + k, k == 1 || k == 3 || k == 7 || k == 8);
            lv->headline[k].incomplete = !lv->complete;
            lv->headline[k].judgement = PAGES_GOOD;
        }
        /* The example: a center with no episodes looked like a 100 % reduction. */
        levels[l].headline[0].on_track = 1;
        levels[l].headline[4].provisional = true;
        if (l == 1) {
            /* An SPC concern on a complete figure: icons with words, state bad. */
            snprintf(lv->headline[2].variation, sizeof(lv->headline[2].variation), "high");
            snprintf(lv->headline[2].assessment, sizeof(lv->headline[2].assessment), "concern");
            snprintf(lv->headline[2].assurance, sizeof(lv->headline[2].assurance), "fail");
            lv->headline[2].judgement = PAGES_BAD;
        }
        for (int k = 1; k < 5; k++) {
            lv->series[k].kpi = pages_headline[k];
            lv->series[k].points = pts[l][k - 1];
            lv->series[k].npoints = 12;
            for (int i = 0; i < 12; i++) {
                svg_spc_point_t *p = &pts[l][k - 1][i];
                memset(p, 0, sizeof(*p));
                p->year = 2024 + (i + 10) / 12;
                p->month = 1 + (i + 10) % 12;
                p->has_y = true;
                p->y = 10 * (l + 1) + i % 3;
                p->incomplete = l != 1 && i >= 9;
            }
        }
        lv->r12 = r12[l];
        lv->nr12 = 12;
        for (int i = 0; i < 12; i++)
            r12[l][i] = (svg_r12_point_t){.year = 2024 + (i + 10) / 12,
                                          .month = 1 + (i + 10) % 12,
                                          .has_rate = true,
                                          .rate = 80 - i,
                                          .incomplete = l != 1 && i >= 9};
        lv->has_baseline = true;
        lv->baseline = 90;
        figure(&all[l][0], "coercion_episodes:belt", "2025-10", 2, true);
        figure(&all[l][1], "readmission_rate_30d", "2025-10", 21.25, false);
        lv->all = all[l];
        lv->nall = 2;
    }
    coll[0] = (pages_collector_t){.id = "pc-a",
                                  .name = "Psykiatrisk Center A",
                                  .known = true,
                                  .records = 123456,
                                  .last_seen = at("2025-11-15T11:59:00Z"),
                                  .version = "1.0",
                                  .last_file_at = PSY_TIME_NONE,
                                  .complete = true};
    coll[1] = (pages_collector_t){.id = "pc-b",
                                  .name = "Center B & Co",
                                  .known = true,
                                  .last_seen = at("2025-10-20T08:00:00Z"),
                                  .version = "",
                                  .last_file_at = PSY_TIME_NONE};
    alerts[0] = (pages_alert_t){.state = "firing",
                                .alertname = "CollectorSilent",
                                .center = "pc-b",
                                .severity = "critical",
                                .summary = "Intet fra Center B",
                                .summary_en = "Nothing from Center B",
                                .active_at = at("2025-10-20T08:15:00Z"),
                                .firing_since = PSY_TIME_NONE,
                                .resolved_at = PSY_TIME_NONE,
                                .fingerprint = "0123456789abcdef"};
    in.lang = L10N_DA;
    in.now = at("2025-11-15T12:00:00Z");
    in.conf = &conf;
    in.ready = true;
    in.year = 2025;
    in.month = 10;
    in.levels = levels;
    in.nlevels = 3;
    in.collectors = coll;
    in.ncollectors = 2;
    in.alerts_available = true;
    in.alerts = alerts;
    in.nalerts = 1;
}

static char *
render(const char *path, const char *lang, const char *format)
{
    pages_request_t req;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    assert_int_equal(pages_parse(path, lang, format, &req), 0);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(pages_write(f, &in, &req), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Nothing fetched from elsewhere: every src and href is same-origin or a data: URL. */
static void
check_self_contained(const char *s)
{
    assert_null(strstr(s, "src=\"http"));
    assert_null(strstr(s, "href=\"http"));
    assert_null(strstr(s, "href=\"//"));
    assert_null(strstr(s, "<script"));
    assert_null(strstr(s, "nan"));
}

static void
test_overview(void **state)
{
    char *s;

    (void)state;
    make_input();
    s = render("/", NULL, NULL);
    check_self_contained(s);
    assert_non_null(strstr(s, "<html lang=\"da\">"));
    assert_non_null(strstr(s, "<link rel=\"icon\" href=\"data:,\">"));
    /* A figure per level and headline KPI, with its attributes. */
    assert_int_equal(count(s, "<td class=\"fig\" data-center="), 3 * PAGES_HEADLINE_N);
    assert_non_null(strstr(s, "data-center=\"pc-a\" data-kpi=\"intrusive_per_100k\" "
                              "data-period=\"r12:2025-10\" data-state=\"good\""));
    /* Incomplete beats good: center B and the region never show as good. */
    assert_non_null(strstr(s, "data-center=\"pc-b\" data-kpi=\"intrusive_per_100k\" "
                              "data-period=\"r12:2025-10\" data-state=\"incomplete\""));
    assert_int_equal(count(s, "data-state=\"good\""), PAGES_HEADLINE_N - 2);
    assert_int_equal(count(s, "data-state=\"incomplete\""), 2 * PAGES_HEADLINE_N);
    assert_int_equal(count(s, "data-state=\"provisional\""), 1);
    /* The incomplete rate is not "on track", whatever the flag says. */
    assert_int_equal(count(s, "<b>✓</b><span class=\"tt\"> på sporet</span>"), 1 + 1);
    assert_int_equal(count(s, "<b>?</b><span class=\"tt\"> målsti: kan ikke vurderes</span>"), 2);
    /* Without SPC there is one short mark, not two empty icons. */
    assert_int_equal(count(s, ">SPC –</span>"), 3 * (PAGES_HEADLINE_N - 1) - 1);
    assert_non_null(strstr(s, "data-center=\"pc-a\" data-kpi=\"intrusive_per_1000_bed_days\" "
                              "data-period=\"2025-10\" data-state=\"bad\""));
    assert_non_null(strstr(s, "<span class=\"icon var-concern var-high\">"));
    assert_non_null(strstr(s, "<span class=\"icon-label\">høj bekymring</span>"));
    assert_non_null(strstr(s, "<span class=\"icon ass-fail\">"));
    /* Danish numbers and names, escaped. */
    assert_non_null(strstr(s, ">1.234,5<"));
    assert_non_null(strstr(s, "Center B &amp; Co"));
    assert_non_null(strstr(s, "oktober 2025"));
    assert_non_null(strstr(s, "Genindlæggelser inden for 30 dage"));
    assert_null(strstr(s, ">readmission_rate_30d<"));
    assert_non_null(strstr(s, "data-complete=\"false\""));
    assert_non_null(strstr(s, "href=\"/?format=csv\""));
    assert_non_null(strstr(s, "href=\"/kpi/readmission_rate_30d\""));
    assert_non_null(strstr(s, "Opgjort 15. november 2025 kl. 13:00"));
    free(s);

    s = render("/", "en", NULL);
    check_self_contained(s);
    assert_non_null(strstr(s, "<html lang=\"en\">"));
    assert_non_null(strstr(s, ">1,234.5<"));
    assert_non_null(strstr(s, "October 2025"));
    assert_non_null(strstr(s, "href=\"/center/pc-a?lang=en\""));
    assert_non_null(strstr(s, "href=\"/?lang=en&amp;format=csv\""));
    assert_null(strstr(s, "oktober"));
    free(s);
}

static void
test_center_kpi_pages(void **state)
{
    pages_request_t req;
    char *s;
    FILE *f;

    (void)state;
    make_input();
    s = render("/center/pc-b", NULL, NULL);
    check_self_contained(s);
    assert_non_null(strstr(s, "<h1>Center B &amp; Co</h1>"));
    assert_non_null(strstr(s, "data-complete=\"false\""));
    /* The rate chart and four SPC charts with points, one table of all KPIs. */
    assert_int_equal(count(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"rate\""), 1);
    assert_int_equal(count(s, "class=\"spc\""), PAGES_HEADLINE_N - 1);
    assert_non_null(strstr(s, "Bæltefikseringer"));
    assert_non_null(strstr(s, "Intet fra Center B"));
    assert_non_null(strstr(s, ">ufuldstændige data</text>"));
    free(s);

    s = render("/kpi/intrusive_episodes", NULL, NULL);
    check_self_contained(s);
    assert_int_equal(count(s, "<figure class=\"multiple\""), 2);
    assert_int_equal(count(s, "class=\"spc small\""), 2);
    assert_non_null(strstr(s, "Alle centre på samme skala."));
    free(s);

    assert_int_equal(pages_parse("/center/nope", NULL, NULL, &req), 0);
    f = fopen("/dev/null", "w");
    assert_int_equal(pages_write(f, &in, &req), -ENOENT);
    assert_int_equal(pages_parse("/kpi/intrusive_per_100k", NULL, NULL, &req), 0);
    assert_int_equal(pages_write(f, &in, &req), -ENOENT);
    fclose(f);
}

static void
test_report(void **state)
{
    char *s;

    (void)state;
    make_input();
    s = render("/report/2025-10", NULL, NULL);
    check_self_contained(s);
    assert_non_null(strstr(s, "Månedsrapport oktober 2025"));
    assert_non_null(strstr(s, "@media print{@page{size:A4"));
    /* A page per center after the overview and the target. */
    assert_int_equal(count(s, "<section class=\"center\""), 3);
    /* belt_over_48h = 3: a small count, shown as <5; a large count is shown. */
    assert_non_null(strstr(s, "data-kpi=\"belt_over_48h\""));
    assert_null(strstr(s, "<span class=\"v\">3</span>"));
    assert_non_null(strstr(s, "<span class=\"v\">&lt;5</span>"));
    assert_non_null(strstr(s, "<span class=\"v\">1.236</span>"));
    free(s);
    s = render("/report/2025-10", NULL, "csv");
    assert_non_null(strstr(s, ",belt_over_48h,\"Bæltefikseringer over 48 timer\",2025-10,<5,"));
    free(s);
}

static void
test_csv_and_tables(void **state)
{
    char *s;

    (void)state;
    make_input();
    s = render("/", NULL, "csv");
    assert_true(strncmp(s, "center,center_name,kpi,kpi_name,period,value,provisional,state,", 63) ==
                0);
    assert_int_equal(count(s, "\n"), 1 + 3 * PAGES_HEADLINE_N);
    assert_non_null(strstr(s, "pc-a,\"Psykiatrisk Center A\",intrusive_per_100k,"
                              "\"Indgribende tvang pr. 100.000 borgere\",r12:2025-10,1234.5000,0,"
                              "good,"));
    assert_non_null(strstr(s, "pc-b,\"Center B & Co\",belt_over_48h,"));
    assert_non_null(strstr(s, ",3,0,incomplete,"));
    free(s);
    s = render("/center/pc-a", "en", "csv");
    assert_non_null(strstr(s, "pc-a,\"Psykiatrisk Center A\",coercion_episodes:belt,"
                              "\"Belt fixations\",2025-10,2,0,neutral"));
    free(s);
    s = render("/kpi/intrusive_episodes", NULL, "csv");
    assert_int_equal(count(s, "\n"), 1 + 3 * 12);
    assert_non_null(strstr(s, "pc-b,intrusive_episodes,2025-09,"));
    free(s);
    s = render("/alerts", NULL, "csv");
    assert_non_null(strstr(s, "firing,CollectorSilent,pc-b,,critical,\"Intet fra Center B\""));
    free(s);
    s = render("/alerts", NULL, NULL);
    assert_non_null(strstr(s, "<tr class=\"alert\" data-alertname=\"CollectorSilent\" "
                              "data-center=\"pc-b\" data-severity=\"critical\" "
                              "data-state=\"firing\""));
    free(s);
    s = render("/collectors", NULL, NULL);
    check_self_contained(s);
    assert_non_null(strstr(s, "<td>123.456</td>"));
    assert_non_null(strstr(s, "data-center=\"pc-b\" data-state=\"bad\""));
    assert_non_null(strstr(s, "ikke oplyst"));
    free(s);
    s = render("/collectors", NULL, "csv");
    assert_non_null(strstr(s, "pc-a,\"Psykiatrisk Center A\",2025-11-15T11:59:00Z,123456,0,0,0,"));
    free(s);
    in.alerts_available = false;
    s = render("/alerts", "en", NULL);
    assert_non_null(strstr(s, "Alerts are not available yet."));
    free(s);
}

/* An alert of the engine, as alert_eval leaves it. */
static alert_t
engine_alert(const char *name, const char *center, const char *severity, const char *kpi,
             alert_state_t st, const char *active, const char *fp)
{
    alert_t a;

    memset(&a, 0, sizeof(a));
    snprintf(a.fingerprint, sizeof(a.fingerprint), "%s", fp);
    snprintf(a.labels.alertname, sizeof(a.labels.alertname), "%s", name);
    snprintf(a.labels.center, sizeof(a.labels.center), "%s", center);
    snprintf(a.labels.severity, sizeof(a.labels.severity), "%s", severity);
    snprintf(a.labels.kpi, sizeof(a.labels.kpi), "%s", kpi);
    snprintf(a.ann.summary, sizeof(a.ann.summary), "%s: dansk tekst for %s", name, center);
    snprintf(a.ann.summary_en, sizeof(a.ann.summary_en), "%s: English text for %s", name, center);
    a.state = st;
    a.active_since = at(active);
    a.firing_since = st == ALERT_FIRING || st == ALERT_RESOLVED ? a.active_since : PSY_TIME_NONE;
    a.keep_since = a.resolved_at = a.last_notified = PSY_TIME_NONE;
    return a;
}

static void
test_alerts(void **state)
{
    alert_t eng[9];
    pages_alert_t pa[9];
    pages_center_data_t cd[2];
    psy_agg_conf_t c;
    size_t n;
    char *s;

    (void)state;
    make_input();
    eng[0] = engine_alert("BeltOver48h", "pc-a", "warning", "belt_over_48h", ALERT_FIRING,
                          "2025-11-02T09:00:00Z", "a000000000000001");
    eng[0].acked = true;
    snprintf(eng[0].ack.author, sizeof(eng[0].ack.author), "Anne Holm");
    snprintf(eng[0].ack.comment, sizeof(eng[0].ack.comment), "Ses på i morgen");
    eng[1] = engine_alert("SpcConcern", "region", "warning", "readmission_rate_30d", ALERT_FIRING,
                          "2025-11-03T09:00:00Z", "a000000000000002");
    eng[1].nsilenced = 1;
    snprintf(eng[1].silenced_by[0], sizeof(eng[1].silenced_by[0]), "sil-1");
    eng[2] = engine_alert("ReferralsOverdue", "pc-a", "warning", "referrals_overdue", ALERT_PENDING,
                          "2025-11-15T11:50:00Z", "a000000000000003");
    eng[3] = engine_alert("ClockSkew", "pc-a", "warning", "", ALERT_RESOLVED,
                          "2025-11-10T09:00:00Z", "a000000000000004");
    eng[3].resolved_at = at("2025-11-12T09:00:00Z");
    /* Resolved eight days ago: no longer listed. */
    eng[4] = engine_alert("ClockSkew", "pc-b", "warning", "", ALERT_RESOLVED,
                          "2025-11-01T09:00:00Z", "a000000000000005");
    eng[4].resolved_at = at("2025-11-07T11:00:00Z");
    eng[5] = engine_alert("CollectorSilent", "pc-b", "critical", "", ALERT_FIRING,
                          "2025-10-20T08:15:00Z", "a000000000000006");
    eng[6] = engine_alert("IntrusiveOffTrajectory", "pc-b", "warning", "intrusive_reduction",
                          ALERT_FIRING, "2025-11-01T00:00:00Z", "a000000000000007");
    eng[6].inhibited = true;
    /* Pending only: the data are not missing yet. */
    eng[7] = engine_alert("ExportStale", "pc-a", "warning", "", ALERT_PENDING,
                          "2025-11-15T11:00:00Z", "a000000000000008");
    eng[8] = engine_alert("ExportStale", "pc-b", "warning", "", ALERT_FIRING,
                          "2025-10-21T08:15:00Z", "a000000000000009");

    n = pages_alerts_from(eng, 9, in.now, pa);
    assert_int_equal(n, 8);
    /* Firing first (critical before warning), then pending, then the quieted, then resolved. */
    assert_string_equal(pa[0].alertname, "CollectorSilent");
    assert_string_equal(pa[0].state, "firing");
    assert_string_equal(pa[1].alertname, "ExportStale");
    assert_string_equal(pa[1].state, "firing");
    assert_string_equal(pa[2].state, "pending");
    assert_string_equal(pa[2].alertname, "ReferralsOverdue"); /* newest first */
    assert_string_equal(pa[3].state, "pending");
    assert_string_equal(pa[4].state, "acknowledged");
    assert_string_equal(pa[4].ack_author, "Anne Holm");
    assert_string_equal(pa[5].state, "silenced");
    assert_string_equal(pa[6].state, "inhibited");
    assert_string_equal(pa[7].state, "resolved");
    assert_int_equal(pa[7].resolved_at, at("2025-11-12T09:00:00Z"));

    /* silent_since: the earliest firing CollectorSilent or ExportStale; pending ones do not count.
     */
    memset(&c, 0, sizeof(c));
    c.ncenters = 2;
    snprintf(c.centers[0].id, sizeof(c.centers[0].id), "pc-a");
    snprintf(c.centers[1].id, sizeof(c.centers[1].id), "pc-b");
    cd[0].silent_since = cd[1].silent_since = 0;
    pages_silent_since(eng, 9, &c, cd);
    assert_true(cd[0].silent_since == PSY_TIME_NONE);
    assert_int_equal(cd[1].silent_since, at("2025-10-20T08:15:00Z"));
    /* ... and it makes October incomplete for pc-b although every month has records. */
    cd[1].from_year = 2021;
    cd[1].from_month = 1;
    cd[1].nmonths = NM;
    cd[1].records = full;
    assert_false(pages_complete(&cd[1], 2025, 10, 1, in.now));
    assert_true(pages_complete(&cd[1], 2025, 9, 1, in.now));

    in.alerts = pa;
    in.nalerts = n;
    s = render("/alerts", NULL, NULL);
    check_self_contained(s);
    assert_int_equal(count(s, "<tr class=\"alert\""), 8);
    assert_non_null(strstr(s, "<tr class=\"alert\" data-alertname=\"CollectorSilent\" "
                              "data-center=\"pc-b\" data-severity=\"critical\" "
                              "data-state=\"firing\" data-fingerprint=\"a000000000000006\">"));
    assert_non_null(strstr(s, "data-alertname=\"BeltOver48h\" data-center=\"pc-a\" "
                              "data-severity=\"warning\" data-state=\"acknowledged\""));
    assert_non_null(strstr(s, "data-state=\"silenced\""));
    assert_non_null(strstr(s, "data-state=\"pending\""));
    assert_non_null(strstr(s, "data-state=\"inhibited\""));
    assert_non_null(strstr(s, "data-state=\"resolved\""));
    assert_null(strstr(s, "a000000000000005"));
    /* Danish: states, severities, rule names, the center's name, the summary, local time. */
    assert_non_null(strstr(s, "<b>●</b> aktiv</span>"));
    assert_non_null(strstr(s, "<b>✓</b> kvitteret</span>"));
    assert_non_null(strstr(s, "<b>⊘</b> dæmpet</span>"));
    assert_non_null(strstr(s, "<b>◌</b> afventer</span>"));
    assert_non_null(strstr(s, "<b>↓</b> undertrykt</span>"));
    assert_non_null(strstr(s, "<b>✔</b> afsluttet</span>"));
    assert_non_null(strstr(s, "‼ kritisk</span>"));
    assert_non_null(strstr(s, "Ingen data fra centrets opsamler<br>"));
    assert_non_null(strstr(s, "<td>Center B &amp; Co</td>"));
    assert_non_null(strstr(s, "<td>Region Test</td>"));
    assert_non_null(strstr(s, "CollectorSilent: dansk tekst for pc-b"));
    assert_null(strstr(s, "English text"));
    assert_non_null(strstr(s, "Kvitteret af Anne Holm: Ses på i morgen"));
    assert_non_null(strstr(s, "20. oktober 2025 kl. 10:15"));
    assert_non_null(strstr(s, "afsluttet 12. november 2025 kl. 10:00"));
    /* Each row links to its chart on our own pages. */
    assert_non_null(strstr(s, "href=\"/collectors#c-pc-b\""));
    assert_non_null(strstr(s, "href=\"/center/pc-a#kpi-belt_over_48h\""));
    assert_non_null(strstr(s, "href=\"/center/region#kpi-readmission_rate_30d\""));
    assert_non_null(strstr(s, "href=\"/center/pc-b#target\""));
    free(s);

    s = render("/alerts", "en", NULL);
    check_self_contained(s);
    assert_non_null(strstr(s, "CollectorSilent: English text for pc-b"));
    assert_non_null(strstr(s, "<b>✓</b> acknowledged</span>"));
    assert_non_null(strstr(s, "No data from the center&#39;s collector<br>"));
    assert_non_null(strstr(s, "href=\"/collectors?lang=en#c-pc-b\""));
    assert_non_null(strstr(s, "20 October 2025, 10:15"));
    assert_null(strstr(s, "dansk tekst"));
    free(s);

    s = render("/alerts", NULL, "csv");
    assert_true(strncmp(s,
                        "state,alertname,center,kpi,severity,summary,period,value,active_at,"
                        "firing_since,resolved_at,acknowledged_by,fingerprint\n",
                        111) == 0);
    assert_int_equal(count(s, "\n"), 1 + 8);
    assert_non_null(strstr(s,
                           "\nfiring,CollectorSilent,pc-b,,critical,"
                           "\"CollectorSilent: dansk tekst for pc-b\",\"\",\"\","
                           "2025-10-20T08:15:00Z,2025-10-20T08:15:00Z,,\"\",a000000000000006\n"));
    assert_non_null(strstr(s, "\nacknowledged,BeltOver48h,pc-a,belt_over_48h,warning,"));
    assert_non_null(strstr(s, ",\"Anne Holm\",a000000000000001\n"));
    assert_non_null(strstr(s, ",2025-11-12T09:00:00Z,\"\",a000000000000004\n"));
    free(s);

    /* A center's page lists that level's alerts only. */
    s = render("/center/pc-a", NULL, NULL);
    assert_int_equal(count(s, "<tr class=\"alert\""), 4);
    assert_null(strstr(s, "data-center=\"pc-b\" data-severity"));
    assert_non_null(strstr(s, "<section class=\"kpi\" id=\"kpi-belt_over_48h\">"));
    free(s);
    s = render("/center/region", NULL, NULL);
    assert_int_equal(count(s, "<tr class=\"alert\""), 1);
    free(s);

    /* The overview counts what fires, quieted or not, and the critical ones. */
    s = render("/", NULL, NULL);
    assert_non_null(strstr(s, "data-firing=\"5\""));
    assert_non_null(strstr(s, ">5 aktive alarmer</a>, heraf 1 kritisk."));
    free(s);
    in.nalerts = 0;
    s = render("/", "en", NULL);
    assert_non_null(strstr(s, "data-firing=\"0\">✓ No alerts firing."));
    free(s);
}

static int
setup(void **state)
{
    (void)state;
    return psy_tz_set("Europe/Copenhagen");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_center), cmocka_unit_test(test_complete_region),
        cmocka_unit_test(test_state),           cmocka_unit_test(test_parse),
        cmocka_unit_test(test_overview),        cmocka_unit_test(test_center_kpi_pages),
        cmocka_unit_test(test_report),          cmocka_unit_test(test_csv_and_tables),
        cmocka_unit_test(test_alerts),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
