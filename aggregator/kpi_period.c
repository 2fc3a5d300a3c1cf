/*
 * Calendar periods of the KPI engine: names, bounds and lists.
 *
 * Bounds are civil month starts in the zone installed by psy_tz_set(), so a
 * month holds 743, 744 or 745 hours around the clock changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kpi.h"

/* A month as a single number, so that arithmetic across years is plain addition. */
static int
month_index(int y, int m)
{
    return y * 12 + (m - 1);
}

/* The start of month index `mi`, normalised here rather than trusting mktime() with it. */
static psy_time_t
month_start(int mi)
{
    int y = mi >= 0 ? mi / 12 : -((-mi + 11) / 12);
    int m = mi - y * 12 + 1;

    return psy_civil_start(y, m, 1);
}

void
kpi_period_name(const kpi_period_t *p, char *buf, size_t size)
{
    switch (p->kind) {
    case KPI_MONTH:
        snprintf(buf, size, "%04d-%02d", p->year, p->month);
        break;
    case KPI_QUARTER:
        snprintf(buf, size, "%04d-Q%d", p->year, (p->month - 1) / 3 + 1);
        break;
    case KPI_YEAR:
        snprintf(buf, size, "%04d", p->year);
        break;
    case KPI_R12:
        snprintf(buf, size, "r12:%04d-%02d", p->year, p->month);
        break;
    default:
        snprintf(buf, size, "?");
        break;
    }
}

/* The first and one-past-last month index of p. */
static void
period_months(const kpi_period_t *p, int *ret_first, int *ret_end)
{
    int mi = month_index(p->year, p->month);

    switch (p->kind) {
    case KPI_QUARTER:
        *ret_first = mi;
        *ret_end = mi + 3;
        break;
    case KPI_YEAR:
        *ret_first = month_index(p->year, 1);
        *ret_end = *ret_first + 12;
        break;
    case KPI_R12:
        *ret_first = mi - 11;
        *ret_end = mi + 1;
        break;
    case KPI_MONTH:
    default:
        *ret_first = mi;
        *ret_end = mi + 1;
        break;
    }
}

void
kpi_period_bounds(const kpi_period_t *p, psy_time_t *ret_start, psy_time_t *ret_end)
{
    int first, end;

    period_months(p, &first, &end);
    *ret_start = month_start(first);
    *ret_end = month_start(end);
}

int
kpi_period_list(kpi_period_kind_t kind, int from_y, int from_m, int to_y, int to_m,
                kpi_period_t **ret, size_t *ret_n)
{
    int step, from, to;
    size_t n;
    kpi_period_t *v;

    if (from_m < 1 || from_m > 12 || to_m < 1 || to_m > 12 || from_y < 1 || from_y > 9999 ||
        to_y < 1 || to_y > 9999)
        return -EINVAL;
    from = month_index(from_y, from_m);
    to = month_index(to_y, to_m);
    if (to < from)
        return -EINVAL;
    switch (kind) {
    case KPI_MONTH:
    case KPI_R12:
        step = 1;
        break;
    case KPI_QUARTER:
        step = 3;
        from -= from % 3;
        to -= to % 3;
        break;
    case KPI_YEAR:
        step = 12;
        from -= from % 12;
        to -= to % 12;
        break;
    default:
        return -EINVAL;
    }
    n = (size_t)((to - from) / step + 1);
    if (n > PSY_HTTP_PERIODS_MAX)
        return -EINVAL;
    v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int mi = from + (int)i * step;

        v[i].kind = kind;
        v[i].year = mi / 12;
        v[i].month = mi % 12 + 1;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
