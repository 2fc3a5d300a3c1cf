/*
 * config: the aggregator and collector files of interfaces.md, written to
 * a temporary folder. Valid files parse to what they say; every kind of bad
 * file is refused with a message naming file, line and key.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "psymon/config.h"

typedef struct {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
    char key[3][41];   /* Z85 public keys */
    char hash_key[41]; /* one holding '#', the character inih must not take for a comment */
    char err[512];
    psy_agg_conf_t agg;
    psy_coll_conf_t coll;
} fx_t;

static int
setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    char secret[41];

    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_config.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    for (int i = 0; i < 3; i++)
        if (zmq_curve_keypair(f->key[i], secret) != 0)
            return -1;
    do {
        if (zmq_curve_keypair(f->hash_key, secret) != 0)
            return -1;
    } while (!strchr(f->hash_key, '#'));
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *f = *state;
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Writes `text` to dir/name (creating sub-folders named in it) and sets f->path. */
static const char *
write_conf(fx_t *f, const char *name, const char *text)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    char *slash = strrchr(f->path, '/');
    *slash = '\0';
    mkdir(f->path, 0700);
    *slash = '/';
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    return f->path;
}

static int
load_agg(fx_t *f, const char *text)
{
    memset(f->err, 0, sizeof f->err);
    return psy_agg_conf_load(write_conf(f, "agg.conf", text), &f->agg, f->err, sizeof f->err);
}

static int
load_coll(fx_t *f, const char *text)
{
    memset(f->err, 0, sizeof f->err);
    return psy_coll_conf_load(write_conf(f, "coll.conf", text), &f->coll, f->err, sizeof f->err);
}

/* The example of interfaces.md, comments and all, with real keys. */
static void
test_agg_example(void **state)
{
    fx_t *f = *state;
    char text[4096], want[PATH_MAX + 64];

    snprintf(text, sizeof text,
             "[aggregator]\n"
             "listen = tcp://127.0.0.1:7470        ; where collectors connect\n"
             "secret_key_file = aggregator.key     ; its CURVE secret key (psymon keygen)\n"
             "data_dir = /var/lib/psymon           ; everything it stores\n"
             "http_listen = 127.0.0.1:8470         ; dashboard and API\n"
             "timezone = Europe/Copenhagen\n"
             "\n"
             "[center pc-amager]                   ; one section per center; the id is\n"
             "name = Psykiatrisk Center Amager     ; 1-32 bytes of a-z 0-9 -\n"
             "public_key = %s        ; one key, or two separated by a\n"
             "                                     ; comma while a key is rotated\n"
             "population.2021 = 251000             ; catchment population by year\n"
             "population.2024 = 262000\n"
             "\n"
             "[region]                             ; optional\n"
             "name = Region Hovedstaden\n"
             "population.2024 = 1900000            ; when set, the region's population;\n"
             "                                     ; else the sum of the centers'\n"
             "\n"
             "[target]                             ; all optional, these are the defaults\n"
             "intrusive_reduction_pct = 30\n"
             "baseline_years = 2021,2022,2023\n"
             "first_month = 2024-01\n"
             "last_month = 2030-12\n",
             f->key[0]);
    if (load_agg(f, text) != 0)
        fail_msg("%s", f->err);
    const psy_agg_conf_t *c = &f->agg;
    assert_string_equal(c->listen, "tcp://127.0.0.1:7470");
    snprintf(want, sizeof want, "%s/aggregator.key", f->dir);
    assert_string_equal(c->secret_key_file, want);
    assert_string_equal(c->data_dir, "/var/lib/psymon");
    assert_string_equal(c->http_listen, "127.0.0.1:8470");
    assert_string_equal(c->timezone, "Europe/Copenhagen");
    assert_int_equal(c->ncenters, 1);
    assert_string_equal(c->centers[0].id, "pc-amager");
    assert_string_equal(c->centers[0].name, "Psykiatrisk Center Amager");
    assert_int_equal(c->centers[0].nkeys, 1);
    assert_string_equal(c->centers[0].keys[0], f->key[0]);
    assert_int_equal(c->centers[0].population.count, 2);
    assert_int_equal(c->centers[0].population.years[0].year, 2021);
    assert_int_equal(c->centers[0].population.years[0].population, 251000);
    assert_int_equal(c->centers[0].population.years[1].year, 2024);
    assert_int_equal(c->centers[0].population.years[1].population, 262000);
    assert_string_equal(c->region_name, "Region Hovedstaden");
    assert_int_equal(c->region_population.count, 1);
    assert_int_equal(psy_population_for(&c->region_population, 2024), 1900000);
    assert_true(c->target_pct == 30.0);
    assert_int_equal(c->nbaseline, 3);
    assert_int_equal(c->baseline_years[0], 2021);
    assert_int_equal(c->baseline_years[2], 2023);
    assert_int_equal(c->first_year * 100 + c->first_month, 202401);
    assert_int_equal(c->last_year * 100 + c->last_month, 203012);

    assert_ptr_equal(psy_agg_conf_center_by_key(c, f->key[0]), &c->centers[0]);
    assert_null(psy_agg_conf_center_by_key(c, f->key[1]));
    assert_null(psy_agg_conf_center_by_key(c, ""));
    assert_ptr_equal(psy_agg_conf_center(c, "pc-amager"), &c->centers[0]);
    assert_null(psy_agg_conf_center(c, "pc-nowhere"));
}

/* Only the required keys: the defaults of interfaces.md fill in the rest. */
static void
test_agg_defaults(void **state)
{
    fx_t *f = *state;

    assert_int_equal(load_agg(f, "[aggregator]\nlisten = tcp://*:7470\n"
                                 "secret_key_file = /k/a.key\ndata_dir = data\n"),
                     0);
    const psy_agg_conf_t *c = &f->agg;
    assert_string_equal(c->secret_key_file, "/k/a.key");
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/data", f->dir);
    assert_string_equal(c->data_dir, want);
    assert_string_equal(c->http_listen, "127.0.0.1:8470");
    assert_int_equal(c->ncenters, 0);
    assert_int_equal(c->region_population.count, 0);
    assert_true(c->target_pct == 30.0);
    assert_int_equal(c->nbaseline, 3);
    assert_int_equal(c->baseline_years[0], 2021);
    assert_int_equal(c->baseline_years[1], 2022);
    assert_int_equal(c->baseline_years[2], 2023);
    assert_int_equal(c->first_year * 100 + c->first_month, 202401);
    assert_int_equal(c->last_year * 100 + c->last_month, 203012);

    /* And every [target] key set. */
    assert_int_equal(load_agg(f, "[aggregator]\nlisten = tcp://*:7470\n"
                                 "secret_key_file = a.key\ndata_dir = data\n"
                                 "[target]\nintrusive_reduction_pct = 12.5\n"
                                 "baseline_years = 2018, 2019\n"
                                 "first_month = 2025-03\nlast_month = 2025-03\n"),
                     0);
    assert_true(c->target_pct == 12.5);
    assert_int_equal(c->nbaseline, 2);
    assert_int_equal(c->baseline_years[1], 2019);
    assert_int_equal(c->first_year * 100 + c->first_month, 202503);
    assert_int_equal(c->last_year * 100 + c->last_month, 202503);
}

