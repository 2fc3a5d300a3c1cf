/*
 * svg: the SPC chart, its small multiple, the r12 rate chart and the MDC
 * icons, checked by structure: how many points and marks, which labels,
 * the text alternative, no NaN, and the same bytes for the same input.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svg.h"

static size_t
count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

typedef int (*render_fn)(FILE *f, const void *c);

static char *
render_spc(const svg_spc_t *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(svg_spc_chart(f, c), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static char *
render_r12(const svg_r12_t *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(svg_r12_chart(f, c), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Well-formed enough: balanced groups, one svg, no non-finite numbers. */
static void
check_sane(const char *s)
{
    assert_int_equal(count(s, "<svg "), 1);
    assert_int_equal(count(s, "</svg>"), 1);
    assert_int_equal(count(s, "<g "), count(s, "</g>"));
    assert_int_equal(count(s, "<title"), count(s, "</title>"));
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    assert_null(strstr(s, "NaN"));
}

/* 36 months from 2021-01: 24 baseline, two sigma signals, one empty, two provisional. */
static svg_spc_point_t pts[36];

static void
make_points(void)
{
    memset(pts, 0, sizeof(pts));
    for (int i = 0; i < 36; i++) {
        svg_spc_point_t *p = &pts[i];
        p->year = 2021 + i / 12;
        p->month = 1 + i % 12;
        p->has_y = true;
        p->y = 20 + (i % 5) - 2;
        p->has_cl = p->has_lcl = p->has_ucl = true;
        p->cl = 20;
        p->lcl = 20 - 3 * sqrt(20.0) - (i % 2) * 0.5; /* step limits */
        p->ucl = 20 + 3 * sqrt(20.0) + (i % 2) * 0.5;
        p->baseline = i < 24;
        p->has_target = i >= 24;
        p->target = 18;
    }
    pts[10].y = 40;
    pts[10].sigma_signal = true;
    pts[30].y = 2;
    pts[30].sigma_signal = true;
    pts[20].has_y = false;
    pts[21].y = NAN; /* not finite: treated as empty */
    pts[34].provisional = pts[35].provisional = true;
}

static void
test_spc_structure(void **state)
{
    svg_spc_t c = {.title = "Bæltefikseringer, Region <test> & co",
                   .unit = "",
                   .lang = L10N_DA,
                   .decimals = 0,
                   .points = pts,
                   .npoints = 36,
                   .runs_signal = true,
                   .id = "spc1"};
    char *s, *again;

    (void)state;
    make_points();
    s = render_spc(&c);
    check_sane(s);
    /* 36 months less the two empty ones are drawn as points. */
    assert_int_equal(count(s, "<g class=\"pt"), 34);
    assert_int_equal(count(s, "<g class=\"pt sig"), 2);
    assert_int_equal(count(s, " prov\" data-period"), 2);
    assert_int_equal(count(s, "data-period=\"2021-11\""), 1);
    assert_int_equal(count(s, "data-period=\"2022-09\""), 0);
    /* Sigma signals are diamonds (paths), the other points circles. */
    assert_int_equal(count(s, "<circle"), 32);
    /* Labels in words, not colour alone. */
    assert_non_null(strstr(s, ">foreløbig</text>"));
    assert_non_null(strstr(s, ">Baseline</text>"));
    assert_non_null(strstr(s, "CL seriesignal"));
    assert_non_null(strstr(s, "class=\"cl runs\""));
    assert_non_null(strstr(s, ">Mål 18</text>"));
    assert_non_null(strstr(s, "ØKG"));
    assert_non_null(strstr(s, "NKG"));
    /* Month names in Danish, the title escaped, the text alternative present. */
    assert_non_null(strstr(s, ">jan.</text>") ? strstr(s, ">jan.</text>") : strstr(s, ">2021<"));
    assert_non_null(
        strstr(s, "<title id=\"spc1-t\">Bæltefikseringer, Region &lt;test&gt; &amp; co"));
    assert_non_null(strstr(s, "<desc id=\"spc1-d\">36 måneder, januar 2021 til december 2023."));
    assert_non_null(strstr(s, "2 punkter uden for kontrolgrænserne"));
    assert_non_null(strstr(s, "Seriesignal"));
    assert_non_null(strstr(s, "aria-labelledby=\"spc1-t spc1-d\""));
    /* One baseline band: months 0-19 and 20-23 are baseline but the band is continuous. */
    assert_int_equal(count(s, "<rect class=\"baseline\""), 1);
    /* The data line breaks at the empty months: two paths. */
    assert_int_equal(count(s, "<path class=\"line\""), 2);
    /* Deterministic. */
    again = render_spc(&c);
    assert_string_equal(s, again);
    free(again);
    free(s);

    /* English, no runs signal. */
    c.lang = L10N_EN;
    c.runs_signal = false;
    s = render_spc(&c);
    check_sane(s);
    assert_non_null(strstr(s, ">provisional</text>"));
    assert_null(strstr(s, "CL runs signal"));
    assert_non_null(strstr(s, "class=\"cl\""));
    assert_non_null(strstr(s, "UCL"));
    assert_non_null(strstr(s, "36 months, January 2021 to December 2023."));
    assert_null(strstr(s, "foreløbig"));
    free(s);
}

