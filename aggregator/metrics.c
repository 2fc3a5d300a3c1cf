/* metrics: the /metrics exposition. See metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <stddef.h>

#include "psymon/psymon.h"
#include "psymon/time.h"

static void
metrics_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* True when s is valid UTF-8 (no overlong forms, surrogates or code points over U+10FFFF). */
static bool
metrics_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned char c = *s++;
        int more;
        unsigned char lo = 0x80, hi = 0xbf;

        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef)
            more = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return false;
        for (int i = 0; i < more; i++, s++) {
            if (*s < (i == 0 ? lo : 0x80) || *s > (i == 0 ? hi : 0xbf))
                return false;
        }
    }
    return true;
}

/*
 * A label value as the exposition format wants it. A collector's version
 * string comes from a peer: a string that is not UTF-8 has every byte above
 * ASCII replaced by '?', and control characters always are, so that no
 * value can make Prometheus reject the whole scrape. Valid UTF-8 (a region
 * named "Region Sjælland") passes unchanged.
 */
static void
metrics_label(FILE *f, const char *v)
{
    bool utf8 = metrics_utf8((const unsigned char *)v);

    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f || (*p > 0x7f && !utf8))
            fputc('?', f);
        else
            fputc(*p, f);
    }
}

static double
metrics_seconds(psy_time_t t)
{
    return (double)t / (double)PSY_USEC;
}

static void
metrics_counters(FILE *f, const agg_counters_t *c)
{
    static const struct {
        const char *name;
        const char *help;
        size_t off;
    } counters[] = {
        {"psymon_batches_total", "Batches committed.", offsetof(agg_counters_t, batches)},
        {"psymon_records_stored_total", "Record versions appended to the store.",
         offsetof(agg_counters_t, records_stored)},
        {"psymon_records_duplicate_total", "Records already stored, skipped.",
         offsetof(agg_counters_t, records_duplicate)},
        {"psymon_heartbeats_total", "Collector heartbeats received.",
         offsetof(agg_counters_t, heartbeats)},
        {"psymon_msgs_malformed_total", "Messages undecodable or over a limit.",
         offsetof(agg_counters_t, msgs_malformed)},
        {"psymon_msgs_denied_total", "Messages from a key no longer allowed.",
         offsetof(agg_counters_t, msgs_denied)},
        {"psymon_auth_denied_total", "CURVE authentications refused.",
         offsetof(agg_counters_t, auth_denied)},
        {"psymon_store_errors_total", "Store failures.", offsetof(agg_counters_t, store_errors)},
        {"psymon_heartbeats_limited_total",
         "Collector heartbeats over the per-center rate, not stored.",
         offsetof(agg_counters_t, heartbeats_limited)},
    };

    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        /* The ingest thread updates them meanwhile: read each one atomically. */
        const atomic_uint_fast64_t *v =
            (const atomic_uint_fast64_t *)((const char *)c + counters[i].off);
        metrics_head(f, counters[i].name, "counter", counters[i].help);
        fprintf(f, "%s %llu\n", counters[i].name, (unsigned long long)atomic_load(v));
    }
}

enum {
    PER_RECORDS,
    PER_REJECTED,
    PER_BACKLOG,
    PER_SEEN_AT,
    PER_SEEN_AGE,
    PER_SPOOL_BYTES,
    PER_SPOOL_FULL,
    PER_CLOCK,
    PER_INFO,
    PER__COUNT
};

/*
 * The sample of family k for one center, when it has one. Heartbeat fields
 * are absent before the first heartbeat (no version yet): a 0 would read as
 * "empty spool, exact clock".
 */
static void
metrics_center(FILE *f, int k, const char *name, const char *id, const store_status_t *st,
               psy_time_t now)
{
    bool hb = st->version[0] != '\0';

    switch (k) {
    case PER_RECORDS:
    case PER_REJECTED:
    case PER_BACKLOG:
        fprintf(f, "%s{center=\"%s\"} %llu\n", name, id,
                (unsigned long long)(k == PER_RECORDS    ? st->records
                                     : k == PER_REJECTED ? st->rejected
                                                         : st->backlog));
        break;
    case PER_SEEN_AT:
        if (st->last_seen != PSY_TIME_NONE)
            fprintf(f, "%s{center=\"%s\"} %.3f\n", name, id, metrics_seconds(st->last_seen));
        break;
    case PER_SEEN_AGE:
        if (st->last_seen != PSY_TIME_NONE)
            fprintf(f, "%s{center=\"%s\"} %.3f\n", name, id, metrics_seconds(now - st->last_seen));
        break;
    case PER_SPOOL_BYTES:
        if (hb)
            fprintf(f, "%s{center=\"%s\"} %llu\n", name, id, (unsigned long long)st->spool_bytes);
        break;
    case PER_SPOOL_FULL:
        fprintf(f, "%s{center=\"%s\"} %d\n", name, id, hb && st->spool_full ? 1 : 0);
        break;
    case PER_CLOCK:
        if (hb)
            fprintf(f, "%s{center=\"%s\"} %.3f\n", name, id, metrics_seconds(st->clock_offset));
        break;
    default:
        if (hb) {
            fprintf(f, "%s{center=\"%s\",version=\"", name, id);
            metrics_label(f, st->version);
            fputs("\"} 1\n", f);
        }
    }
}

