/*
 * alert: rules, lifecycle, silences, acknowledgements and inhibition
 * (alert.h). Pure: facts and a time in, alerts and notices out.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "l10n.h"

#define MIN_US (60 * PSY_USEC)

/* A rule as configured: a built-in one with its [alert NAME] tuning, or a threshold rule. */
typedef struct {
    const char *name;
    bool kpi; /* evaluated per level from the KPI model */
    bool hb;  /* looks at the latest heartbeat: not evaluated while the collector is silent */
    const char *severity;
    int64_t for_us, keep_us;
    bool enabled;
    int thr; /* index in conf->alerts of a threshold rule, else -1 */
} rule_t;

enum {
    R_OFF_TRAJECTORY,
    R_SPC_CONCERN,
    R_ASSURANCE_FAIL,
    R_BELT_48H,
    R_REFERRALS,
    R_SILENT,
    R_EXPORT_STALE,
    R_BACKLOG,
    R_SPOOL_FULL,
    R_REJECTED,
    R_CLOCK,
    R__BUILTIN
};

static const rule_t builtin[R__BUILTIN] = {
    [R_OFF_TRAJECTORY] = {"IntrusiveOffTrajectory", true, false, "warning", 0, PSY_DAY, true, -1},
    [R_SPC_CONCERN] = {"SpcConcern", true, false, "warning", 0, PSY_DAY, true, -1},
    [R_ASSURANCE_FAIL] = {"TargetAssuranceFail", true, false, "info", 0, PSY_DAY, true, -1},
    [R_BELT_48H] = {"BeltOver48h", true, false, "warning", 0, 0, true, -1},
    [R_REFERRALS] = {"ReferralsOverdue", true, false, "warning", 0, 0, true, -1},
    [R_SILENT] = {"CollectorSilent", false, false, "critical", 15 * MIN_US, 0, true, -1},
    [R_EXPORT_STALE] = {"ExportStale", false, false, "warning", 36 * PSY_HOUR, 0, true, -1},
    [R_BACKLOG] = {"BacklogStuck", false, true, "warning", 30 * MIN_US, 0, true, -1},
    [R_SPOOL_FULL] = {"SpoolFull", false, true, "critical", 0, 0, true, -1},
    [R_REJECTED] = {"RecordsRejected", false, false, "info", 0, 0, true, -1},
    [R_CLOCK] = {"ClockSkew", false, true, "warning", 5 * MIN_US, 0, true, -1},
};

/* The KPIs SpcConcern watches (alerts.md). */
static const char *const spc_concern_kpis[] = {
    "intrusive_per_1000_bed_days", "intrusive_episodes",   "belt_over_48h",
    "readmission_rate_30d",        "self_discharge_share", "wait_within_60d_share",
};

/* How a manager reads a KPI, in Danish and English; a count's words for 1 too ("1 episode"). */
static const struct {
    const char *kpi, *da, *en, *da1, *en1;
} kpi_words[] = {
    {"intrusive_per_1000_bed_days", "episoder med indgribende tvang pr. 1000 sengedage",
     "intrusive coercion episodes per 1000 bed days", NULL, NULL},
    {"intrusive_episodes", "episoder med indgribende tvang", "intrusive coercion episodes",
     "episode med indgribende tvang", "intrusive coercion episode"},
    {"belt_over_48h", "bæltefikseringer over 48 timer", "belt fixations over 48 hours",
     "bæltefiksering over 48 timer", "belt fixation over 48 hours"},
    {"readmission_rate_30d", "% akut genindlagt inden for 30 dage",
     "% acutely readmitted within 30 days", NULL, NULL},
    {"self_discharge_share", "% udskrevet på eget initiativ", "% self-discharged", NULL, NULL},
    {"wait_within_60d_share", "% i behandling inden for 60 dage",
     "% starting treatment within 60 days", NULL, NULL},
    {"coercion_episodes:belt", "bæltefikseringer", "belt fixations", "bæltefiksering",
     "belt fixation"},
    {"referrals_overdue", "henviste børn og unge, der har ventet over 60 dage",
     "referred children waiting more than 60 days",
     "henvist barn eller ung, der har ventet over 60 dage",
     "referred child waiting more than 60 days"},
};

const char *
alert_state_name(alert_state_t s)
{
    switch (s) {
    case ALERT_PENDING:
        return "pending";
    case ALERT_FIRING:
        return "firing";
    case ALERT_RESOLVED:
        return "resolved";
    default:
        return "inactive";
    }
}

bool
alert_builtin(const char *name)
{
    for (size_t i = 0; i < R__BUILTIN; i++)
        if (strcmp(builtin[i].name, name) == 0)
            return true;
    return false;
}

void
alert_set_free(alert_set_t *set)
{
    if (!set)
        return;
    free(set->items);
    free(set->notices);
    memset(set, 0, sizeof *set);
}

const char *
alert_label(const alert_labels_t *l, const char *name)
{
    if (strcmp(name, "alertname") == 0)
        return l->alertname;
    if (strcmp(name, "center") == 0)
        return l->center;
    if (strcmp(name, "severity") == 0)
        return l->severity;
    if (strcmp(name, "kpi") == 0)
        return l->kpi;
    if (strcmp(name, "region") == 0)
        return l->region;
    return NULL;
}

/* FNV-1a 64, as Prometheus's model.LabelsToSignature. */
static uint64_t
fnv_add(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

void
alert_fingerprint(const alert_labels_t *l, char ret[17])
{
    /* Already sorted by name, as Prometheus sorts them. */
    static const char *const names[] = {"alertname", "center", "kpi", "region", "severity"};
    static const char sep = (char)0xff;
    uint64_t h = UINT64_C(14695981039346656037);

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = alert_label(l, names[i]);
        if (!v || !*v)
            continue;
        h = fnv_add(h, names[i], strlen(names[i]));
        h = fnv_add(h, &sep, 1);
        h = fnv_add(h, v, strlen(v));
        h = fnv_add(h, &sep, 1);
    }
    snprintf(ret, 17, "%016llx", (unsigned long long)h);
}