static void
test_spc_incomplete_and_empty(void **state)
{
    svg_spc_point_t p[3] = {
        {.year = 2025, .month = 11, .has_y = true, .y = 1},
        {.year = 2025, .month = 12, .has_y = true, .y = 0, .incomplete = true},
        {.year = 2026, .month = 1, .has_y = false},
    };
    svg_spc_t c = {.title = "x", .lang = L10N_DA, .points = p, .npoints = 3};
    char *s;

    (void)state;
    s = render_spc(&c);
    check_sane(s);
    assert_int_equal(count(s, "<g class=\"pt inc\""), 1);
    assert_non_null(strstr(s, ">ufuldstændig</text>"));
    assert_non_null(strstr(s, "Nogle måneder har ufuldstændige data."));
    /* A count (decimals 0) that never exceeds 1: no "0,5" tick. */
    assert_null(strstr(s, ">0,5</text>"));
    free(s);
    c.decimals = 1;
    s = render_spc(&c);
    assert_non_null(strstr(s, ">0,5</text>"));
    free(s);

    /* Nothing to draw: the chart says so. */
    c.npoints = 0;
    s = render_spc(&c);
    check_sane(s);
    assert_non_null(strstr(s, "Ingen data"));
    assert_int_equal(count(s, "<g class=\"pt"), 0);
    free(s);
    assert_int_equal(svg_spc_chart(NULL, &c), -EINVAL);
}

static void
test_small_multiples_share_scale(void **state)
{
    svg_spc_point_t a[2] = {{.year = 2024, .month = 1, .has_y = true, .y = 3},
                            {.year = 2024, .month = 2, .has_y = true, .y = 4}};
    svg_spc_point_t b[2] = {{.year = 2024, .month = 1, .has_y = true, .y = 300},
                            {.year = 2024, .month = 2, .has_y = true, .y = 250}};
    svg_spc_t ca = {.title = "a", .points = a, .npoints = 2, .small = true, .id = "a"};
    svg_spc_t cb = {.title = "b", .points = b, .npoints = 2, .small = true, .id = "b"};
    double lo, hi, lo2, hi2;
    char *sa, *sb, *ta, *tb;

    (void)state;
    assert_true(svg_spc_range(&ca, &lo, &hi));
    assert_true(svg_spc_range(&cb, &lo2, &hi2));
    assert_true(lo == 0 && lo2 == 0);
    assert_true(hi < hi2 && hi2 >= 300);
    ca.ymin = cb.ymin = 0;
    ca.ymax = cb.ymax = hi2;
    sa = render_spc(&ca);
    sb = render_spc(&cb);
    check_sane(sa);
    assert_non_null(strstr(sa, "viewBox=\"0 0 340 170\""));
    /* Same scale: the same y tick labels, from the axis group up to the first point. */
    ta = strstr(sa, "<g class=\"axis\">");
    tb = strstr(sb, "<g class=\"axis\">");
    assert_non_null(ta);
    assert_non_null(tb);
    assert_memory_equal(ta, tb, (size_t)(strstr(ta, "</g>") - ta));
    assert_non_null(strstr(sa, ">200</text>"));
    free(sa);
    free(sb);
}