static void
metrics_centers(FILE *f, const psy_agg_conf_t *conf, const store_status_t *st, psy_time_t now)
{
    static const struct {
        const char *name, *help;
    } per[PER__COUNT] = {
        [PER_RECORDS] = {"psymon_center_records", "Distinct record ids stored for the center."},
        [PER_REJECTED] = {"psymon_center_rejected",
                          "Records the center's collector rejected, as it last reported."},
        [PER_BACKLOG] = {"psymon_center_backlog",
                         "Records spooled at the collector, not yet stored here."},
        [PER_SEEN_AT] =
            {"psymon_center_last_seen_timestamp_seconds",
             "Unix time of the last batch or heartbeat (absent when never heard from)."},
        [PER_SEEN_AGE] = {"psymon_center_last_seen_age_seconds",
                          "Seconds since the last batch or heartbeat (absent when never heard "
                          "from)."},
        [PER_SPOOL_BYTES] = {"psymon_center_spool_bytes",
                             "Bytes in the collector's spool at its last heartbeat."},
        [PER_SPOOL_FULL] = {"psymon_center_spool_full",
                            "1 when the collector's spool (or its disk) is full: inbox files "
                            "wait."},
        [PER_CLOCK] = {"psymon_center_clock_offset_seconds",
                       "Collector clock minus aggregator clock at its last heartbeat."},
        [PER_INFO] = {"psymon_collector_info", "The version the collector last reported; 1."},
    };

    for (int k = 0; k < PER__COUNT; k++) {
        metrics_head(f, per[k].name, "gauge", per[k].help);
        for (size_t i = 0; i < conf->ncenters; i++)
            metrics_center(f, k, per[k].name, conf->centers[i].id, &st[i], now);
    }
}

static const char *
metrics_level(const psy_agg_conf_t *conf, int level)
{
    if (level == KPI_LEVEL_REGION)
        return "region";
    if (level < 0 || (size_t)level >= conf->ncenters)
        return NULL;
    return conf->centers[level].id;
}

static void
metrics_kpis(FILE *f, const psy_agg_conf_t *conf, const metrics_window_t *w, size_t nw)
{
    metrics_head(f, "psymon_kpi_window_start_timestamp_seconds", "gauge",
                 "Unix time at which the period a KPI window holds starts.");
    for (size_t i = 0; i < nw; i++) {
        psy_time_t start, end;
        kpi_period_bounds(&w[i].period, &start, &end);
        fprintf(f, "psymon_kpi_window_start_timestamp_seconds{window=\"%s\"} %.0f\n", w[i].name,
                metrics_seconds(start));
    }
    metrics_head(f, "psymon_kpi_window_end_timestamp_seconds", "gauge",
                 "Unix time at which the period a KPI window holds ends (exclusive).");
    for (size_t i = 0; i < nw; i++) {
        psy_time_t start, end;
        kpi_period_bounds(&w[i].period, &start, &end);
        fprintf(f, "psymon_kpi_window_end_timestamp_seconds{window=\"%s\"} %.0f\n", w[i].name,
                metrics_seconds(end));
    }
    metrics_head(f, "psymon_kpi", "gauge",
                 "KPI values of kpis.md in their printed unit, for the latest complete period of "
                 "the window (r12: rolling twelve months ending last month; month: last month).");
    for (size_t i = 0; i < nw; i++) {
        for (size_t r = 0; r < w[i].nrows; r++) {
            const kpi_row_t *row = &w[i].rows[r];
            const char *level = metrics_level(conf, row->level);
            const char *kpi = row->kpi >= 0 ? kpi_name((size_t)row->kpi) : NULL;
            if (!row->value.set || !level || !kpi)
                continue;
            fprintf(f, "psymon_kpi{window=\"%s\",center=\"%s\",kpi=\"%s\"} %.4f\n", w[i].name,
                    level, kpi, row->value.v);
        }
    }
}

int
metrics_write(FILE *f, const metrics_input_t *in)
{
    if (!f || !in || !in->conf)
        return -EINVAL;
    if (in->counters)
        metrics_counters(f, in->counters);
    metrics_head(f, "psymon_ready", "gauge", "1 when the aggregator is ready.");
    fprintf(f, "psymon_ready %d\n", in->ready ? 1 : 0);
    metrics_head(f, "psymon_build_info", "gauge", "The aggregator's version; 1.");
    fprintf(f, "psymon_build_info{version=\"%s\"} 1\n", PSYMON_VERSION);
    metrics_head(f, "psymon_region_info", "gauge", "The configured [region] name; 1.");
    if (in->conf->region_name[0]) {
        fputs("psymon_region_info{name=\"", f);
        metrics_label(f, in->conf->region_name);
        fputs("\"} 1\n", f);
    }
    metrics_head(f, "psymon_target_intrusive_reduction_percent", "gauge",
                 "The configured reduction of intrusive episodes per 100,000 by the last target "
                 "month (intrusive_reduction_pct).");
    fprintf(f, "psymon_target_intrusive_reduction_percent %.4f\n", in->conf->target_pct);
    if (in->status)
        metrics_centers(f, in->conf, in->status, in->now);
    if (in->windows)
        metrics_kpis(f, in->conf, in->windows, in->nwindows);
    return ferror(f) ? -EIO : 0;
}