bool
alert_silence_matches(const alert_silence_t *s, const alert_labels_t *l)
{
    if (s->nmatchers == 0)
        return false;
    for (size_t i = 0; i < s->nmatchers; i++) {
        const char *v = alert_label(l, s->matchers[i].name);
        if (strcmp(v ? v : "", s->matchers[i].value) != 0)
            return false;
    }
    return true;
}

int
alert_matchers_parse(const char *text, alert_silence_t *s)
{
    static const alert_labels_t probe;
    const char *p = text;
    size_t n = 0;

    if (!text || !*text)
        return -EINVAL;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen, vlen;

        if (!eq || eq == p || n == ALERT_MATCHERS_MAX)
            return -EINVAL;
        nlen = (size_t)(eq - p);
        vlen = len - nlen - 1;
        if (nlen >= sizeof s->matchers[n].name || vlen >= sizeof s->matchers[n].value)
            return -EINVAL;
        memcpy(s->matchers[n].name, p, nlen);
        s->matchers[n].name[nlen] = '\0';
        memcpy(s->matchers[n].value, eq + 1, vlen);
        s->matchers[n].value[vlen] = '\0';
        if (!alert_label(&probe, s->matchers[n].name))
            return -EINVAL;
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0)
        return -EINVAL;
    s->nmatchers = n;
    return 0;
}

/* ---- Words ---- */

/* A number as people read it: whole numbers bare, others with one decimal (comma in Danish). */
static void
fmt_num(double v, bool danish, char *buf, size_t size)
{
    if (fabs(v - round(v)) < 1e-9)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.1f", v);
    if (danish) {
        char *dot = strchr(buf, '.');
        if (dot)
            *dot = ',';
    }
}

/* "2025-06" -> "juni 2025"; "r12:2025-06" -> "de 12 måneder til og med juni 2025". */
static void
fmt_period(const char *period, bool danish, char *buf, size_t size)
{
    l10n_lang_t lang = danish ? L10N_DA : L10N_EN;
    int y, m, q;
    bool r12 = strncmp(period, "r12:", 4) == 0;
    const char *p = r12 ? period + 4 : period;
    size_t len = strlen(p);

    if (len == 7 && sscanf(p, "%4d-%2d", &y, &m) == 2 && m >= 1 && m <= 12) {
        if (r12)
            snprintf(buf, size,
                     danish ? "de 12 måneder til og med %s %d" : "the 12 months to %s %d",
                     l10n_month(lang, m), y);
        else
            snprintf(buf, size, "%s %d", l10n_month(lang, m), y);
    } else if (!r12 && len == 7 && sscanf(p, "%4d-Q%1d", &y, &q) == 2 && q >= 1 && q <= 4) {
        snprintf(buf, size, danish ? "%d. kvartal %d" : "Q%d %d", q, y);
    } else {
        snprintf(buf, size, "%s", period); /* a year, "2026", reads as it is */
    }
}

/*
 * The words for v of a KPI inside a sentence: the alert's own phrasing of
 * the KPIs its built-in rules name ("episoder med indgribende tvang", "1
 * episode med ..."), else the dashboard's name of any KPI (l10n, into buf),
 * its first letter in lower case.
 */
static const char *
kpi_words_for(const char *kpi, double v, bool danish, char *buf, size_t size)
{
    for (size_t i = 0; i < sizeof kpi_words / sizeof kpi_words[0]; i++) {
        if (strcmp(kpi_words[i].kpi, kpi) != 0)
            continue;
        if (v == 1 && kpi_words[i].da1)
            return danish ? kpi_words[i].da1 : kpi_words[i].en1;
        return danish ? kpi_words[i].da : kpi_words[i].en;
    }
    if (!l10n_kpi(danish ? L10N_DA : L10N_EN, kpi, buf, size))
        return kpi;
    l10n_lower_first(buf);
    return buf;
}

/* "17 minutter" / "17 minutes", "3 timer", "2 dage". */
static void
fmt_duration(int64_t us, bool danish, char *buf, size_t size)
{
    int64_t s = us / PSY_USEC;

    if (s < 120)
        snprintf(buf, size, "%lld %s", (long long)s, danish ? "sekunder" : "seconds");
    else if (s < 2 * 3600)
        snprintf(buf, size, "%lld %s", (long long)(s / 60), danish ? "minutter" : "minutes");
    else if (s < 2 * 86400)
        snprintf(buf, size, "%lld %s", (long long)(s / 3600), danish ? "timer" : "hours");
    else
        snprintf(buf, size, "%lld %s", (long long)(s / 86400), danish ? "dage" : "days");
}

/* ---- Rules as configured ---- */

/* The effective rules: built-ins with their [alert NAME] tuning, then the threshold rules. */
static size_t
rules_build(const psy_agg_conf_t *conf, rule_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < R__BUILTIN; i++) {
        rule_t r = builtin[i];
        for (size_t j = 0; conf && j < conf->nalerts; j++) {
            const psy_alert_conf_t *a = &conf->alerts[j];
            if (a->threshold || strcmp(a->name, r.name) != 0)
                continue;
            if (a->enabled == 0)
                r.enabled = false;
            if (a->for_us >= 0)
                r.for_us = a->for_us;
            if (a->keep_firing_for_us >= 0)
                r.keep_us = a->keep_firing_for_us;
            if (a->severity[0])
                r.severity = a->severity;
        }
        out[n++] = r;
    }
    for (size_t j = 0; conf && j < conf->nalerts; j++) {
        const psy_alert_conf_t *a = &conf->alerts[j];
        if (!a->threshold)
            continue;
        out[n++] = (rule_t){.name = a->name,
                            .kpi = true,
                            .severity = a->severity[0] ? a->severity : "warning",
                            .for_us = a->for_us > 0 ? a->for_us : 0,
                            .keep_us = a->keep_firing_for_us > 0 ? a->keep_firing_for_us : 0,
                            .enabled = a->enabled != 0,
                            .thr = (int)j};
    }
    return n;
}