#define AGG_HEAD "[aggregator]\nlisten = tcp://*:7470\nsecret_key_file = a.key\ndata_dir = data\n"

/* Two keys while a key is rotated; each finds its center. */
static void
test_agg_two_keys(void **state)
{
    fx_t *f = *state;
    char text[2048];

    snprintf(text, sizeof text,
             AGG_HEAD "[center pc-a]\npublic_key = %s,%s\n"
                      "[center pc-b]\npublic_key = %s , %s ; the second holds '#'\n"
                      "[center pc-c]\npublic_key =\n",
             f->key[0], f->key[1], f->key[2], f->hash_key);
    if (load_agg(f, text) != 0)
        fail_msg("%s", f->err);
    const psy_agg_conf_t *c = &f->agg;
    assert_int_equal(c->ncenters, 3);
    assert_int_equal(c->centers[0].nkeys, 2);
    assert_string_equal(c->centers[0].keys[1], f->key[1]);
    assert_int_equal(c->centers[1].nkeys, 2);
    assert_string_equal(c->centers[1].keys[1], f->hash_key);
    /* A center shut out keeps its section with no key. */
    assert_int_equal(c->centers[2].nkeys, 0);
    assert_string_equal(c->centers[2].name, "pc-c");
    assert_ptr_equal(psy_agg_conf_center_by_key(c, f->key[0]), &c->centers[0]);
    assert_ptr_equal(psy_agg_conf_center_by_key(c, f->key[1]), &c->centers[0]);
    assert_ptr_equal(psy_agg_conf_center_by_key(c, f->key[2]), &c->centers[1]);
    assert_ptr_equal(psy_agg_conf_center_by_key(c, f->hash_key), &c->centers[1]);
    assert_ptr_equal(psy_agg_conf_center(c, "pc-c"), &c->centers[2]);
}

/* '#' after a value is part of it; ';' after a space starts a comment; '#' starts a line comment.
 */
static void
test_comments(void **state)
{
    fx_t *f = *state;
    char text[2048];

    snprintf(text, sizeof text,
             "# a comment line\n"
             "; another\n"
             "  # indented comment\n" AGG_HEAD "[center pc-a]\n"
             "name = Center #1 ; the name holds a hash\n"
             "public_key = %s\n"
             "# public_key = %s\n",
             f->hash_key, f->key[0]);
    if (load_agg(f, text) != 0)
        fail_msg("%s", f->err);
    assert_string_equal(f->agg.centers[0].name, "Center #1");
    assert_int_equal(f->agg.centers[0].nkeys, 1);
    assert_string_equal(f->agg.centers[0].keys[0], f->hash_key);

    assert_int_equal(load_agg(f, AGG_HEAD "[region]\nname = Region;Hovedstaden\n"), 0);
    assert_string_equal(f->agg.region_name, "Region;Hovedstaden");
    assert_int_equal(load_agg(f, AGG_HEAD "[region]\nname = Region\t; comment\n"), 0);
    assert_string_equal(f->agg.region_name, "Region");
}

/* Relative paths are relative to the file's folder, also when the file is named relatively. */
static void
test_relative_paths(void **state)
{
    fx_t *f = *state;
    char cwd[PATH_MAX], want[PATH_MAX + 64];

    write_conf(f, "etc/agg.conf", AGG_HEAD);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    int r = psy_agg_conf_load("etc/agg.conf", &f->agg, f->err, sizeof f->err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r, 0);
    snprintf(want, sizeof want, "%s/etc/a.key", f->dir);
    assert_string_equal(f->agg.secret_key_file, want);
    snprintf(want, sizeof want, "%s/etc/data", f->dir);
    assert_string_equal(f->agg.data_dir, want);

    /* A file in the current folder, named without a folder. */
    assert_int_equal(chdir(f->dir), 0);
    write_conf(f, "agg.conf", AGG_HEAD);
    r = psy_agg_conf_load("agg.conf", &f->agg, f->err, sizeof f->err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r, 0);
    snprintf(want, sizeof want, "%s/./a.key", f->dir);
    char rp[PATH_MAX], wp[PATH_MAX];
    /* Compare the folders as the kernel sees them (either spelling is fine). */
    *strrchr(f->agg.secret_key_file, '/') = '\0';
    assert_non_null(realpath(f->agg.secret_key_file, rp));
    assert_non_null(realpath(f->dir, wp));
    assert_string_equal(rp, wp);
    assert_true(f->agg.data_dir[0] == '/');
}

typedef struct {
    const char *text;
    int line;           /* the line the message must name, 0 for none */
    const char *needle; /* the key or section the message must name */
} bad_t;

/* Each bad file is refused with "FILE:LINE: ... 'key' ...". */
static void
check_bad_agg(fx_t *f, const bad_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = load_agg(f, cases[i].text);
        if (r != -EINVAL)
            fail_msg("case %zu accepted (%d):\n%s", i, r, cases[i].text);
        char where[PATH_MAX + 64];
        if (cases[i].line)
            snprintf(where, sizeof where, "%s:%d: ", f->path, cases[i].line);
        else
            snprintf(where, sizeof where, "%s", f->path);
        if (strncmp(f->err, where, strlen(where)) != 0 || !strstr(f->err, cases[i].needle))
            fail_msg("case %zu: message '%s' does not name '%s' and '%s'", i, f->err, where,
                     cases[i].needle);
        if (strchr(f->err, '\n'))
            fail_msg("case %zu: message is more than one line: '%s'", i, f->err);
    }
}

/* Adds a bad file to the local `cases` (texts in `texts`, n of them so far). */
#define BAD(line_no, needle, ...)                                                                  \
    do {                                                                                           \
        assert_true(n < sizeof cases / sizeof cases[0]);                                           \
        snprintf(texts[n], sizeof texts[n], __VA_ARGS__);                                          \
        cases[n] = (bad_t){texts[n], line_no, needle};                                             \
        n++;                                                                                       \
    } while (0)

