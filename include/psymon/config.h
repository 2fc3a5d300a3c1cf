/*
 * The two INI configuration files of interfaces.md.
 *
 * Parsing checks every key; an unknown key, a bad value or a missing
 * required key is an error naming file, line and key. Relative paths are
 * made absolute against the configuration file's folder.
 */
#ifndef PSYMON_CONFIG_H
#define PSYMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"

typedef struct {
    int year;
    long population;
} psy_population_t;

typedef struct {
    size_t count;
    psy_population_t years[PSY_POP_YEARS_MAX]; /* sorted by year */
} psy_populations_t;

typedef struct {
    char id[PSY_CENTER_MAX + 1];
    char name[PSY_NAME_MAX + 1];
    /* Z85 public keys (40 characters); two while a key is rotated. */
    size_t nkeys;
    char keys[2][41];
    psy_populations_t population;
} psy_center_conf_t;

/* [goal KPI]: a constant target for a KPI's SPC chart (spc.md, assurance). */
typedef struct {
    char kpi[PSY_KPI_NAME_MAX + 1];
    double target; /* in the KPI's printed unit (a percentage as 0-100) */
    int line;      /* of the section header, for errors found after parsing */
} psy_goal_conf_t;

typedef enum {
    PSY_ALERT_OP_GT = 1,
    PSY_ALERT_OP_GE,
    PSY_ALERT_OP_LT,
    PSY_ALERT_OP_LE
} psy_alert_op_t;

/*
 * [alert NAME]: tunes a built-in rule of alerts.md (kind empty) or defines
 * a rule of one's own (kind = threshold). Durations are microseconds;
 * -1 (or an empty string, or enabled = -1) means "not given: the rule's default".
 * Whether NAME is a built-in rule, and whether kpi exists, the aggregator
 * checks (config.c knows neither list). A threshold rule always has kpi, op
 * and value; config.c fills in its severity ("warning") and centers ("all").
 * A tuning section has no kpi, op, value, centers or summary.
 */
typedef struct {
    char name[PSY_NAME_MAX + 1]; /* the alertname */
    int line;                    /* of the section header */
    int enabled;                 /* 1, 0, or -1 when not given */
    int64_t for_us, keep_firing_for_us;
    char severity[16]; /* critical, warning, info, or "" */
    bool threshold;    /* kind = threshold */
    char kpi[PSY_KPI_NAME_MAX + 1];
    int period; /* kpi_period_kind_t of kpi.h: 0 month, 1 quarter, 2 year, 3 r12 */
    psy_alert_op_t op;
    double value;
    /* "all", "region", or ids of configured centers separated by commas, no white space. */
    char centers[PSY_NAME_MAX * 4];
    char summary[PSY_NAME_MAX * 2];
} psy_alert_conf_t;

/* [notify]: where alerts go (alerts.md, "Notifications"). */
typedef struct {
    size_t nwebhook;
    char webhook[PSY_NOTIFY_MAX][PSY_URL_MAX + 1];
    size_t nalertmanager;
    char alertmanager[PSY_NOTIFY_MAX][PSY_URL_MAX + 1];
    char exec[PSY_PATH_MAX];    /* "" when not given */
    int64_t repeat_interval_us; /* default 24 h */
    bool send_resolved;         /* default true */
} psy_notify_conf_t;

typedef struct {
    char listen[PSY_NAME_MAX + 1];
    char secret_key_file[PSY_PATH_MAX];
    char data_dir[PSY_PATH_MAX];
    char http_listen[PSY_NAME_MAX + 1];
    char timezone[PSY_NAME_MAX + 1];

    size_t ncenters;
    psy_center_conf_t centers[PSY_CENTERS_MAX]; /* in the file's order */

    char region_name[PSY_NAME_MAX + 1];
    psy_populations_t region_population; /* count 0: sum of the centers' */

    double target_pct; /* intrusive_reduction_pct */
    size_t nbaseline;
    int baseline_years[PSY_BASELINE_MAX];
    int first_year, first_month; /* target first_month */
    int last_year, last_month;   /* target last_month */

    /* default "http://" http_listen "/"; always ends in '/', so a link is external_url + path */
    char external_url[PSY_URL_MAX + 1];

    size_t ngoals;
    psy_goal_conf_t goals[PSY_GOALS_MAX]; /* in the file's order */
    size_t nalerts;
    psy_alert_conf_t alerts[PSY_ALERTS_MAX]; /* in the file's order */
    psy_notify_conf_t notify;
} psy_agg_conf_t;

typedef struct {
    char center[PSY_CENTER_MAX + 1];
    char aggregator[PSY_NAME_MAX + 1];
    char aggregator_public_key[41];
    char secret_key_file[PSY_PATH_MAX];
    char pseudonym_key_file[PSY_PATH_MAX];
    char inbox[PSY_PATH_MAX];
    char state_dir[PSY_PATH_MAX];
    int done_days;
    long spool_max_mb; /* spool size cap */
} psy_coll_conf_t;

/*
 * Parses `path`. Returns 0, or a negative errno with a one-line message
 * ("FILE:LINE: key 'x': ...") in err (err_size bytes) and *ret unspecified.
 * -ENOENT etc. when the file cannot be read, -EINVAL for bad content.
 */
int psy_agg_conf_load(const char *path, psy_agg_conf_t *ret, char *err, size_t err_size);
int psy_coll_conf_load(const char *path, psy_coll_conf_t *ret, char *err, size_t err_size);

/* The center whose configured key list holds `z85_public_key`, or NULL. */
const psy_center_conf_t *psy_agg_conf_center_by_key(const psy_agg_conf_t *c,
                                                    const char *z85_public_key);
/* The center with id `id`, or NULL. */
const psy_center_conf_t *psy_agg_conf_center(const psy_agg_conf_t *c, const char *id);

/*
 * The population for `year`: that year's, else the nearest earlier
 * configured year's, else the nearest later one's; 0 when none is set.
 */
long psy_population_for(const psy_populations_t *p, int year);

#endif