static const rule_t *
rule_find(const rule_t *rules, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].name, name) == 0)
            return &rules[i];
    return NULL;
}

/* Whether a threshold rule's `centers` takes level (a center id or "region"). */
static bool
centers_take(const char *centers, const char *level)
{
    size_t len = strlen(level);
    const char *p = centers;

    if (!*centers || strcmp(centers, "all") == 0)
        return true;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == len && memcmp(p, level, len) == 0)
            return true;
        p = e;
    }
    return false;
}

/* ---- Candidates: the instances whose condition holds now ---- */

typedef struct {
    alert_labels_t labels;
    alert_annotations_t ann;
    char fp[17];
    psy_time_t since;
    const rule_t *rule;
    bool used;
} cand_t;

typedef struct {
    const alert_input_t *in;
    cand_t *c;
    size_t n, cap;
    int err;
} cands_t;

static cand_t *
cand_add(cands_t *cs, const rule_t *r, const char *center, const char *kpi, psy_time_t since)
{
    const psy_agg_conf_t *conf = cs->in->conf;
    cand_t *c;

    if (cs->err)
        return NULL;
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 64;
        cand_t *p;
        if (cap > ALERT_INSTANCES_MAX * 2) {
            cs->err = -E2BIG;
            return NULL;
        }
        p = realloc(cs->c, cap * sizeof *p);
        if (!p) {
            cs->err = -ENOMEM;
            return NULL;
        }
        cs->c = p;
        cs->cap = cap;
    }
    c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->labels.alertname, sizeof c->labels.alertname, "%s", r->name);
    snprintf(c->labels.center, sizeof c->labels.center, "%s", center);
    snprintf(c->labels.severity, sizeof c->labels.severity, "%s", r->severity);
    snprintf(c->labels.kpi, sizeof c->labels.kpi, "%s", kpi ? kpi : "");
    /* The parser fills an unset [region] name with "region": the label is "psymon" then. */
    snprintf(c->labels.region, sizeof c->labels.region, "%s",
             conf && conf->region_name[0] && strcmp(conf->region_name, "region") != 0
                 ? conf->region_name
                 : "psymon");
    alert_fingerprint(&c->labels, c->fp);
    c->since = since;
    c->rule = r;
    return c;
}

/*
 * The dashboard link (dashboard.md): the level's page at the KPI's chart
 * (#kpi-NAME; the target chart for the r12 target), or the center's row of
 * the collectors page.
 */
static void
set_dashboard(const alert_input_t *in, cand_t *c, const char *kpi, const char *level)
{
    const char *base = in->conf && in->conf->external_url[0] ? in->conf->external_url : "/";
    const char *slash = base[strlen(base) - 1] == '/' ? "" : "/";

    if (kpi && (strcmp(kpi, "intrusive_reduction") == 0 || strcmp(kpi, "intrusive_per_100k") == 0))
        snprintf(c->ann.dashboard, sizeof c->ann.dashboard, "%s%scenter/%s#target", base, slash,
                 level);
    else if (kpi)
        snprintf(c->ann.dashboard, sizeof c->ann.dashboard, "%s%scenter/%s#kpi-%s", base, slash,
                 level, kpi);
    else
        snprintf(c->ann.dashboard, sizeof c->ann.dashboard, "%s%scollectors#c-%s", base, slash,
                 level);
}