static void
test_agg_errors(void **state)
{
    fx_t *f = *state;
    static char texts[32][1024];
    char long_line[8192];
    size_t n = 0;
    bad_t cases[32];

    BAD(5, "'bogus'", AGG_HEAD "bogus = 1\n");
    BAD(5, "'Listen'", AGG_HEAD "Listen = x\n");
    /* inih reports no section without keys: the first key names the section. */
    BAD(6, "[nonsense]",
        AGG_HEAD "[nonsense]\n"
                 "a = b\n");
    BAD(1, "[]", "orphan = 1\n" AGG_HEAD);
    BAD(5, "'listen'", AGG_HEAD "listen = tcp://*:7471\n");
    BAD(7, "'name'", AGG_HEAD "[center pc-a]\nname = A\nname = B\n");
    BAD(10, "'population.2021'",
        AGG_HEAD "[center pc-a]\npopulation.2021 = 1\n[region]\n"
                 "population.2021 = 5\n"
                 "[center pc-a]\npopulation.2021 = 2\n");
    BAD(6, "pc_a", AGG_HEAD "[center pc_a]\nname = x\n");
    BAD(6, "PC-A", AGG_HEAD "[center PC-A]\nname = x\n");
    BAD(6, "center", AGG_HEAD "[center 0123456789012345678901234567890123]\nname = x\n");
    BAD(6, "'public_key'", AGG_HEAD "[center pc-a]\npublic_key = tooshort\n");
    BAD(6, "'public_key'", AGG_HEAD "[center pc-a]\npublic_key = %s,%s,%s\n", f->key[0], f->key[1],
        f->key[2]);
    BAD(6, "'public_key'", AGG_HEAD "[center pc-a]\npublic_key = %s;x\n", f->key[0]);
    BAD(6, "'public_key'", AGG_HEAD "[center pc-a]\npublic_key = %s %s\n", f->key[0], f->key[1]);
    BAD(6, "'population.2024'", AGG_HEAD "[center pc-a]\npopulation.2024 = -5\n");
    BAD(6, "'population.2024'", AGG_HEAD "[center pc-a]\npopulation.2024 = 12abc\n");
    BAD(6, "'population.2024'", AGG_HEAD "[center pc-a]\npopulation.2024 =\n");
    BAD(6, "'population.20x4'", AGG_HEAD "[center pc-a]\npopulation.20x4 = 5\n");
    BAD(6, "'population.'", AGG_HEAD "[center pc-a]\npopulation. = 5\n");
    BAD(6, "'population.99999'", AGG_HEAD "[center pc-a]\npopulation.99999 = 5\n");
    BAD(6, "'population'", AGG_HEAD "[center pc-a]\npopulation = 5\n");
    BAD(6, "'population.2024'", AGG_HEAD "[region]\npopulation.2024 = 99999999999999999999\n");
    BAD(6, "'intrusive_reduction_pct'", AGG_HEAD "[target]\nintrusive_reduction_pct = 101\n");
    BAD(6, "'intrusive_reduction_pct'", AGG_HEAD "[target]\nintrusive_reduction_pct = nan\n");
    BAD(6, "'baseline_years'", AGG_HEAD "[target]\nbaseline_years = 2021;2022\n");
    BAD(6, "'first_month'", AGG_HEAD "[target]\nfirst_month = 2024-13\n");
    BAD(6, "'last_month'", AGG_HEAD "[target]\nlast_month = 2024\n");
    BAD(7, "'last_month'", AGG_HEAD "[target]\nfirst_month = 2025-01\nlast_month = 2024-12\n");
    BAD(5, "'timezone'", AGG_HEAD "timezone = Mars/Olympus\n");
    /* Missing required keys: the message names the key (there is no line to name). */
    BAD(0, "'listen'", "[aggregator]\nsecret_key_file = a.key\ndata_dir = d\n");
    BAD(0, "'data_dir'", "[aggregator]\nlisten = x\nsecret_key_file = a.key\n");
    check_bad_agg(f, cases, n);

    /* Syntax errors and a line longer than the parser's buffer. */
    assert_int_equal(load_agg(f, AGG_HEAD "just words\n"), -EINVAL);
    assert_non_null(strstr(f->err, ":5:"));
    assert_int_equal(load_agg(f, AGG_HEAD "[center pc-a\n"), -EINVAL);
    assert_non_null(strstr(f->err, ":5:"));
    memset(long_line, 'x', sizeof long_line);
    memcpy(long_line, AGG_HEAD "[region]\nname = ", strlen(AGG_HEAD "[region]\nname = "));
    memcpy(long_line + sizeof long_line - 2, "\n", 2);
    assert_int_equal(load_agg(f, long_line), -EINVAL);
    assert_non_null(strstr(f->err, ":6:"));

    /* A file that does not exist. */
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/nope.conf", f->dir);
    assert_int_equal(psy_agg_conf_load(missing, &f->agg, f->err, sizeof f->err), -ENOENT);
    assert_non_null(strstr(f->err, missing));
}