static void
test_r12(void **state)
{
    svg_r12_point_t p[48];
    svg_r12_t c = {.title = "Indgribende tvang pr. 100.000",
                   .lang = L10N_DA,
                   .points = p,
                   .npoints = 48,
                   .has_baseline = true,
                   .baseline = 100,
                   .baseline_label = "2021–2023",
                   .target_pct = 30,
                   .first_year = 2024,
                   .first_month = 1,
                   .last_year = 2030,
                   .last_month = 12,
                   .id = "r"};
    char *s;

    (void)state;
    memset(p, 0, sizeof(p));
    for (int i = 0; i < 48; i++) {
        p[i].year = 2022 + i / 12;
        p[i].month = 1 + i % 12;
        p[i].has_rate = true;
        /* A window before the first data would show a ramp: it is incomplete. */
        p[i].rate = i < 11 ? 9.0 * i : 100 - i * 0.5;
        p[i].incomplete = i < 11;
    }
    p[47].provisional = true;
    s = render_r12(&c);
    check_sane(s);
    assert_non_null(strstr(s, "<rect class=\"incomplete\""));
    assert_non_null(strstr(s, ">ufuldstændige data</text>"));
    assert_null(strstr(s, "data-period=\"r12:2022-06\""));
    /* Year ends 2022-12 .. 2025-12 (4), and the latest (provisional) point. */
    assert_int_equal(count(s, "<g class=\"pt"), 4);
    assert_int_equal(count(s, "<g class=\"pt prov\""), 1);
    assert_non_null(strstr(s, "<path class=\"trajectory\""));
    assert_non_null(strstr(s, ">Mål 2030: 70,0</text>"));
    assert_non_null(strstr(s, "Baseline 2021–2023"));
    assert_non_null(strstr(s, ">2030</text>"));
    assert_non_null(strstr(s, "Perioder med ufuldstændige data er ikke tegnet."));
    assert_int_equal(count(s, "<path class=\"line\""), 1);
    free(s);

    c.has_baseline = false;
    c.npoints = 0;
    s = render_r12(&c);
    check_sane(s);
    assert_non_null(strstr(s, "Ingen data"));
    free(s);
}

static char *
render_icon(int which, l10n_lang_t lang, const char *a, const char *b)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    if (which == 0)
        assert_int_equal(svg_icon_variation(f, lang, a, b), 0);
    else
        assert_int_equal(svg_icon_assurance(f, lang, a), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void
test_icons(void **state)
{
    static const struct {
        int which;
        l10n_lang_t lang;
        const char *a, *b;
        const char *cls, *label, *glyph;
    } cases[] = {
        {0, L10N_DA, "high", "concern", "var-concern var-high", "høj bekymring", ">H<"},
        {0, L10N_DA, "low", "improvement", "var-improvement var-low", "lav forbedring", ">L<"},
        {0, L10N_EN, "high", "improvement", "var-improvement var-high", "high improvement", ">H<"},
        {0, L10N_DA, "low", "neutral", "var-neutral var-low", "lav særlig", ">L<"},
        {0, L10N_DA, "common", "common", "var-common", "almindelig", "C11 11"},
        {0, L10N_EN, NULL, NULL, "var-none", "none", "M10 16H22"},
        {1, L10N_DA, "pass", NULL, "ass-pass", "når målet", "M9 16.5"},
        {1, L10N_DA, "fail", NULL, "ass-fail", "når ikke målet", "M10.5 10.5"},
        {1, L10N_EN, "hit_and_miss", NULL, "ass-hitmiss", "hit and miss", "M8 20H13"},
        {1, L10N_DA, "", NULL, "ass-none", "intet mål", "M10 16H22"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = render_icon(cases[i].which, cases[i].lang, cases[i].a, cases[i].b);
        char want[128];

        check_sane(s);
        snprintf(want, sizeof(want), "class=\"icon %s\"", cases[i].cls);
        if (!strstr(s, want))
            fail_msg("case %zu: no %s in %s", i, want, s);
        snprintf(want, sizeof(want), "<span class=\"icon-label\">%s</span>", cases[i].label);
        if (!strstr(s, want))
            fail_msg("case %zu: no %s in %s", i, want, s);
        if (!strstr(s, cases[i].glyph))
            fail_msg("case %zu: no glyph %s", i, cases[i].glyph);
        assert_non_null(strstr(s, "<title>"));
        assert_non_null(strstr(s, "aria-label=\""));
        free(s);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spc_structure),
        cmocka_unit_test(test_spc_incomplete_and_empty),
        cmocka_unit_test(test_small_multiples_share_scale),
        cmocka_unit_test(test_r12),
        cmocka_unit_test(test_icons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