static void
kpi_rules(cands_t *cs, const rule_t *rules, size_t nrules, const alert_level_t *lv)
{
    const alert_input_t *in = cs->in;
    char v[32], p[64], v_en[32], p_en[64];
    cand_t *c;

    /* IntrusiveOffTrajectory */
    if (rules[R_OFF_TRAJECTORY].enabled && lv->on_track.set && !lv->on_track.provisional &&
        lv->on_track.v == 0) {
        c = cand_add(cs, &rules[R_OFF_TRAJECTORY], lv->level, "intrusive_on_track", PSY_TIME_NONE);
        if (c) {
            char red[32] = "?", tgt[32] = "?", red_en[32] = "?", tgt_en[32] = "?";
            if (lv->reduction.set) {
                fmt_num(lv->reduction.v, true, red, sizeof red);
                fmt_num(lv->reduction.v, false, red_en, sizeof red_en);
            }
            if (lv->target_reduction.set) {
                fmt_num(lv->target_reduction.v, true, tgt, sizeof tgt);
                fmt_num(lv->target_reduction.v, false, tgt_en, sizeof tgt_en);
            }
            fmt_period(lv->on_track.period, true, p, sizeof p);
            fmt_period(lv->on_track.period, false, p_en, sizeof p_en);
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: ikke på sporet mod 30 %% færre episoder med indgribende tvang; "
                     "reduktionen i %s er %s %%, sporet kræver %s %%",
                     lv->name, p, red, tgt);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: off the trajectory to 30%% fewer intrusive coercion episodes; the "
                     "reduction over %s is %s%%, the trajectory asks for %s%%",
                     lv->name, p_en, red_en, tgt_en);
            snprintf(
                c->ann.description, sizeof c->ann.description,
                "Episoderne med bælte, fastholdelse og beroligende medicin falder ikke hurtigt "
                "nok til målet for 2030. Se udviklingen og drøft indsatsen med "
                "ledelsen.");
            snprintf(c->ann.value, sizeof c->ann.value, "%s", lv->reduction.set ? red_en : "");
            snprintf(c->ann.period, sizeof c->ann.period, "%s", lv->on_track.period);
            set_dashboard(in, c, "intrusive_reduction", lv->level);
        }
    }

    /* SpcConcern and TargetAssuranceFail */
    for (size_t i = 0; i < lv->nspc; i++) {
        const alert_spc_t *s = &lv->spc[i];
        bool watched = false, goal = strcmp(s->kpi, "intrusive_episodes") == 0;

        if (!s->set)
            continue;
        for (size_t k = 0; k < sizeof spc_concern_kpis / sizeof spc_concern_kpis[0]; k++)
            watched |= strcmp(spc_concern_kpis[k], s->kpi) == 0;
        for (size_t k = 0; in->conf && k < in->conf->ngoals; k++)
            goal |= strcmp(in->conf->goals[k].kpi, s->kpi) == 0;
        fmt_num(s->value, true, v, sizeof v);
        fmt_num(s->value, false, v_en, sizeof v_en);
        fmt_period(s->period, true, p, sizeof p);
        fmt_period(s->period, false, p_en, sizeof p_en);

        if (rules[R_SPC_CONCERN].enabled && watched && strcmp(s->assessment, "concern") == 0) {
            c = cand_add(cs, &rules[R_SPC_CONCERN], lv->level, s->kpi, PSY_TIME_NONE);
            if (!c)
                return;
            char lim[32], lim_en[32], why[128], why_en[128], kw[128], kw_en[128];
            bool high = strcmp(s->variation, "high") == 0;
            if (s->has_limits && high && s->value > s->ucl) {
                fmt_num(s->ucl, true, lim, sizeof lim);
                fmt_num(s->ucl, false, lim_en, sizeof lim_en);
                snprintf(why, sizeof why, "over den øvre kontrolgrænse %s", lim);
                snprintf(why_en, sizeof why_en, "above the upper control limit %s", lim_en);
            } else if (s->has_limits && !high && s->value < s->lcl) {
                fmt_num(s->lcl, true, lim, sizeof lim);
                fmt_num(s->lcl, false, lim_en, sizeof lim_en);
                snprintf(why, sizeof why, "under den nedre kontrolgrænse %s", lim);
                snprintf(why_en, sizeof why_en, "below the lower control limit %s", lim_en);
            } else {
                fmt_num(s->cl, true, lim, sizeof lim);
                fmt_num(s->cl, false, lim_en, sizeof lim_en);
                snprintf(why, sizeof why, "%s midterlinjen %s usædvanligt mange måneder i træk",
                         high ? "over" : "under", lim);
                snprintf(why_en, sizeof why_en, "%s the centre line %s for unusually many months",
                         high ? "above" : "below", lim_en);
            }
            snprintf(c->ann.summary, sizeof c->ann.summary, "%s: %s %s i %s, %s", lv->name, v,
                     kpi_words_for(s->kpi, s->value, true, kw, sizeof kw), p, why);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en, "%s: %s %s in %s, %s", lv->name,
                     v_en, kpi_words_for(s->kpi, s->value, false, kw_en, sizeof kw_en), p_en,
                     why_en);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Kontroldiagrammet viser en reel ændring i den forkerte retning, ikke "
                     "tilfældig variation. Find årsagen sammen med afdelingen.");
            snprintf(c->ann.value, sizeof c->ann.value, "%s", v_en);
            snprintf(c->ann.period, sizeof c->ann.period, "%s", s->period);
            set_dashboard(in, c, s->kpi, lv->level);
        }
        if (rules[R_ASSURANCE_FAIL].enabled && goal && strcmp(s->assurance, "fail") == 0) {
            char t[32] = "?", t_en[32] = "?", kw[128], kw_en[128];
            c = cand_add(cs, &rules[R_ASSURANCE_FAIL], lv->level, s->kpi, PSY_TIME_NONE);
            if (!c)
                return;
            if (s->has_target) {
                fmt_num(s->target, true, t, sizeof t);
                fmt_num(s->target, false, t_en, sizeof t_en);
            }
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: %s %s i %s; målet %s nås ikke i nogen måned med den nuværende praksis",
                     lv->name, v, kpi_words_for(s->kpi, s->value, true, kw, sizeof kw), p, t);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: %s %s in %s; the target %s is missed every month by the current "
                     "process",
                     lv->name, v_en, kpi_words_for(s->kpi, s->value, false, kw_en, sizeof kw_en),
                     p_en, t_en);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Hele kontrolgrænsebåndet ligger på den forkerte side af målet: uden en "
                     "ændring af praksis nås målet ikke.");
            snprintf(c->ann.value, sizeof c->ann.value, "%s", v_en);
            snprintf(c->ann.period, sizeof c->ann.period, "%s", s->period);
            set_dashboard(in, c, s->kpi, lv->level);
        }
    }

    /*
     * BeltOver48h and ReferralsOverdue look at the current month and at
     * as_of, whose rows are always provisional (kpis.md): the rule names
     * them, and a count of serious events can only grow, so these two fire
     * on them.
     */
    if (rules[R_BELT_48H].enabled &&
        ((lv->belt_last.set && lv->belt_last.v > 0) || (lv->belt_cur.set && lv->belt_cur.v > 0))) {
        const alert_value_t *b =
            lv->belt_last.set && lv->belt_last.v > 0 ? &lv->belt_last : &lv->belt_cur;
        c = cand_add(cs, &rules[R_BELT_48H], lv->level, "belt_over_48h", PSY_TIME_NONE);
        if (c) {
            fmt_num(b->v, true, v, sizeof v);
            fmt_period(b->period, true, p, sizeof p);
            fmt_period(b->period, false, p_en, sizeof p_en);
            snprintf(c->ann.summary, sizeof c->ann.summary, "%s: %s %s i %s", lv->name, v,
                     kpi_words_for("belt_over_48h", b->v, true, NULL, 0), p);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en, "%s: %s %s in %s", lv->name, v,
                     kpi_words_for("belt_over_48h", b->v, false, NULL, 0), p_en);
            if (b == &lv->belt_last && lv->belt_cur.set && lv->belt_cur.v > 0) {
                size_t len = strlen(c->ann.summary);
                fmt_num(lv->belt_cur.v, true, v, sizeof v);
                fmt_period(lv->belt_cur.period, true, p, sizeof p);
                snprintf(c->ann.summary + len, sizeof c->ann.summary - len, " og %s i %s", v, p);
                len = strlen(c->ann.summary_en);
                fmt_period(lv->belt_cur.period, false, p_en, sizeof p_en);
                snprintf(c->ann.summary_en + len, sizeof c->ann.summary_en - len, " and %s in %s",
                         v, p_en);
            }
            snprintf(c->ann.description, sizeof c->ann.description,
                     "En bæltefiksering over 48 timer er en alvorlig hændelse, som skal "
                     "gennemgås. Tallet tæller fikseringer, der er afsluttet.");
            fmt_num(b->v, false, c->ann.value, sizeof c->ann.value);
            snprintf(c->ann.period, sizeof c->ann.period, "%s", b->period);
            set_dashboard(in, c, "belt_over_48h", lv->level);
        }
    }
    if (rules[R_REFERRALS].enabled && lv->overdue.set && lv->overdue.v > 0) {
        c = cand_add(cs, &rules[R_REFERRALS], lv->level, "referrals_overdue", PSY_TIME_NONE);
        if (c) {
            fmt_num(lv->overdue.v, true, v, sizeof v);
            bool one = lv->overdue.v == 1;
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: %s %s ventet mere end 60 dage på udredning og behandling", lv->name, v,
                     one ? "henvist barn eller ung har" : "henviste børn og unge har");
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: %s %s waited more than 60 days for assessment and treatment", lv->name, v,
                     one ? "referred child has" : "referred children have");
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Retten til udredning og behandlingsstart inden for 60 dage er ikke "
                     "overholdt for disse henvisninger.");
            fmt_num(lv->overdue.v, false, c->ann.value, sizeof c->ann.value);
            snprintf(c->ann.period, sizeof c->ann.period, "%s", lv->overdue.period);
            set_dashboard(in, c, "referrals_overdue", lv->level);
        }
    }

    /* Threshold rules of one's own, on the latest complete period. */
    for (size_t r = R__BUILTIN; r < nrules; r++) {
        const rule_t *rule = &rules[r];
        const psy_alert_conf_t *a = &in->conf->alerts[rule->thr];
        const alert_value_t *x = &lv->thr[rule->thr];
        static const char *const ops[] = {"?", ">", ">=", "<", "<="};
        bool hit;

        if (!rule->enabled || !centers_take(a->centers, lv->level) || !x->set || x->provisional)
            continue;
        switch (a->op) {
        case PSY_ALERT_OP_GT:
            hit = x->v > a->value;
            break;
        case PSY_ALERT_OP_GE:
            hit = x->v >= a->value;
            break;
        case PSY_ALERT_OP_LT:
            hit = x->v < a->value;
            break;
        case PSY_ALERT_OP_LE:
            hit = x->v <= a->value;
            break;
        default:
            hit = false;
        }
        if (!hit)
            continue;
        c = cand_add(cs, rule, lv->level, a->kpi, PSY_TIME_NONE);
        if (!c)
            return;
        char lim[32], lim_en[32], kw[128], kw_en[128];
        const char *op = a->op >= 1 && a->op <= 4 ? ops[a->op] : "?";
        fmt_num(x->v, true, v, sizeof v);
        fmt_num(x->v, false, v_en, sizeof v_en);
        fmt_num(a->value, true, lim, sizeof lim);
        fmt_num(a->value, false, lim_en, sizeof lim_en);
        fmt_period(x->period, true, p, sizeof p);
        fmt_period(x->period, false, p_en, sizeof p_en);
        if (a->summary[0])
            snprintf(c->ann.summary, sizeof c->ann.summary, "%s: %s (%s i %s)", lv->name,
                     a->summary, v, p);
        else
            snprintf(c->ann.summary, sizeof c->ann.summary, "%s: %s %s i %s (grænse %s %s)",
                     lv->name, v, kpi_words_for(a->kpi, x->v, true, kw, sizeof kw), p, op, lim);
        snprintf(c->ann.summary_en, sizeof c->ann.summary_en, "%s: %s %s in %s (rule %s %s %s)",
                 lv->name, v_en, kpi_words_for(a->kpi, x->v, false, kw_en, sizeof kw_en), p_en,
                 a->kpi, op, lim_en);
        snprintf(c->ann.description, sizeof c->ann.description,
                 "Regionens egen regel %s: %s %s %s.", rule->name, a->kpi, op, lim);
        snprintf(c->ann.value, sizeof c->ann.value, "%s", v_en);
        snprintf(c->ann.period, sizeof c->ann.period, "%s", x->period);
        set_dashboard(in, c, a->kpi, lv->level);
    }
}