/* Every new error of this wave: a value that is not one, and configuration that cannot be meant. */
static void
test_agg_errors_goal_alert_notify(void **state)
{
    fx_t *f = *state;
    static char texts[80][1024];
    char name129[130];
    size_t n = 0;
    bad_t cases[80];

    memset(name129, 'A', 129);
    name129[129] = '\0';

    /* [aggregator] external_url */
    BAD(5, "'external_url'", AGG_HEAD "external_url = ftp://psymon.example/\n");
    BAD(5, "'external_url'", AGG_HEAD "external_url = http://\n");
    BAD(5, "'external_url'", AGG_HEAD "external_url = https:///path\n");
    BAD(5, "'external_url'", AGG_HEAD "external_url = psymon.example\n");
    BAD(5, "'external_url'", AGG_HEAD "external_url = http://a b/\n");
    BAD(5, "'external_url'", AGG_HEAD "external_url =\n");

    /* A population of 0, in a center or in the region. */
    BAD(6, "'population.2024'", AGG_HEAD "[center pc-a]\npopulation.2024 = 0\n");
    BAD(7, "'population.2022'", AGG_HEAD "[region]\nname = R\npopulation.2022 = 0\n");

    /* A baseline year after the target's last month; an empty month range. */
    BAD(6, "'baseline_years'", AGG_HEAD "[target]\nbaseline_years = 2021, 2031\n");
    BAD(6, "'baseline_years'",
        AGG_HEAD "[target]\nbaseline_years = 2021\nfirst_month = 2020-01\nlast_month = 2020-12\n");
    BAD(6, "'last_month'", AGG_HEAD "[target]\nlast_month = 2022-06\n"); /* baseline 2023 */
    BAD(6, "'first_month'", AGG_HEAD "[target]\nfirst_month = 2031-01\n");
    BAD(6, "'baseline_years'", AGG_HEAD "[target]\nbaseline_years = 2021,2022,2021\n");

    /* [goal KPI] */
    BAD(6, "[goal Readmission]", AGG_HEAD "[goal Readmission]\ntarget = 20\n");
    BAD(6, "[goal]", AGG_HEAD "[goal]\ntarget = 20\n");
    BAD(6, "goal",
        AGG_HEAD "[goal a123456789a123456789a123456789a123456789a123456789a123456789abcde]\n"
                 "target = 1\n");
    BAD(6, "'target'", AGG_HEAD "[goal readmission_rate_30d]\ntarget = twenty\n");
    BAD(6, "'target'", AGG_HEAD "[goal readmission_rate_30d]\ntarget =\n");
    BAD(6, "'target'", AGG_HEAD "[goal readmission_rate_30d]\ntarget = inf\n");
    BAD(10, "'target'",
        AGG_HEAD "[goal readmission_rate_30d]\ntarget = 20\n[goal patients]\ntarget = 1\n"
                 "[goal readmission_rate_30d]\ntarget = 21\n");
    BAD(6, "'goal'", AGG_HEAD "[goal readmission_rate_30d]\ngoal = 20\n");

    /* [alert NAME]: names and the keys a built-in rule takes. */
    BAD(6, "[alert Spc-Concern]", AGG_HEAD "[alert Spc-Concern]\nenabled = false\n");
    BAD(6, "[alert]", AGG_HEAD "[alert]\nenabled = false\n");
    BAD(6, "alert", AGG_HEAD "[alert %s]\nenabled = false\n", name129);
    BAD(6, "name too long", AGG_HEAD "[alert %s%s]\nenabled = false\n", name129, name129);
    BAD(6, "'enabled'", AGG_HEAD "[alert SpcConcern]\nenabled = maybe\n");
    BAD(6, "'enabled'", AGG_HEAD "[alert SpcConcern]\nenabled = True\n");
    BAD(6, "'enabled'", AGG_HEAD "[alert SpcConcern]\nenabled =\n");
    BAD(6, "'for'", AGG_HEAD "[alert SpcConcern]\nfor = 10\n");
    BAD(6, "'for'", AGG_HEAD "[alert SpcConcern]\nfor = 1.5h\n");
    BAD(6, "'for'", AGG_HEAD "[alert SpcConcern]\nfor = -1s\n");
    BAD(6, "'for'", AGG_HEAD "[alert SpcConcern]\nfor = 1h30m\n");
    BAD(6, "'for'", AGG_HEAD "[alert SpcConcern]\nfor = 3651d\n");
    BAD(6, "'keep_firing_for'", AGG_HEAD "[alert SpcConcern]\nkeep_firing_for = 2w\n");
    BAD(6, "'keep_firing_for'", AGG_HEAD "[alert SpcConcern]\nkeep_firing_for = 5 m\n");
    BAD(6, "'severity'", AGG_HEAD "[alert SpcConcern]\nseverity = high\n");
    BAD(6, "'kind'", AGG_HEAD "[alert SpcConcern]\nkind = absent\n");
    BAD(7, "'enabled'", AGG_HEAD "[alert SpcConcern]\nenabled = 1\nenabled = 0\n");
    BAD(6, "'labels'", AGG_HEAD "[alert SpcConcern]\nlabels = x\n");
    /* A built-in rule is tuned, not redefined: rule keys there are an error, wherever given. */
    BAD(6, "'kpi'", AGG_HEAD "[alert SpcConcern]\nkpi = intrusive_episodes\nseverity = info\n");
    BAD(7, "'value'", AGG_HEAD "[alert SpcConcern]\nseverity = info\nvalue = 3\n");
    BAD(6, "'op'", AGG_HEAD "[alert SpcConcern]\nop = >\n");
    BAD(6, "'summary'", AGG_HEAD "[alert SpcConcern]\nsummary = x\n");
    BAD(6, "'centers'", AGG_HEAD "[alert SpcConcern]\ncenters = all\n");
    BAD(6, "'period'", AGG_HEAD "[alert SpcConcern]\nperiod = r12\n");

    /* kind = threshold: bad values, and the keys it needs (named at the section's line). */
#define RULE "[alert BeltsAbove20]\nkind = threshold\n" /* lines 5 and 6 */
    BAD(7, "'kpi'", AGG_HEAD RULE "kpi = Belts!\nop = >\nvalue = 1\n");
    BAD(7, "'kpi'",
        AGG_HEAD RULE "kpi = a123456789a123456789a123456789a123456789a123456789a123456789abcde\n");
    BAD(7, "'period'", AGG_HEAD RULE "period = week\n");
    BAD(7, "'op'", AGG_HEAD RULE "op = ==\n");
    BAD(7, "'op'", AGG_HEAD RULE "op = =>\n");
    BAD(7, "'value'", AGG_HEAD RULE "value = 20x\n");
    BAD(7, "'centers'", AGG_HEAD RULE "centers = pc_a\n");
    BAD(7, "'centers'", AGG_HEAD RULE "centers = pc-a,,pc-b\n");
    BAD(7, "'centers'", AGG_HEAD RULE "centers = pc-a,\n");
    BAD(7, "'centers'", AGG_HEAD RULE "centers = all, pc-a\n");
    BAD(7, "'summary'", AGG_HEAD RULE "summary =\n");
    BAD(5, "'kpi'", AGG_HEAD RULE "op = >\nvalue = 20\n");
    BAD(5, "'op'", AGG_HEAD RULE "kpi = coercion_episodes:belt\nvalue = 20\n");
    BAD(5, "'value'", AGG_HEAD RULE "kpi = coercion_episodes:belt\nop = >\n");
    BAD(5, "'value'",
        AGG_HEAD "[alert X]\nkpi = coercion_episodes:belt\nop = >\nkind = threshold\n");
    /* A center named in a rule must be configured, also one whose section comes later. */
    BAD(10, "'centers' in [alert BeltsAbove20]: there is no [center pc-z]",
        AGG_HEAD RULE "kpi = coercion_episodes:belt\nop = >\nvalue = 20\n"
                      "centers = pc-a, pc-z\n[center pc-a]\nname = A\n");
#undef RULE

    /* [notify] */
    BAD(6, "'webhook'", AGG_HEAD "[notify]\nwebhook = ftp://hooks.example/\n");
    BAD(6, "'webhook'", AGG_HEAD "[notify]\nwebhook =\n");
    BAD(6, "'webhook'", AGG_HEAD "[notify]\nwebhook = http://a/, ,http://b/\n");
    BAD(6, "'webhook'",
        AGG_HEAD "[notify]\nwebhook = http://1/,http://2/,http://3/,http://4/,http://5/,"
                 "http://6/,http://7/,http://8/,http://9/\n");
    BAD(6, "'alertmanager'", AGG_HEAD "[notify]\nalertmanager = http://am:9093, am2:9093\n");
    BAD(6, "'exec'", AGG_HEAD "[notify]\nexec =\n");
    BAD(6, "'repeat_interval'", AGG_HEAD "[notify]\nrepeat_interval = 30s\n");
    BAD(6, "'repeat_interval'", AGG_HEAD "[notify]\nrepeat_interval = 24\n");
    BAD(6, "'send_resolved'", AGG_HEAD "[notify]\nsend_resolved = sometimes\n");
    BAD(7, "'exec'", AGG_HEAD "[notify]\nexec = /bin/a\nexec = /bin/b\n");
    BAD(6, "[notify mail]", AGG_HEAD "[notify mail]\nexec = /bin/a\n");
    BAD(6, "'email'", AGG_HEAD "[notify]\nemail = a@b\n");
    check_bad_agg(f, cases, n);

    /* A URL longer than a buffer holds is refused, not cut. */
    char text[2048];
    snprintf(text, sizeof text, AGG_HEAD "[notify]\nwebhook = http://h/%0*d\n", PSY_URL_MAX, 0);
    assert_int_equal(load_agg(f, text), -EINVAL);
    assert_non_null(strstr(f->err, ":6: key 'webhook'"));
    snprintf(text, sizeof text, AGG_HEAD "external_url = http://h/%0*d\n", PSY_URL_MAX, 0);
    assert_int_equal(load_agg(f, text), -EINVAL);
    assert_non_null(strstr(f->err, ":5: key 'external_url'"));
    /* One that fits only without the '/' the parser adds. */
    snprintf(text, sizeof text, AGG_HEAD "external_url = http://h/%0*d\n",
             PSY_URL_MAX - (int)strlen("http://h/"), 0);
    assert_int_equal(load_agg(f, text), -EINVAL);
    assert_non_null(strstr(f->err, ":5: key 'external_url'"));
}
#undef BAD

