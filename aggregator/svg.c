/* svg: server-rendered charts and icons. See svg.h. */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Geometry of a full chart and of a small multiple, in SVG user units. */
typedef struct {
    double w, h, left, right, top, bottom;
} svg_frame_t;

static const svg_frame_t svg_full = {720, 300, 60, 96, 22, 44};
static const svg_frame_t svg_small = {340, 170, 44, 52, 16, 30};

void
svg_escape(FILE *f, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static bool
svg_ok(bool has, double v)
{
    return has && isfinite(v);
}

/* A "nice" step (1, 2 or 5 times a power of ten) giving about n ticks over span. */
static double
svg_nice_step(double span, int n)
{
    double raw = span / n, mag, f;

    if (!(raw > 0) || !isfinite(raw))
        return 1;
    mag = pow(10, floor(log10(raw)));
    f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Decimals needed to print multiples of step exactly enough. */
static int
svg_step_decimals(double step)
{
    int d = 0;

    while (d < 4 && fabs(step * pow(10, d) - round(step * pow(10, d))) > 1e-6)
        d++;
    return d;
}

typedef struct {
    svg_frame_t fr;
    double lo, hi;
    size_t n;
} svg_scale_t;

static double
svg_x(const svg_scale_t *s, double i)
{
    double pw = s->fr.w - s->fr.left - s->fr.right;

    return s->fr.left + (i + 0.5) * pw / (double)(s->n ? s->n : 1);
}

static double
svg_dx(const svg_scale_t *s)
{
    return (s->fr.w - s->fr.left - s->fr.right) / (double)(s->n ? s->n : 1);
}

static double
svg_y(const svg_scale_t *s, double v)
{
    double ph = s->fr.h - s->fr.top - s->fr.bottom;
    double t = s->hi > s->lo ? (v - s->lo) / (s->hi - s->lo) : 0.5;

    if (t < -0.05)
        t = -0.05;
    if (t > 1.05)
        t = 1.05;
    return s->fr.h - s->fr.bottom - t * ph;
}

/* Horizontal grid lines and y labels, from lo to hi in nice steps. */
static void
svg_yaxis(FILE *f, const svg_scale_t *s, l10n_lang_t lang, int ticks, bool whole)
{
    double step = svg_nice_step(s->hi - s->lo, ticks);

    /* Counts have no half episodes: whole-number ticks only. */
    if (whole && step < 1)
        step = 1;
    int dec = svg_step_decimals(step);
    char num[48];

    fputs("<g class=\"axis\">", f);
    for (double v = ceil(s->lo / step - 1e-9) * step; v <= s->hi + step * 1e-6; v += step) {
        double y = svg_y(s, v);
        l10n_number(lang, fabs(v) < step * 1e-9 ? 0 : v, dec, num, sizeof(num));
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                s->fr.left, y, s->fr.w - s->fr.right, y);
        fprintf(f, "<text class=\"ytick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                s->fr.left - 4, y + 4, num);
    }
    fputs("</g>\n", f);
}

static bool
svg_spc_extend(double *lo, double *hi, bool has, double v, bool *any)
{
    if (!svg_ok(has, v))
        return false;
    if (!*any || v < *lo)
        *lo = v;
    if (!*any || v > *hi)
        *hi = v;
    *any = true;
    return true;
}

bool
svg_spc_range(const svg_spc_t *c, double *ret_lo, double *ret_hi)
{
    double lo = 0, hi = 0;
    bool any = false, data = false;

    if (!c)
        return false;
    for (size_t i = 0; i < c->npoints; i++) {
        const svg_spc_point_t *p = &c->points[i];
        data |= svg_spc_extend(&lo, &hi, p->has_y, p->y, &any);
        svg_spc_extend(&lo, &hi, p->has_cl, p->cl, &any);
        svg_spc_extend(&lo, &hi, p->has_lcl, p->lcl, &any);
        svg_spc_extend(&lo, &hi, p->has_ucl, p->ucl, &any);
        svg_spc_extend(&lo, &hi, p->has_target, p->target, &any);
    }
    if (!data)
        return false;
    /* Counts, rates and shares are never negative: start at 0 so that sizes compare. */
    if (lo > 0)
        lo = 0;
    if (hi <= lo)
        hi = lo + 1;
    *ret_lo = lo;
    *ret_hi = hi + (hi - lo) * 0.05;
    return true;
}

/* A step line through the per-point values of one field; breaks where it is empty. */
static void
svg_step(FILE *f, const svg_scale_t *s, const svg_spc_t *c, size_t off_has, size_t off_v,
         const char *cls)
{
    bool open = false;
    double half = svg_dx(s) / 2;

    for (size_t i = 0; i < c->npoints; i++) {
        const char *p = (const char *)&c->points[i];
        bool has = *(const bool *)(p + off_has);
        double v = *(const double *)(p + off_v);

        if (!svg_ok(has, v)) {
            if (open)
                fputs("\"/>", f);
            open = false;
            continue;
        }
        if (!open)
            fprintf(f, "<path class=\"%s\" d=\"M%.1f %.1f", cls, svg_x(s, (double)i) - half,
                    svg_y(s, v));
        else
            fprintf(f, "V%.1f", svg_y(s, v));
        fprintf(f, "H%.1f", svg_x(s, (double)i) + half);
        open = true;
    }
    if (open)
        fputs("\"/>", f);
    fputc('\n', f);
}

/* The last point with a value of a field, for the label at the right end. */
static bool
svg_last(const svg_spc_t *c, size_t off_has, size_t off_v, double *ret)
{
    for (size_t i = c->npoints; i-- > 0;) {
        const char *p = (const char *)&c->points[i];
        if (svg_ok(*(const bool *)(p + off_has), *(const double *)(p + off_v))) {
            *ret = *(const double *)(p + off_v);
            return true;
        }
    }
    return false;
}

static void
svg_right_label(FILE *f, const svg_scale_t *s, double v, const char *cls, const char *word,
                l10n_lang_t lang, int decimals, bool small)
{
    char num[48];

    l10n_number(lang, v, decimals, num, sizeof(num));
    fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">", cls, s->fr.w - s->fr.right + 4,
            svg_y(s, v) + 4);
    svg_escape(f, word);
    if (!small)
        fprintf(f, " %s", num);
    fputs("</text>\n", f);
}

/* Month labels: every January with its year; on short series every second or third month. */
static void
svg_xaxis(FILE *f, const svg_scale_t *s, const svg_spc_point_t *pts, size_t n, l10n_lang_t lang,
          bool small)
{
    size_t every = n <= 13 ? 1 : n <= 25 ? 3 : 0;
    double yb = s->fr.h - s->fr.bottom;

    fputs("<g class=\"axis\">", f);
    fprintf(f, "<line class=\"base\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", s->fr.left,
            yb, s->fr.w - s->fr.right, yb);
    for (size_t i = 0; i < n; i++) {
        bool year = pts[i].month == 1 || i == 0;
        if (!small && every && i % every == 0)
            fprintf(f,
                    "<text class=\"xtick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                    svg_x(s, (double)i), yb + 14, l10n_month_short(lang, pts[i].month));
        if (year && (i == 0 || n - i > (small ? 6u : 3u)))
            fprintf(f, "<text class=\"xyear\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%d</text>",
                    svg_x(s, (double)i) - svg_dx(s) / 2, yb + (small ? 14 : 30),
                    i == 0 ? "start" : "middle", pts[i].year);
        if (pts[i].month == 1 && i > 0)
            fprintf(f, "<line class=\"yearline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                    svg_x(s, (double)i) - svg_dx(s) / 2, s->fr.top,
                    svg_x(s, (double)i) - svg_dx(s) / 2, yb + 4);
    }
    fputs("</g>\n", f);
}

static void
svg_open(FILE *f, const char *cls, const char *id, const svg_frame_t *fr, const char *title,
         const char *desc)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\" viewBox=\"0 0 %.0f %.0f\" "
            "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-labelledby=\"",
            cls, fr->w, fr->h, fr->w, fr->h);
    svg_escape(f, id);
    fputs("-t ", f);
    svg_escape(f, id);
    fputs("-d\"><title id=\"", f);
    svg_escape(f, id);
    fputs("-t\">", f);
    svg_escape(f, title);
    fputs("</title><desc id=\"", f);
    svg_escape(f, id);
    fputs("-d\">", f);
    svg_escape(f, desc);
    fputs("</desc>\n", f);
}