/* The grace before a "nothing since" rule is pending: its own, or `for` when shorter. */
static int64_t
grace(const rule_t *r, int64_t own)
{
    return r->for_us > 0 && r->for_us < own ? r->for_us : own;
}

/* CollectorSilent's grace: as grace(), but never under two heartbeats. */
static int64_t
silent_grace(const rule_t *r)
{
    const int64_t g = grace(r, ALERT_SILENT_GRACE);

    return g < ALERT_SILENT_MIN ? ALERT_SILENT_MIN : g;
}

static bool
collector_silent(const alert_collector_t *k, psy_time_t now)
{
    return now - k->last_seen > ALERT_SILENT_GRACE;
}

static void
collector_rules(cands_t *cs, const rule_t *rules, const alert_collector_t *k)
{
    const psy_time_t now = cs->in->now;
    const bool silent = collector_silent(k, now);
    char d[64], d_en[64], v[32];
    cand_t *c;

    if (rules[R_SILENT].enabled && now - k->last_seen > silent_grace(&rules[R_SILENT])) {
        c = cand_add(cs, &rules[R_SILENT], k->center, NULL, k->last_seen);
        if (c) {
            fmt_duration(now - k->last_seen, true, d, sizeof d);
            fmt_duration(now - k->last_seen, false, d_en, sizeof d_en);
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: ingen data fra centrets opsamler i %s", k->name, d);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: nothing from the center's collector for %s", k->name, d_en);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Opsamleren har hverken sendt data eller livstegn. Centrets tal er "
                     "ufuldstændige, til den kører igen: kontakt centrets IT.");
            snprintf(c->ann.value, sizeof c->ann.value, "%lld",
                     (long long)((now - k->last_seen) / PSY_USEC));
            set_dashboard(cs->in, c, NULL, k->center);
        }
    }
    if (rules[R_EXPORT_STALE].enabled && k->last_inbox_read != PSY_TIME_NONE &&
        now - k->last_inbox_read > grace(&rules[R_EXPORT_STALE], ALERT_STALE_GRACE)) {
        c = cand_add(cs, &rules[R_EXPORT_STALE], k->center, NULL, k->last_inbox_read);
        if (c) {
            fmt_duration(now - k->last_inbox_read, true, d, sizeof d);
            fmt_duration(now - k->last_inbox_read, false, d_en, sizeof d_en);
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: ingen nye eksportfiler fra patientjournalen i %s", k->name, d);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: no new export file read for %s", k->name, d_en);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Opsamleren kører, men der kommer ingen nye filer i dens indbakke. "
                     "Eksporten fra journalsystemet er stoppet: kontakt centrets IT.");
            snprintf(c->ann.value, sizeof c->ann.value, "%lld",
                     (long long)((now - k->last_inbox_read) / PSY_USEC));
            set_dashboard(cs->in, c, NULL, k->center);
        }
    }
    if (rules[R_BACKLOG].enabled && !silent && k->has_heartbeat && k->backlog > 0 &&
        now - k->backlog_since > grace(&rules[R_BACKLOG], ALERT_BACKLOG_GRACE)) {
        c = cand_add(cs, &rules[R_BACKLOG], k->center, NULL, k->backlog_since);
        if (c) {
            fmt_duration(now - k->backlog_since, true, d, sizeof d);
            fmt_duration(now - k->backlog_since, false, d_en, sizeof d_en);
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: %llu registreringer venter hos opsamleren og er ikke blevet færre i %s",
                     k->name, (unsigned long long)k->backlog, d);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: %llu records waiting at the collector, not fewer for %s", k->name,
                     (unsigned long long)k->backlog, d_en);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Opsamleren får ikke sine registreringer igennem til regionen. Se "
                     "opsamlerens log og forbindelsen.");
            snprintf(c->ann.value, sizeof c->ann.value, "%llu", (unsigned long long)k->backlog);
            set_dashboard(cs->in, c, NULL, k->center);
        }
    }
    if (rules[R_SPOOL_FULL].enabled && !silent && k->has_heartbeat && k->spool_full) {
        c = cand_add(cs, &rules[R_SPOOL_FULL], k->center, NULL, PSY_TIME_NONE);
        if (c) {
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: opsamlerens lager er fuldt, og den har stoppet med at læse nye filer",
                     k->name);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: the collector's spool is full; it stopped reading new files", k->name);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Nye registreringer bliver liggende i indbakken. Giv opsamleren plads "
                     "eller genopret forbindelsen til regionen.");
            snprintf(c->ann.value, sizeof c->ann.value, "1");
            set_dashboard(cs->in, c, NULL, k->center);
        }
    }
    if (rules[R_REJECTED].enabled && k->rejected > 0 && k->rejected_rose_at != PSY_TIME_NONE &&
        now - k->rejected_rose_at < ALERT_REJECT_WINDOW) {
        c = cand_add(cs, &rules[R_REJECTED], k->center, NULL, k->rejected_rose_at);
        if (c) {
            snprintf(v, sizeof v, "%llu", (unsigned long long)k->rejected);
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: opsamleren har afvist registreringer i det seneste døgn (%s i alt)",
                     k->name, v);
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: the collector rejected records within the last day (%s in all)", k->name,
                     v);
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Afviste registreringer tæller ikke med i tallene. Ret dem i kilden; "
                     "opsamlerens rejected.ndjson siger hvorfor.");
            snprintf(c->ann.value, sizeof c->ann.value, "%s", v);
            set_dashboard(cs->in, c, NULL, k->center);
        }
    }
    if (rules[R_CLOCK].enabled && !silent && k->has_heartbeat &&
        (k->clock_offset > ALERT_SKEW_MAX || k->clock_offset < -ALERT_SKEW_MAX)) {
        c = cand_add(cs, &rules[R_CLOCK], k->center, NULL, PSY_TIME_NONE);
        if (c) {
            long long s = (long long)(k->clock_offset / PSY_USEC);
            snprintf(c->ann.summary, sizeof c->ann.summary,
                     "%s: opsamlerens ur går %lld sekunder %s", k->name, s < 0 ? -s : s,
                     s < 0 ? "bagud" : "foran");
            snprintf(c->ann.summary_en, sizeof c->ann.summary_en,
                     "%s: the collector's clock is %lld seconds %s", k->name, s < 0 ? -s : s,
                     s < 0 ? "behind" : "ahead");
            snprintf(c->ann.description, sizeof c->ann.description,
                     "Et forkert ur på opsamleren giver forkerte tidspunkter i tallene. Få "
                     "centrets IT til at slå tidssynkronisering (NTP) til.");
            snprintf(c->ann.value, sizeof c->ann.value, "%lld", s);
            set_dashboard(cs->in, c, NULL, k->center);
        }
    }
}