/* The [goal], [alert] and [notify] sections and external_url of interfaces.md. */
static void
test_agg_goal_alert_notify(void **state)
{
    fx_t *f = *state;
    char want[PATH_MAX + 64];

    if (load_agg(f, AGG_HEAD
                 "external_url = https://psymon.regionh.example/dashboard\n" /* 5 */
                 "[center pc-a]\n"
                 "name = A\n"
                 "[goal readmission_rate_30d]          ; optional, any KPI with an SPC chart:\n"
                 "target = 20                          ; a constant target\n" /* 9 */
                 "[goal consultations:social_physician:network_meeting]\n"
                 "target = -2.5\n"
                 "\n"
                 "[alert SpcConcern]                   ; optional: tune a built-in rule\n" /* 13 */
                 "enabled = true                       ; (alerts.md); durations as 90s, 15m,\n"
                 "for = 0s                             ; 4h, 2d\n"
                 "keep_firing_for = 1d\n"
                 "severity = warning\n"
                 "\n"
                 "[alert BeltsAbove20]                 ; optional: a rule of one's own\n" /* 19 */
                 "kind = threshold\n"
                 "kpi = coercion_episodes:belt\n"
                 "period = month                       ; month, quarter, year or r12\n"
                 "op = >                               ; >, >=, <, <=\n"
                 "value = 20\n"
                 "centers = all                        ; all, region, or a list of center ids\n"
                 "severity = warning\n"
                 "summary = Flere end 20 bæltefikseringer på en måned\n"
                 "\n"
                 "[alert CoercionRegion]\n" /* 29 */
                 "kind = threshold\n"
                 "kpi = intrusive_per_1000_bed_days\n"
                 "period = r12\n"
                 "op = <=\n"
                 "value = 4.25\n"
                 "centers = pc-b , pc-a\n"
                 "severity = critical\n"
                 "\n"
                 "[notify]                             ; optional: where alerts go\n"
                 "webhook = http://127.0.0.1:9095/hook ; one or more URLs, comma-separated\n"
                 "alertmanager = http://127.0.0.1:9093, https://am2.example:9093 ; two\n"
                 "exec = bin/psymon-mail               ; a program, payload on stdin\n"
                 "repeat_interval = 4h\n"
                 "send_resolved = false\n"
                 "[center pc-b]\n"
                 "name = B\n") != 0)
        fail_msg("%s", f->err);
    const psy_agg_conf_t *c = &f->agg;

    assert_string_equal(c->external_url, "https://psymon.regionh.example/dashboard/");

    assert_int_equal(c->ngoals, 2);
    assert_string_equal(c->goals[0].kpi, "readmission_rate_30d");
    assert_true(c->goals[0].target == 20.0);
    assert_int_equal(c->goals[0].line, 8);
    /* Longer than inih keeps of a section name: kept whole all the same. */
    assert_string_equal(c->goals[1].kpi, "consultations:social_physician:network_meeting");
    assert_true(c->goals[1].target == -2.5);
    assert_int_equal(c->goals[1].line, 10);

    assert_int_equal(c->nalerts, 3);
    const psy_alert_conf_t *a = &c->alerts[0];
    assert_string_equal(a->name, "SpcConcern");
    assert_int_equal(a->line, 13);
    assert_int_equal(a->enabled, 1);
    assert_int_equal(a->for_us, 0);
    assert_int_equal(a->keep_firing_for_us, 86400 * INT64_C(1000000));
    assert_string_equal(a->severity, "warning");
    assert_false(a->threshold);

    a = &c->alerts[1];
    assert_string_equal(a->name, "BeltsAbove20");
    assert_int_equal(a->line, 19);
    assert_int_equal(a->enabled, -1);
    assert_int_equal(a->for_us, -1);
    assert_int_equal(a->keep_firing_for_us, -1);
    assert_true(a->threshold);
    assert_string_equal(a->kpi, "coercion_episodes:belt");
    assert_int_equal(a->period, 0);
    assert_int_equal(a->op, PSY_ALERT_OP_GT);
    assert_true(a->value == 20.0);
    assert_string_equal(a->centers, "all");
    assert_string_equal(a->severity, "warning");
    assert_string_equal(a->summary, "Flere end 20 bæltefikseringer på en måned");

    a = &c->alerts[2];
    assert_string_equal(a->name, "CoercionRegion");
    assert_int_equal(a->period, 3);
    assert_int_equal(a->op, PSY_ALERT_OP_LE);
    assert_true(a->value == 4.25);
    assert_string_equal(a->centers, "pc-b,pc-a"); /* without white space, in the file's order */
    assert_string_equal(a->severity, "critical");
    assert_string_equal(a->summary, "");

    assert_int_equal(c->notify.nwebhook, 1);
    assert_string_equal(c->notify.webhook[0], "http://127.0.0.1:9095/hook");
    assert_int_equal(c->notify.nalertmanager, 2);
    assert_string_equal(c->notify.alertmanager[0], "http://127.0.0.1:9093");
    assert_string_equal(c->notify.alertmanager[1], "https://am2.example:9093");
    snprintf(want, sizeof want, "%s/bin/psymon-mail", f->dir);
    assert_string_equal(c->notify.exec, want);
    assert_int_equal(c->notify.repeat_interval_us, 4 * 3600 * INT64_C(1000000));
    assert_false(c->notify.send_resolved);
}