/* The text alternative: what a reader of the chart would say about it. */
static void
svg_spc_desc(const svg_spc_t *c, char *buf, size_t size)
{
    const svg_spc_point_t *first = c->npoints ? &c->points[0] : NULL;
    const svg_spc_point_t *last = c->npoints ? &c->points[c->npoints - 1] : NULL;
    const svg_spc_point_t *latest = NULL;
    size_t nsig = 0, nprov = 0, ninc = 0;
    char a[32], b[32], v[48], cl[48], o[96] = "";
    l10n_lang_t lang = c->lang;
    int n;

    if (!first) {
        snprintf(buf, size, "%s", TR(lang, "Ingen data.", "No data."));
        return;
    }
    for (size_t i = 0; i < c->npoints; i++) {
        const svg_spc_point_t *p = &c->points[i];
        nsig += p->sigma_signal;
        nprov += p->provisional;
        ninc += p->incomplete;
        if (svg_ok(p->has_y, p->y))
            latest = p;
    }
    l10n_month_year(lang, first->year, first->month, a, sizeof(a));
    l10n_month_year(lang, last->year, last->month, b, sizeof(b));
    n = snprintf(buf, size, TR(lang, "%zu måneder, %s til %s. ", "%zu months, %s to %s. "),
                 c->npoints, a, b);
    if (n < 0 || (size_t)n >= size)
        return;
    if (latest) {
        l10n_number(lang, latest->y, c->decimals, v, sizeof(v));
        l10n_month_year(lang, latest->year, latest->month, a, sizeof(a));
        n += snprintf(buf + n, size - (size_t)n,
                      TR(lang, "Seneste værdi %s %s (%s). ", "Latest value %s %s (%s). "), v,
                      c->unit ? c->unit : "", a);
    }
    if (latest && svg_ok(latest->has_cl, latest->cl)) {
        l10n_number(lang, latest->cl, c->decimals, cl, sizeof(cl));
        snprintf(o, sizeof(o), TR(lang, "Centerlinje %s. ", "Centre line %s. "), cl);
    }
    if ((size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n,
                      TR(lang, "%s%zu punkter uden for kontrolgrænserne. %s%s%s",
                         "%s%zu points outside the control limits. %s%s%s"),
                      o, nsig,
                      c->runs_signal
                          ? TR(lang, "Seriesignal: usædvanligt lange serier eller få krydsninger. ",
                               "Runs signal: unusually long runs or few crossings. ")
                          : TR(lang, "Intet seriesignal. ", "No runs signal. "),
                      nprov ? TR(lang, "De seneste punkter er foreløbige. ",
                                 "The latest points are provisional. ")
                            : "",
                      ninc ? TR(lang, "Nogle måneder har ufuldstændige data.",
                                "Some months have incomplete data.")
                           : "");
}

int
svg_spc_chart(FILE *f, const svg_spc_t *c)
{
    svg_scale_t s;
    const char *id;
    char desc[768], num[48], lbl[96];
    bool open = false, labelled_base = false, labelled_prov = false, labelled_inc = false;
    double v;

    if (!f || !c || (c->npoints && !c->points))
        return -EINVAL;
    id = c->id ? c->id : "c";
    s.fr = c->small ? svg_small : svg_full;
    s.n = c->npoints;
    svg_spc_desc(c, desc, sizeof(desc));
    svg_open(f, c->small ? "spc small" : "spc", id, &s.fr, c->title, desc);
    if (c->ymax > c->ymin && isfinite(c->ymin) && isfinite(c->ymax)) {
        s.lo = c->ymin;
        s.hi = c->ymax;
    } else if (!svg_spc_range(c, &s.lo, &s.hi)) {
        fprintf(f, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                s.fr.w / 2, s.fr.h / 2, TR(c->lang, "Ingen data", "No data"));
        fputs("</svg>\n", f);
        return ferror(f) ? -EIO : 0;
    }

    /* The baseline period, shaded, labelled once. */
    for (size_t i = 0; i < c->npoints;) {
        size_t j = i;
        if (!c->points[i].baseline) {
            i++;
            continue;
        }
        while (j < c->npoints && c->points[j].baseline)
            j++;
        fprintf(f,
                "<rect class=\"baseline\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
                svg_x(&s, (double)i) - svg_dx(&s) / 2, s.fr.top, svg_dx(&s) * (double)(j - i),
                s.fr.h - s.fr.top - s.fr.bottom);
        if (!labelled_base)
            fprintf(f, "<text class=\"baseline-label\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                    svg_x(&s, (double)i) - svg_dx(&s) / 2 + 3, s.fr.top + 11,
                    TR(c->lang, "Baseline", "Baseline"));
        labelled_base = true;
        i = j;
    }
    svg_yaxis(f, &s, c->lang, c->small ? 3 : 5, c->decimals == 0);
    svg_xaxis(f, &s, c->points, c->npoints, c->lang, c->small);

    svg_step(f, &s, c, offsetof(svg_spc_point_t, has_lcl), offsetof(svg_spc_point_t, lcl),
             "limit lcl");
    svg_step(f, &s, c, offsetof(svg_spc_point_t, has_ucl), offsetof(svg_spc_point_t, ucl),
             "limit ucl");
    svg_step(f, &s, c, offsetof(svg_spc_point_t, has_target), offsetof(svg_spc_point_t, target),
             "target");
    svg_step(f, &s, c, offsetof(svg_spc_point_t, has_cl), offsetof(svg_spc_point_t, cl),
             c->runs_signal ? "cl runs" : "cl");
    if (svg_last(c, offsetof(svg_spc_point_t, has_ucl), offsetof(svg_spc_point_t, ucl), &v))
        svg_right_label(f, &s, v, "limit-label", TR(c->lang, "ØKG", "UCL"), c->lang, c->decimals,
                        c->small);
    if (svg_last(c, offsetof(svg_spc_point_t, has_lcl), offsetof(svg_spc_point_t, lcl), &v))
        svg_right_label(f, &s, v, "limit-label", TR(c->lang, "NKG", "LCL"), c->lang, c->decimals,
                        c->small);
    if (svg_last(c, offsetof(svg_spc_point_t, has_target), offsetof(svg_spc_point_t, target), &v))
        svg_right_label(f, &s, v, "target-label", TR(c->lang, "Mål", "Target"), c->lang,
                        c->decimals, c->small);
    if (svg_last(c, offsetof(svg_spc_point_t, has_cl), offsetof(svg_spc_point_t, cl), &v)) {
        /* The runs signal in words too: colour and dashes are not the only sign. */
        snprintf(lbl, sizeof(lbl), "%s%s", TR(c->lang, "CL", "CL"),
                 c->runs_signal ? TR(c->lang, " seriesignal", " runs signal") : "");
        svg_right_label(f, &s, v, c->runs_signal ? "cl-label runs-label" : "cl-label", lbl, c->lang,
                        c->decimals, c->small);
    }

    /* The data line, broken at empty months. */
    for (size_t i = 0; i < c->npoints; i++) {
        const svg_spc_point_t *p = &c->points[i];
        if (!svg_ok(p->has_y, p->y)) {
            if (open)
                fputs("\"/>", f);
            open = false;
            continue;
        }
        fprintf(f, open ? "L%.1f %.1f" : "<path class=\"line\" d=\"M%.1f %.1f",
                svg_x(&s, (double)i), svg_y(&s, p->y));
        open = true;
    }
    if (open)
        fputs("\"/>", f);
    fputc('\n', f);

    /* The points: a circle; a diamond for a sigma signal; hollow when provisional; a hollow
     * square when the month's data are incomplete. */
    for (size_t i = 0; i < c->npoints; i++) {
        const svg_spc_point_t *p = &c->points[i];
        double x = svg_x(&s, (double)i), y, r = c->small ? 2.5 : 3.5;
        char when[32];

        if (!svg_ok(p->has_y, p->y))
            continue;
        y = svg_y(&s, p->y);
        l10n_number(c->lang, p->y, c->decimals, num, sizeof(num));
        l10n_month_year(c->lang, p->year, p->month, when, sizeof(when));
        fprintf(f, "<g class=\"pt%s%s%s\" data-period=\"%04d-%02d\"><title>%s: %s%s%s%s</title>",
                p->sigma_signal ? " sig" : "", p->provisional ? " prov" : "",
                p->incomplete ? " inc" : "", p->year, p->month, when, num,
                p->sigma_signal ? TR(c->lang, ", uden for kontrolgrænserne", ", outside the limits")
                                : "",
                p->provisional ? TR(c->lang, ", foreløbig", ", provisional") : "",
                p->incomplete ? TR(c->lang, ", ufuldstændige data", ", incomplete data") : "");
        if (p->incomplete)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", x - r, y - r,
                    2 * r, 2 * r);
        else if (p->sigma_signal)
            fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\"/>", x, y - r * 1.6,
                    x + r * 1.6, y, x, y + r * 1.6, x - r * 1.6, y);
        else
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>", x, y, r);
        fputs("</g>", f);
        if (p->provisional && !labelled_prov) {
            fprintf(
                f, "<text class=\"prov-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                x, y - 9, TR(c->lang, "foreløbig", "provisional"));
            labelled_prov = true;
        }
        if (p->incomplete && !labelled_inc) {
            fprintf(f,
                    "<text class=\"inc-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                    x, y + 16, TR(c->lang, "ufuldstændig", "incomplete"));
            labelled_inc = true;
        }
    }
    fputs("\n</svg>\n", f);
    return ferror(f) ? -EIO : 0;
}

/* Months since year 0 of y-m, for the x axis of the rate chart. */
static long
svg_mi(int y, int m)
{
    return (long)y * 12 + (m - 1);
}

int
svg_r12_chart(FILE *f, const svg_r12_t *c)
{
    svg_frame_t fr = svg_full;
    svg_scale_t s;
    const char *id;
    long m0, m1;
    double hi = 0, pw, goal = 0, b0x, b1x;
    char desc[512], num[48], a[32];
    bool open = false, any = false, labelled_prov = false;
    const svg_r12_point_t *latest = NULL;
    size_t ninc = 0;

    if (!f || !c || (c->npoints && !c->points))
        return -EINVAL;
    id = c->id ? c->id : "r";
    fr.right = 130;
    for (size_t i = 0; i < c->npoints; i++) {
        const svg_r12_point_t *p = &c->points[i];
        ninc += p->incomplete;
        if (!p->incomplete && svg_ok(p->has_rate, p->rate)) {
            latest = p;
            any = true;
            if (p->rate > hi)
                hi = p->rate;
        }
    }
    if (svg_ok(c->has_baseline, c->baseline) && c->baseline > hi)
        hi = c->baseline;
    if (svg_ok(c->has_baseline, c->baseline))
        goal = c->baseline * (1 - c->target_pct / 100);

    /* Text alternative. */
    {
        int n = 0;
        desc[0] = '\0';
        if (latest) {
            l10n_number(c->lang, latest->rate, 1, num, sizeof(num));
            l10n_month_year(c->lang, latest->year, latest->month, a, sizeof(a));
            n = snprintf(desc, sizeof(desc),
                         TR(c->lang, "Seneste 12 måneder til %s: %s pr. 100.000 borgere. ",
                            "Twelve months to %s: %s per 100,000 citizens. "),
                         a, num);
        } else {
            n = snprintf(desc, sizeof(desc), "%s ", TR(c->lang, "Ingen data.", "No data."));
        }
        if (n >= 0 && (size_t)n < sizeof(desc) && svg_ok(c->has_baseline, c->baseline)) {
            char g[48];
            l10n_number(c->lang, c->baseline, 1, num, sizeof(num));
            l10n_number(c->lang, goal, 1, g, sizeof(g));
            l10n_month_year(c->lang, c->last_year, c->last_month, a, sizeof(a));
            n += snprintf(desc + n, sizeof(desc) - (size_t)n,
                          TR(c->lang, "Baseline %s; målet er %s i %s. ",
                             "Baseline %s; the target is %s by %s. "),
                          num, g, a);
        } else if (n >= 0 && (size_t)n < sizeof(desc)) {
            n += snprintf(desc + n, sizeof(desc) - (size_t)n, "%s",
                          TR(c->lang, "Ingen baseline. ", "No baseline. "));
        }
        if (ninc && n >= 0 && (size_t)n < sizeof(desc))
            snprintf(desc + n, sizeof(desc) - (size_t)n, "%s",
                     TR(c->lang, "Perioder med ufuldstændige data er ikke tegnet.",
                        "Periods with incomplete data are not drawn."));
    }
    svg_open(f, "rate", id, &fr, c->title, desc);
    if (!any && !svg_ok(c->has_baseline, c->baseline)) {
        fprintf(f, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                fr.w / 2, fr.h / 2, TR(c->lang, "Ingen data", "No data"));
        fputs("</svg>\n", f);
        return ferror(f) ? -EIO : 0;
    }
    m0 = c->npoints ? svg_mi(c->points[0].year, c->points[0].month)
                    : svg_mi(c->first_year, c->first_month) - 12;
    m1 = svg_mi(c->last_year, c->last_month);
    if (c->npoints && svg_mi(c->points[c->npoints - 1].year, c->points[c->npoints - 1].month) > m1)
        m1 = svg_mi(c->points[c->npoints - 1].year, c->points[c->npoints - 1].month);
    if (m1 <= m0)
        m1 = m0 + 1;
    s.fr = fr;
    s.lo = 0;
    s.hi = (hi > 0 ? hi : 1) * 1.1;
    /* One slot per month from m0 through m1. */
    s.n = (size_t)(m1 - m0 + 1);
    pw = fr.w - fr.left - fr.right;
    (void)pw;

    /* Incomplete periods: shaded, never drawn as a ramp. */
    for (size_t i = 0; i < c->npoints;) {
        size_t j = i;
        if (!c->points[i].incomplete) {
            i++;
            continue;
        }
        while (j < c->npoints && c->points[j].incomplete)
            j++;
        b0x = svg_x(&s, (double)(svg_mi(c->points[i].year, c->points[i].month) - m0)) -
              svg_dx(&s) / 2;
        b1x = svg_x(&s, (double)(svg_mi(c->points[j - 1].year, c->points[j - 1].month) - m0)) +
              svg_dx(&s) / 2;
        fprintf(f,
                "<rect class=\"incomplete\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%.1f\"/><text class=\"inc-label\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                b0x, fr.top, b1x - b0x, fr.h - fr.top - fr.bottom, b0x + 3, fr.top + 11,
                TR(c->lang, "ufuldstændige data", "incomplete data"));
        i = j;
    }
    svg_yaxis(f, &s, c->lang, 5, false);
    /* Years on the x axis. */
    fputs("<g class=\"axis\">", f);
    fprintf(f, "<line class=\"base\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", fr.left,
            fr.h - fr.bottom, fr.w - fr.right, fr.h - fr.bottom);
    for (long m = m0; m <= m1; m++) {
        if (m % 12 != 0)
            continue;
        double x = svg_x(&s, (double)(m - m0)) - svg_dx(&s) / 2;
        fprintf(f, "<line class=\"yearline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x,
                fr.top, x, fr.h - fr.bottom + 4);
        if (m1 - m >= 6)
            fprintf(f, "<text class=\"xyear\" x=\"%.1f\" y=\"%.1f\">%ld</text>", x + 2,
                    fr.h - fr.bottom + 16, m / 12);
    }
    fputs("</g>\n", f);

    if (svg_ok(c->has_baseline, c->baseline)) {
        long t0 = svg_mi(c->first_year, c->first_month) - 1;
        double xs = svg_x(&s, (double)(t0 - m0)), xe = svg_x(&s, (double)(m1 - m0));
        char lbl[64];

        fprintf(f,
                "<line class=\"baseline-line\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                fr.left, svg_y(&s, c->baseline), fr.w - fr.right, svg_y(&s, c->baseline));
        l10n_number(c->lang, c->baseline, 1, num, sizeof(num));
        snprintf(lbl, sizeof(lbl), "Baseline%s%s", c->baseline_label ? " " : "",
                 c->baseline_label ? c->baseline_label : "");
        fprintf(f, "<text class=\"baseline-label\" x=\"%.1f\" y=\"%.1f\">", fr.w - fr.right + 4,
                svg_y(&s, c->baseline) - 2);
        svg_escape(f, lbl);
        fprintf(f, "</text><text class=\"baseline-label\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                fr.w - fr.right + 4, svg_y(&s, c->baseline) + 11, num);
        if (xs < fr.left)
            xs = fr.left;
        fprintf(f, "<path class=\"trajectory\" d=\"M%.1f %.1fL%.1f %.1f\"/>", xs,
                svg_y(&s, c->baseline), xe, svg_y(&s, goal));
        l10n_number(c->lang, goal, 1, num, sizeof(num));
        fprintf(f, "<text class=\"target-label\" x=\"%.1f\" y=\"%.1f\">%s %d: %s</text>\n",
                fr.w - fr.right + 4, svg_y(&s, goal) + 4, TR(c->lang, "Mål", "Target"),
                c->last_year, num);
    }

    for (size_t i = 0; i < c->npoints; i++) {
        const svg_r12_point_t *p = &c->points[i];
        if (p->incomplete || !svg_ok(p->has_rate, p->rate)) {
            if (open)
                fputs("\"/>", f);
            open = false;
            continue;
        }
        fprintf(f, open ? "L%.1f %.1f" : "<path class=\"line\" d=\"M%.1f %.1f",
                svg_x(&s, (double)(svg_mi(p->year, p->month) - m0)), svg_y(&s, p->rate));
        open = true;
    }
    if (open)
        fputs("\"/>", f);
    fputc('\n', f);
    for (size_t i = 0; i < c->npoints; i++) {
        const svg_r12_point_t *p = &c->points[i];
        double x, y;
        char when[32];

        if (p->incomplete || !svg_ok(p->has_rate, p->rate))
            continue;
        if (!p->provisional && i + 1 != c->npoints && p->month != 12)
            continue; /* a mark per year end, the latest and provisional periods */
        x = svg_x(&s, (double)(svg_mi(p->year, p->month) - m0));
        y = svg_y(&s, p->rate);
        l10n_number(c->lang, p->rate, 1, num, sizeof(num));
        l10n_month_year(c->lang, p->year, p->month, when, sizeof(when));
        fprintf(f,
                "<g class=\"pt%s\" data-period=\"r12:%04d-%02d\"><title>%s: %s%s</title>"
                "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"/></g>",
                p->provisional ? " prov" : "", p->year, p->month, when, num,
                p->provisional ? TR(c->lang, ", foreløbig", ", provisional") : "", x, y);
        if (p->provisional && !labelled_prov) {
            fprintf(
                f, "<text class=\"prov-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                x, y - 9, TR(c->lang, "foreløbig", "provisional"));
            labelled_prov = true;
        }
    }
    fputs("\n</svg>\n", f);
    return ferror(f) ? -EIO : 0;
}

static void
svg_icon_open(FILE *f, const char *cls, const char *title)
{
    fprintf(f,
            "<span class=\"icon %s\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 "
            "32\" width=\"28\" height=\"28\" role=\"img\" aria-label=\"",
            cls);
    svg_escape(f, title);
    fputs("\"><title>", f);
    svg_escape(f, title);
    fputs("</title><circle class=\"ring\" cx=\"16\" cy=\"16\" r=\"14\"/>", f);
}

static int
svg_icon_close(FILE *f, const char *label)
{
    fputs("</svg><span class=\"icon-label\">", f);
    svg_escape(f, label);
    fputs("</span></span>", f);
    return ferror(f) ? -EIO : 0;
}

int
svg_icon_variation(FILE *f, l10n_lang_t lang, const char *variation, const char *assessment)
{
    char title[128];
    const char *cls, *label;
    bool high, low;

    if (!f)
        return -EINVAL;
    high = variation && strcmp(variation, "high") == 0;
    low = variation && strcmp(variation, "low") == 0;
    if (!variation || !*variation) {
        svg_icon_open(f, "var-none", l10n_spc_word(lang, ""));
        fputs("<path class=\"glyph\" d=\"M10 16H22\"/>", f);
        return svg_icon_close(f, TR(lang, "ingen", "none"));
    }
    if (!high && !low) {
        svg_icon_open(f, "var-common", l10n_spc_word(lang, "common"));
        /* A wave: the process varies as it always has. */
        fputs("<path class=\"glyph\" d=\"M8 17C11 11 13 11 16 16S21 21 24 15\"/>", f);
        return svg_icon_close(f, TR(lang, "almindelig", "common"));
    }
    if (assessment && strcmp(assessment, "improvement") == 0) {
        cls = high ? "var-improvement var-high" : "var-improvement var-low";
        label = TR(lang, "forbedring", "improvement");
    } else if (assessment && strcmp(assessment, "concern") == 0) {
        cls = high ? "var-concern var-high" : "var-concern var-low";
        label = TR(lang, "bekymring", "concern");
    } else {
        cls = high ? "var-neutral var-high" : "var-neutral var-low";
        label = TR(lang, "særlig", "special");
    }
    snprintf(title, sizeof(title), "%s (%s)", l10n_spc_word(lang, high ? "high" : "low"), label);
    svg_icon_open(f, cls, title);
    /* H or L (the same letters in both languages: høj/lav, high/low), and an arrow. */
    fprintf(f,
            "<text class=\"glyph-text\" x=\"13\" y=\"21\" text-anchor=\"middle\">%s</text>"
            "<path class=\"glyph\" d=\"%s\"/>",
            high ? "H" : "L",
            high ? "M23 20V10M19.5 13.5L23 10L26.5 13.5" : "M23 10V20M19.5 16.5L23 20L26.5 16.5");
    snprintf(title, sizeof(title), "%s %s", high ? TR(lang, "høj", "high") : TR(lang, "lav", "low"),
             label);
    return svg_icon_close(f, title);
}

int
svg_icon_assurance(FILE *f, l10n_lang_t lang, const char *assurance)
{
    if (!f)
        return -EINVAL;
    if (assurance && strcmp(assurance, "pass") == 0) {
        svg_icon_open(f, "ass-pass", l10n_spc_word(lang, "pass"));
        fputs("<path class=\"glyph\" d=\"M9 16.5L14 21.5L23.5 11\"/>", f);
        return svg_icon_close(f, TR(lang, "når målet", "meets target"));
    }
    if (assurance && strcmp(assurance, "fail") == 0) {
        svg_icon_open(f, "ass-fail", l10n_spc_word(lang, "fail"));
        fputs("<path class=\"glyph\" d=\"M10.5 10.5L21.5 21.5M21.5 10.5L10.5 21.5\"/>", f);
        return svg_icon_close(f, TR(lang, "når ikke målet", "misses target"));
    }
    if (assurance && strcmp(assurance, "hit_and_miss") == 0) {
        svg_icon_open(f, "ass-hitmiss", l10n_spc_word(lang, "hit_and_miss"));
        fputs("<path class=\"glyph\" d=\"M8 20H13V12H19V20H24\"/>", f);
        return svg_icon_close(f, TR(lang, "svingende", "hit and miss"));
    }
    svg_icon_open(f, "ass-none", TR(lang, "Intet mål", "No target"));
    fputs("<path class=\"glyph\" d=\"M10 16H22\"/>", f);
    return svg_icon_close(f, TR(lang, "intet mål", "no target"));
}