/* ---- Lifecycle ---- */

/* Whether the rule of a was evaluated now for a's labels (else a keeps its state). */
static bool
evaluated(const alert_input_t *in, const rule_t *r, const alert_t *a)
{
    if (!r)
        return true; /* the rule is gone: its alerts resolve */
    if (r->kpi)
        return in->kpi_known;
    if (r->hb) {
        for (size_t i = 0; i < in->ncollectors; i++)
            if (strcmp(in->collectors[i].center, a->labels.center) == 0)
                return !collector_silent(&in->collectors[i], in->now) &&
                       in->collectors[i].has_heartbeat;
    }
    return true;
}

/* One step of a's lifecycle. Returns true when a resolved in this step. */
static bool
step(alert_t *a, const rule_t *r, const cand_t *c, psy_time_t now)
{
    if (c) {
        a->ann = c->ann;
        if (a->state == ALERT_INACTIVE || a->state == ALERT_RESOLVED) {
            a->state = ALERT_PENDING;
            a->active_since = c->since != PSY_TIME_NONE && c->since < now ? c->since : now;
            a->firing_since = a->keep_since = a->resolved_at = a->last_notified = PSY_TIME_NONE;
            a->notified = a->acked = false;
        } else if (a->state == ALERT_PENDING && c->since != PSY_TIME_NONE &&
                   c->since > a->active_since && c->since <= now) {
            a->active_since = c->since; /* it stopped and came back between evaluations */
        }
        a->keep_since = PSY_TIME_NONE;
        if (a->state == ALERT_PENDING && now - a->active_since >= r->for_us) {
            a->state = ALERT_FIRING;
            a->firing_since = now;
        }
        return false;
    }
    switch (a->state) {
    case ALERT_PENDING:
        a->state = ALERT_INACTIVE;
        return false;
    case ALERT_FIRING:
        if (a->keep_since == PSY_TIME_NONE)
            a->keep_since = now;
        if (now - a->keep_since >= (r ? r->keep_us : 0)) {
            a->state = ALERT_RESOLVED;
            a->resolved_at = now;
            return true;
        }
        return false;
    default:
        return false;
    }
}