/* Without the new sections: no goals, no alerts, notifications nowhere, and their defaults. */
static void
test_agg_goal_alert_notify_defaults(void **state)
{
    fx_t *f = *state;
    const psy_agg_conf_t *c = &f->agg;

    assert_int_equal(load_agg(f, AGG_HEAD), 0);
    assert_string_equal(c->external_url, "http://127.0.0.1:8470/");
    assert_int_equal(c->ngoals, 0);
    assert_int_equal(c->nalerts, 0);
    assert_int_equal(c->notify.nwebhook, 0);
    assert_int_equal(c->notify.nalertmanager, 0);
    assert_string_equal(c->notify.exec, "");
    assert_int_equal(c->notify.repeat_interval_us, 24 * 3600 * INT64_C(1000000));
    assert_true(c->notify.send_resolved);

    /* external_url follows http_listen, wherever that key stands. */
    assert_int_equal(load_agg(f, AGG_HEAD "http_listen = 0.0.0.0:9000\n"), 0);
    assert_string_equal(c->external_url, "http://0.0.0.0:9000/");
    assert_int_equal(load_agg(f, AGG_HEAD "external_url = http://h:1/x/\n"), 0);
    assert_string_equal(c->external_url, "http://h:1/x/");

    /* A tuning section leaves unset what it does not give. */
    assert_int_equal(load_agg(f, AGG_HEAD "[alert CollectorSilent]\nfor = 5m\n"), 0);
    assert_int_equal(c->nalerts, 1);
    assert_int_equal(c->alerts[0].enabled, -1);
    assert_int_equal(c->alerts[0].for_us, 300 * INT64_C(1000000));
    assert_int_equal(c->alerts[0].keep_firing_for_us, -1);
    assert_string_equal(c->alerts[0].severity, "");
    assert_false(c->alerts[0].threshold);
    assert_string_equal(c->alerts[0].centers, "");

    /* A threshold rule with only what it needs: month, all centers, warning. */
    assert_int_equal(load_agg(f, AGG_HEAD "[alert Mine]\nkind = threshold\nkpi = patients\n"
                                          "op = <\nvalue = 0\n"),
                     0);
    assert_true(c->alerts[0].threshold);
    assert_int_equal(c->alerts[0].period, 0);
    assert_int_equal(c->alerts[0].op, PSY_ALERT_OP_LT);
    assert_string_equal(c->alerts[0].centers, "all");
    assert_string_equal(c->alerts[0].severity, "warning");
    assert_int_equal(c->alerts[0].enabled, -1);

    /* Two sections of one name are one rule; a goal likewise. */
    assert_int_equal(load_agg(f, AGG_HEAD "[alert Mine]\nkind = threshold\nkpi = patients\n"
                                          "[goal patients]\ntarget = 1\n"
                                          "[alert Mine]\nop = <\nvalue = 0\ncenters = region\n"),
                     0);
    assert_int_equal(c->nalerts, 1);
    assert_int_equal(c->alerts[0].line, 5);
    assert_string_equal(c->alerts[0].centers, "region");
    assert_int_equal(c->ngoals, 1);
}

/* Each spelling of a duration, a boolean, a period and a comparison, and what it means. */
static void
test_agg_values(void **state)
{
    fx_t *f = *state;
    const psy_agg_conf_t *c = &f->agg;
    char text[1024];

    static const struct {
        const char *text;
        int64_t us;
    } durations[] = {
        {"0s", 0},
        {"90s", INT64_C(90000000)},
        {"15m", INT64_C(900000000)},
        {"4h", INT64_C(14400000000)},
        {"2d", INT64_C(172800000000)},
        {"3650d", INT64_C(3650) * 86400 * 1000000},
    };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        snprintf(text, sizeof text,
                 AGG_HEAD "[alert SpcConcern]\nfor = %s\nkeep_firing_for = %s\n"
                          "[notify]\nrepeat_interval = %s\n",
                 durations[i].text, durations[i].text,
                 durations[i].us < 60000000 ? "1m" : durations[i].text);
        if (load_agg(f, text) != 0)
            fail_msg("%s: %s", durations[i].text, f->err);
        assert_int_equal(c->alerts[0].for_us, durations[i].us);
        assert_int_equal(c->alerts[0].keep_firing_for_us, durations[i].us);
        if (durations[i].us >= 60000000)
            assert_int_equal(c->notify.repeat_interval_us, durations[i].us);
    }

    static const struct {
        const char *text;
        int value;
    } bools[] = {{"true", 1}, {"yes", 1}, {"1", 1}, {"false", 0}, {"no", 0}, {"0", 0}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        snprintf(text, sizeof text,
                 AGG_HEAD "[alert SpcConcern]\nenabled = %s\n[notify]\nsend_resolved = %s\n",
                 bools[i].text, bools[i].text);
        assert_int_equal(load_agg(f, text), 0);
        assert_int_equal(c->alerts[0].enabled, bools[i].value);
        assert_int_equal(c->notify.send_resolved, bools[i].value);
    }

    static const struct {
        const char *period;
        int kind;
        const char *op;
        psy_alert_op_t value;
        const char *severity;
    } rules[] = {
        {"month", 0, ">", PSY_ALERT_OP_GT, "critical"},
        {"quarter", 1, ">=", PSY_ALERT_OP_GE, "warning"},
        {"year", 2, "<", PSY_ALERT_OP_LT, "info"},
        {"r12", 3, "<=", PSY_ALERT_OP_LE, "warning"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        snprintf(text, sizeof text,
                 AGG_HEAD "[alert R]\nkind = threshold\nkpi = patients\nperiod = %s\nop = %s\n"
                          "value = -1e3\nseverity = %s\n",
                 rules[i].period, rules[i].op, rules[i].severity);
        if (load_agg(f, text) != 0)
            fail_msg("%s", f->err);
        assert_int_equal(c->alerts[0].period, rules[i].kind);
        assert_int_equal(c->alerts[0].op, rules[i].value);
        assert_string_equal(c->alerts[0].severity, rules[i].severity);
        assert_true(c->alerts[0].value == -1000.0);
    }

    /* PSY_NOTIFY_MAX URLs of each kind, the longest that fit. */
    char urls[PSY_NOTIFY_MAX * 32] = "", big[PSY_URL_MAX + 1];
    for (int i = 0; i < PSY_NOTIFY_MAX; i++)
        snprintf(urls + strlen(urls), sizeof urls - strlen(urls), "%shttp://h%d/", i ? ", " : "",
                 i);
    snprintf(big, sizeof big, "https://h/%0*d", PSY_URL_MAX - (int)strlen("https://h/"), 0);
    static char long_text[8192];
    snprintf(long_text, sizeof long_text, AGG_HEAD "[notify]\nwebhook = %s\nalertmanager = %s\n",
             urls, big);
    if (load_agg(f, long_text) != 0)
        fail_msg("%s", f->err);
    assert_int_equal(c->notify.nwebhook, PSY_NOTIFY_MAX);
    assert_string_equal(c->notify.webhook[PSY_NOTIFY_MAX - 1], "http://h7/");
    assert_int_equal(c->notify.nalertmanager, 1);
    assert_string_equal(c->notify.alertmanager[0], big);
}

/* The same center given in two sections is one center; a key given in both is a duplicate. */
static void
test_agg_center_twice(void **state)
{
    fx_t *f = *state;
    char text[1024];

    snprintf(text, sizeof text,
             AGG_HEAD "[center pc-a]\nname = A\n[center pc-b]\nname = B\n"
                      "[center pc-a]\npublic_key = %s\n",
             f->key[0]);
    assert_int_equal(load_agg(f, text), 0);
    assert_int_equal(f->agg.ncenters, 2);
    assert_string_equal(f->agg.centers[0].name, "A");
    assert_ptr_equal(psy_agg_conf_center_by_key(&f->agg, f->key[0]), &f->agg.centers[0]);

    /* Spelled with other white space, it is still the same center. */
    assert_int_equal(load_agg(f, AGG_HEAD "[center pc-a]\nname = A\n[center \tpc-a]\nname = B\n"),
                     -EINVAL);
    assert_non_null(strstr(f->err, "'name'"));
}

/* Every key is remembered, however many there are, so no duplicate slips through. */
static void
test_agg_many_keys(void **state)
{
    fx_t *f = *state;
    size_t size = 1 << 20, len = 0;
    char *text = malloc(size);
    (void)state;

    assert_non_null(text);
    len += (size_t)snprintf(text + len, size - len, AGG_HEAD);
    for (int c = 0; c < PSY_CENTERS_MAX; c++) {
        len += (size_t)snprintf(text + len, size - len, "[center c%d]\nname = C%d\n", c, c);
        for (int y = 0; y < PSY_POP_YEARS_MAX; y++)
            len += (size_t)snprintf(text + len, size - len, "population.%d = %d\n", 2000 + y,
                                    c * 1000 + y + 1);
    }
    if (load_agg(f, text) != 0)
        fail_msg("%s", f->err);
    assert_int_equal(f->agg.ncenters, PSY_CENTERS_MAX);
    assert_int_equal(f->agg.centers[63].population.count, PSY_POP_YEARS_MAX);
    assert_int_equal(psy_population_for(&f->agg.centers[63].population, 2063), 63064);

    /* The same, plus a duplicate at the very end. */
    snprintf(text + len, size - len, "name = again\n");
    assert_int_equal(load_agg(f, text), -EINVAL);
    assert_non_null(strstr(f->err, "'name' given twice"));
    snprintf(text + len, size - len, "[region]\npopulation.2000 = 1\npopulation.2000 = 1\n");
    assert_int_equal(load_agg(f, text), -EINVAL);
    assert_non_null(strstr(f->err, "'population.2000' given twice"));

    /* One center more than the limit. */
    snprintf(text + len, size - len, "[center one-too-many]\nname = x\n");
    assert_int_equal(load_agg(f, text), -EINVAL);
    assert_non_null(strstr(f->err, "one-too-many"));
    free(text);
}

static void
test_population_for(void **state)
{
    psy_populations_t p = {0};
    (void)state;

    assert_int_equal(psy_population_for(&p, 2024), 0);
    p.count = 1;
    p.years[0] = (psy_population_t){2022, 100};
    assert_int_equal(psy_population_for(&p, 2022), 100);
    assert_int_equal(psy_population_for(&p, 1999), 100); /* nearest later */
    assert_int_equal(psy_population_for(&p, 2099), 100); /* nearest earlier */
    p.count = 3;
    p.years[1] = (psy_population_t){2024, 200};
    p.years[2] = (psy_population_t){2027, 300};
    assert_int_equal(psy_population_for(&p, 2020), 100);
    assert_int_equal(psy_population_for(&p, 2021), 100);
    assert_int_equal(psy_population_for(&p, 2022), 100);
    assert_int_equal(psy_population_for(&p, 2023), 100);
    assert_int_equal(psy_population_for(&p, 2024), 200);
    assert_int_equal(psy_population_for(&p, 2026), 200);
    assert_int_equal(psy_population_for(&p, 2027), 300);
    assert_int_equal(psy_population_for(&p, 2030), 300);
}