static int
push_alert(alert_set_t *set, const alert_t *a)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        alert_t *p = realloc(set->items, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        set->items = p;
        set->cap = cap;
    }
    set->items[set->n++] = *a;
    return 0;
}

static int
push_notice(alert_set_t *set, size_t index, alert_notice_kind_t kind, bool repeat)
{
    if (set->nnotices == set->ncap) {
        size_t cap = set->ncap ? set->ncap * 2 : 16;
        alert_notice_t *p = realloc(set->notices, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        set->notices = p;
        set->ncap = cap;
    }
    set->notices[set->nnotices++] = (alert_notice_t){index, kind, repeat};
    return 0;
}

static int
cmp_alert(const void *x, const void *y)
{
    const alert_t *a = x, *b = y;
    int d = strcmp(a->labels.alertname, b->labels.alertname);
    if (!d)
        d = strcmp(a->labels.center, b->labels.center);
    if (!d)
        d = strcmp(a->labels.kpi, b->labels.kpi);
    return d;
}

/* Whether a is a KPI alert of `center` or of the region while `center`'s data is incomplete. */
static bool
inhibited_by(const alert_t *a, const alert_t *src)
{
    if (!a->labels.kpi[0] || src->state != ALERT_FIRING)
        return false;
    if (strcmp(src->labels.alertname, "CollectorSilent") != 0 &&
        strcmp(src->labels.alertname, "ExportStale") != 0)
        return false;
    return strcmp(a->labels.center, src->labels.center) == 0 ||
           strcmp(a->labels.center, "region") == 0;
}

int
alert_eval(const alert_input_t *in, const alert_t *prev, size_t nprev, alert_set_t *ret)
{
    rule_t rules[R__BUILTIN + PSY_ALERTS_MAX];
    cands_t cs = {.in = in};
    alert_set_t out = {0};
    bool *resolved_now = NULL, *held_before = NULL;
    size_t nrules;
    int r = 0;

    if (!in || !ret || (nprev && !prev))
        return -EINVAL;
    nrules = rules_build(in->conf, rules);

    if (in->kpi_known)
        for (size_t i = 0; i < in->nlevels; i++)
            kpi_rules(&cs, rules, nrules, &in->levels[i]);
    for (size_t i = 0; i < in->ncollectors; i++)
        collector_rules(&cs, rules, &in->collectors[i]);
    if (cs.err) {
        r = cs.err;
        goto fail;
    }

    /* The previous alerts, one step on. */
    for (size_t i = 0; i < nprev; i++) {
        alert_t a = prev[i];
        const rule_t *rule = rule_find(rules, nrules, a.labels.alertname);
        cand_t *c = NULL;

        if (rule && !rule->enabled)
            rule = NULL;
        for (size_t j = 0; j < cs.n; j++)
            if (!cs.c[j].used && memcmp(cs.c[j].fp, a.fingerprint, 16) == 0) {
                c = &cs.c[j];
                break;
            }
        bool res = false;
        if (c)
            c->used = true;
        if (c || evaluated(in, rule, &a))
            res = step(&a, rule, c, in->now);
        if (a.state == ALERT_INACTIVE)
            continue;
        if (a.state == ALERT_RESOLVED && !res && in->now - a.resolved_at > ALERT_RESOLVED_KEEP)
            continue;
        if ((r = push_alert(&out, &a)) < 0)
            goto fail;
        bool *p = realloc(resolved_now, out.n * sizeof *p);
        if (!p) {
            r = -ENOMEM;
            goto fail;
        }
        resolved_now = p;
        /* A resolution is told only to those who were told of the firing. */
        resolved_now[out.n - 1] = res && a.notified;
    }
    /* New instances. */
    for (size_t j = 0; j < cs.n; j++) {
        alert_t a = {0};
        if (cs.c[j].used)
            continue;
        /* Two candidates with one fingerprint (a rule listed twice): the first counts. */
        bool dup = false;
        for (size_t k = 0; k < out.n && !dup; k++)
            dup = memcmp(out.items[k].fingerprint, cs.c[j].fp, 16) == 0;
        if (dup)
            continue;
        memcpy(a.fingerprint, cs.c[j].fp, 17);
        a.labels = cs.c[j].labels;
        a.state = ALERT_INACTIVE;
        step(&a, cs.c[j].rule, &cs.c[j], in->now);
        if (out.n >= ALERT_INSTANCES_MAX) {
            r = -E2BIG;
            goto fail;
        }
        if ((r = push_alert(&out, &a)) < 0)
            goto fail;
        bool *p = realloc(resolved_now, out.n * sizeof *p);
        if (!p) {
            r = -ENOMEM;
            goto fail;
        }
        resolved_now = p;
        resolved_now[out.n - 1] = false;
    }

    /*
     * Inhibition, silences and acknowledgements, from scratch each time. A
     * firing alert told before a silence or an inhibition held it back is
     * told again when the hold ends (alerts.md): held_before keeps what the
     * previous evaluation (stored, so also across a restart) said.
     */
    held_before = calloc(out.n ? out.n : 1, sizeof *held_before);
    if (!held_before) {
        r = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < out.n; i++) {
        alert_t *a = &out.items[i];
        held_before[i] = a->inhibited || a->nsilenced;
        a->inhibited = false;
        for (size_t k = 0; k < out.n && !a->inhibited; k++)
            a->inhibited = inhibited_by(a, &out.items[k]);
        a->nsilenced = 0;
        for (size_t k = 0; k < in->nsilences; k++) {
            const alert_silence_t *s = &in->silences[k];
            if (in->now >= s->starts_at && in->now < s->ends_at &&
                alert_silence_matches(s, &a->labels) && a->nsilenced < ALERT_SILENCED_MAX)
                snprintf(a->silenced_by[a->nsilenced++], ALERT_ID_MAX, "%s", s->id);
        }
        a->acked = false;
        if (a->state == ALERT_FIRING)
            for (size_t k = 0; k < in->nacks; k++) {
                const alert_ack_t *ack = &in->acks[k];
                if (memcmp(ack->fingerprint, a->fingerprint, 16) == 0 &&
                    ack->at >= a->firing_since && (!a->acked || ack->at >= a->ack.at)) {
                    a->acked = true;
                    a->ack = *ack;
                }
            }
    }

    /* Notices. */
    {
        const psy_agg_conf_t *conf = in->conf;
        int64_t repeat =
            conf && conf->notify.repeat_interval_us > 0 ? conf->notify.repeat_interval_us : PSY_DAY;
        bool send_resolved = conf ? conf->notify.send_resolved : true;

        for (size_t i = 0; i < out.n; i++) {
            alert_t *a = &out.items[i];
            if (resolved_now[i]) {
                if (send_resolved && (r = push_notice(&out, i, ALERT_NOTICE_RESOLVED, false)) < 0)
                    goto fail;
                continue;
            }
            if (a->state != ALERT_FIRING || a->inhibited || a->nsilenced)
                continue;
            if (!a->notified) {
                a->notified = true;
                a->last_notified = in->now;
                if ((r = push_notice(&out, i, ALERT_NOTICE_FIRING, false)) < 0)
                    goto fail;
            } else if (!a->acked && (held_before[i] || (a->last_notified != PSY_TIME_NONE &&
                                                        in->now - a->last_notified >= repeat))) {
                a->last_notified = in->now;
                if ((r = push_notice(&out, i, ALERT_NOTICE_FIRING, true)) < 0)
                    goto fail;
            }
        }
    }

    /* A stable order for listing; notices follow their alerts. */
    {
        size_t *pos = malloc((out.n ? out.n : 1) * sizeof *pos);
        alert_t *sorted = malloc((out.n ? out.n : 1) * sizeof *sorted);
        if (!pos || !sorted) {
            free(pos);
            free(sorted);
            r = -ENOMEM;
            goto fail;
        }
        if (out.n)
            memcpy(sorted, out.items, out.n * sizeof *sorted);
        qsort(sorted, out.n, sizeof *sorted, cmp_alert);
        for (size_t i = 0; i < out.n; i++)
            for (size_t k = 0; k < out.n; k++)
                if (memcmp(sorted[k].fingerprint, out.items[i].fingerprint, 17) == 0) {
                    pos[i] = k;
                    break;
                }
        for (size_t i = 0; i < out.nnotices; i++)
            out.notices[i].index = pos[out.notices[i].index];
        free(out.items);
        out.items = sorted;
        out.cap = out.n ? out.n : 1;
        free(pos);
    }

    free(cs.c);
    free(resolved_now);
    free(held_before);
    *ret = out;
    return 0;

fail:
    free(cs.c);
    free(resolved_now);
    free(held_before);
    alert_set_free(&out);
    return r;
}