/* Population keys in any order end up sorted, and the rule applies to them. */
static void
test_population_from_file(void **state)
{
    fx_t *f = *state;

    assert_int_equal(load_agg(f, AGG_HEAD "[center pc-a]\npopulation.2024 = 240\n"
                                          "population.2021 = 210\npopulation.2023 = 230\n"
                                          "[region]\npopulation.2022 = 1880000\n"),
                     0);
    const psy_populations_t *p = &f->agg.centers[0].population;
    assert_int_equal(p->count, 3);
    assert_int_equal(p->years[0].year, 2021);
    assert_int_equal(p->years[1].year, 2023);
    assert_int_equal(p->years[2].year, 2024);
    assert_int_equal(psy_population_for(p, 2020), 210);
    assert_int_equal(psy_population_for(p, 2022), 210);
    assert_int_equal(psy_population_for(p, 2023), 230);
    assert_int_equal(psy_population_for(p, 2025), 240);
    assert_int_equal(f->agg.region_population.count, 1);
}

#define COLL_KEYS                                                                                  \
    "center = pc-amager\n"                                                                         \
    "aggregator = tcp://127.0.0.1:7470\n"                                                          \
    "aggregator_public_key = %s\n"                                                                 \
    "secret_key_file = pc-amager.key      ; this collector's CURVE secret key\n"                   \
    "pseudonym_key_file = pseudonym.key   ; the region's pseudonymisation key\n"

static void
test_coll_example(void **state)
{
    fx_t *f = *state;
    char text[2048], want[PATH_MAX + 64];

    snprintf(text, sizeof text,
             "[collector]\n" COLL_KEYS
             "inbox = /var/spool/psymon/inbox      ; where export files arrive\n"
             "state_dir = /var/lib/psymon-collector ; spool, done/, rejected.ndjson\n"
             "done_days = 30                       ; how long read files stay in done/\n",
             f->hash_key);
    if (load_coll(f, text) != 0)
        fail_msg("%s", f->err);
    const psy_coll_conf_t *c = &f->coll;
    assert_string_equal(c->center, "pc-amager");
    assert_string_equal(c->aggregator, "tcp://127.0.0.1:7470");
    assert_string_equal(c->aggregator_public_key, f->hash_key);
    snprintf(want, sizeof want, "%s/pc-amager.key", f->dir);
    assert_string_equal(c->secret_key_file, want);
    snprintf(want, sizeof want, "%s/pseudonym.key", f->dir);
    assert_string_equal(c->pseudonym_key_file, want);
    assert_string_equal(c->inbox, "/var/spool/psymon/inbox");
    assert_string_equal(c->state_dir, "/var/lib/psymon-collector");
    assert_int_equal(c->done_days, 30);

    /* done_days defaults to 30 and may be 0; relative inbox and state_dir. */
    snprintf(text, sizeof text, "[collector]\n" COLL_KEYS "inbox = in\nstate_dir = ./state\n",
             f->key[0]);
    assert_int_equal(load_coll(f, text), 0);
    assert_int_equal(c->done_days, 30);
    snprintf(want, sizeof want, "%s/in", f->dir);
    assert_string_equal(c->inbox, want);
    snprintf(want, sizeof want, "%s/./state", f->dir);
    assert_string_equal(c->state_dir, want);
    snprintf(text, sizeof text,
             "[collector]\n" COLL_KEYS "inbox = in\nstate_dir = st\ndone_days = 0\n", f->key[0]);
    assert_int_equal(load_coll(f, text), 0);
    assert_int_equal(c->done_days, 0);
}

static void
test_coll_errors(void **state)
{
    fx_t *f = *state;
    char text[2048];
    const char *tail = "inbox = in\nstate_dir = st\n";

    struct {
        const char *extra;
        int line;
        const char *needle;
    } cases[] = {
        {"bogus = 1\n", 9, "'bogus'"},
        {"done_days = -1\n", 9, "'done_days'"},
        {"done_days = 3x\n", 9, "'done_days'"},
        {"inbox = other\n", 9, "'inbox'"},
        {"[aggregator]\nlisten = x\n", 10, "[aggregator]"},
        {"center = pc-b\n", 9, "'center'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "[collector]\n" COLL_KEYS "%s%s", f->key[0], tail,
                 cases[i].extra);
        assert_int_equal(load_coll(f, text), -EINVAL);
        char where[PATH_MAX + 64];
        snprintf(where, sizeof where, "%s:%d: ", f->path, cases[i].line);
        if (strncmp(f->err, where, strlen(where)) != 0 || !strstr(f->err, cases[i].needle))
            fail_msg("case %zu: '%s'", i, f->err);
    }

    /* Bad values of the first keys, each on line 2. */
    static const char *const first[][2] = {
        {"center = PC-Amager\n", "'center'"},
        {"center = pc_amager\n", "'center'"},
        {"aggregator_public_key = short\n", "'aggregator_public_key'"},
        {"aggregator_public_key = 0123456789012345678901234567890123456789 ; x\n"
         "aggregator_public_key = x\n",
         "'aggregator_public_key'"},
        {"secret_key_file =\n", "'secret_key_file'"},
    };
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
        snprintf(text, sizeof text, "[collector]\n%s", first[i][0]);
        assert_int_equal(load_coll(f, text), -EINVAL);
        if (!strstr(f->err, first[i][1]) || !strchr(f->err, ':'))
            fail_msg("first %zu: '%s'", i, f->err);
    }

    /* Each required key missing in turn. */
    static const char *const required[] = {
        "center", "aggregator", "aggregator_public_key", "secret_key_file", "pseudonym_key_file",
        "inbox",  "state_dir"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char full[2048], *out = text;
        snprintf(full, sizeof full, "[collector]\n" COLL_KEYS "%s", f->key[0], tail);
        /* Copy every line but the one setting required[i]. */
        for (char *line = strtok(full, "\n"); line; line = strtok(NULL, "\n")) {
            size_t klen = strlen(required[i]);
            if (strncmp(line, required[i], klen) == 0 && line[klen] == ' ')
                continue;
            out += sprintf(out, "%s\n", line);
        }
        assert_int_equal(load_coll(f, text), -EINVAL);
        char needle[64];
        snprintf(needle, sizeof needle, "'%s'", required[i]);
        if (!strstr(f->err, needle) || strncmp(f->err, f->path, strlen(f->path)) != 0)
            fail_msg("missing %s: '%s'", required[i], f->err);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agg_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_two_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_errors_goal_alert_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_goal_alert_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_goal_alert_notify_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_center_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agg_many_keys, setup, teardown),
        cmocka_unit_test(test_population_for),
        cmocka_unit_test_setup_teardown(test_population_from_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
