/*
 * The KPI engine: registrations in, the rows of kpis.md out.
 *
 * One call builds everything it needs once: the contacts (hash on center and
 * contact id), the patients (hash on the pseudonym), the stays (each
 * patient's contacts, merged) and the referral matches. Every event is then
 * added to the periods holding it, found by binary search over the periods
 * sorted by start, so the cost grows with records times the periods one
 * record falls in, not with records times all periods.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpi.h"

#define NKIND  (PSY_COERCION__COUNT - 1)
#define NROLE  (PSY_ROLE__COUNT - 1)
#define NCONS  (PSY_CONSULT__COUNT - 1)
#define NONE32 UINT32_MAX

/* KPI indexes, in the order of kpis.md. */
enum {
    K_ADMISSIONS,
    K_DISCHARGES,
    K_BED_DAYS,
    K_PATIENTS,
    K_INVOL_ADM,
    K_INVOL_SHARE,
    K_EPISODES,
    K_PERSONS = K_EPISODES + NKIND,
    K_INTR_EP = K_PERSONS + NKIND,
    K_INTR_PERS,
    K_COERCED,
    K_BELT_SHARE,
    K_BELT_MEDIAN,
    K_BELT_48,
    K_INTR_1000BD,
    K_INTR_100K,
    K_BASELINE,
    K_REDUCTION,
    K_TARGET_RED,
    K_ON_TRACK,
    K_READM30,
    K_READM7,
    K_READM_MEDIAN,
    K_SELF_SHARE,
    K_CONSULT,
    K_CONSULT_RK,
    K_CONSULTED = K_CONSULT_RK + NROLE * NCONS,
    K_TREAT,
    K_WAIT60,
    K_WAIT_MEDIAN,
    K_OVERDUE,
    K_RECORDS,
    K_INCONS,
    K__COUNT
};

/* Kind names as records.md spells them; tests check them against psy_coercion_name(). */
#define COERCION_NAMES(P)                                                                          \
    P "belt", P "physical_restraint", P "sedative_medication", P "straps", P "gloves",             \
        P "forced_medication", P "forced_ect", P "forced_feeding", P "forced_somatic_treatment",   \
        P "involuntary_detention", P "personal_shielding", P "door_locking",                       \
        P "compulsory_follow_up", P "other"
#define CONSULT_NAMES(P)                                                                           \
    P "supervision", P "action_plan", P "substance_history", P "network_meeting", P "follow_home", \
        P "other"

static const char *const kpi_names[K__COUNT] = {
    "admissions",
    "discharges",
    "bed_days",
    "patients",
    "involuntary_admissions",
    "involuntary_admission_share",
    COERCION_NAMES("coercion_episodes:"),
    COERCION_NAMES("coercion_persons:"),
    "intrusive_episodes",
    "intrusive_persons",
    "coerced_persons",
    "belt_share_of_patients",
    "belt_median_hours",
    "belt_over_48h",
    "intrusive_per_1000_bed_days",
    "intrusive_per_100k",
    "intrusive_baseline_per_100k",
    "intrusive_reduction",
    "intrusive_target_reduction",
    "intrusive_on_track",
    "readmission_rate_30d",
    "readmission_rate_7d",
    "median_days_to_readmission",
    "self_discharge_share",
    "consultations",
    CONSULT_NAMES("consultations:social_nurse:"),
    CONSULT_NAMES("consultations:social_physician:"),
    CONSULT_NAMES("consultations:other:"),
    "consulted_patients",
    "treatment_starts",
    "wait_within_60d_share",
    "wait_median_days",
    "referrals_overdue",
    "records",
    "records_inconsistent",
};

size_t
kpi_count(void)
{
    return K__COUNT;
}

const char *
kpi_name(size_t i)
{
    return i < K__COUNT ? kpi_names[i] : NULL;
}

int
kpi_find(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < K__COUNT; i++)
        if (strcmp(kpi_names[i], name) == 0)
            return (int)i;
    return -1;
}

int
kpi_records_push(kpi_records_t *v, uint16_t center, const psy_record_t *r)
{
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        kpi_record_t *items = realloc(v->items, cap * sizeof(*items));

        if (!items)
            return -ENOMEM;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->count].center = center;
    v->items[v->count].rec = *r;
    v->count++;
    return 0;
}

void
kpi_records_free(kpi_records_t *v)
{
    if (!v)
        return;
    free(v->items);
    v->items = NULL;
    v->count = v->cap = 0;
}

/* Sums of one (period, level). */
typedef struct {
    int64_t records, incons;
    int64_t admissions, discharges, invol, self_disch;
    double bed_days;
    int64_t patients;
    int64_t episodes[NKIND], persons[NKIND];
    int64_t intr_ep, intr_pers, coerced;
    int64_t belt48;
    int64_t index_disch, readm30, readm7;
    int64_t consult, consult_rk[NROLE][NCONS], consulted;
    int64_t treat, wait60;
    int64_t overdue;
} acc_t;

/* Distinct-patient counters: one stamp array per category. */
enum { D_PATIENTS, D_PERSONS, D_INTR = D_PERSONS + NKIND, D_COERCED, D_CONSULTED, D__COUNT };

enum { M_BELT, M_READM, M_WAIT, M__COUNT };

typedef struct {
    uint32_t key; /* period * nslots + slot */
    double v;
} mval_t;

typedef struct {
    size_t n, cap;
    mval_t *v;
} mvec_t;

typedef struct {
    psy_time_t start, end; /* end is PSY_TIME_NONE while open */
    uint32_t adm, disc;    /* record indexes; disc NONE32 while open */
    uint32_t pid;          /* NONE32 without a patient */
    uint16_t center;
} contact_t;

typedef struct {
    uint32_t v; /* value + 1; 0 is empty */
    uint32_t h; /* high half of the key's hash: most mismatches end here */
} hslot_t;

typedef struct {
    hslot_t *slot;
    size_t mask;
} htab_t;

typedef struct {
    const kpi_records_t *recs;
    const psy_agg_conf_t *conf;
    psy_time_t as_of;

    /* Internal periods: the query's, then the baseline years. */
    size_t nper;
    kpi_period_t *per;
    psy_time_t *ps, *pe;
    uint32_t *ord;      /* period indexes sorted by start */
    psy_time_t *ord_ps; /* their starts */
    psy_time_t *maxend; /* running maximum of their ends */
    uint32_t *hits;     /* scratch: periods holding one event */

    size_t nslots; /* centers, then the region */
    acc_t *acc;
    uint32_t *stamp; /* D__COUNT * nper * nslots */
    mvec_t med[M__COUNT];
    double *med_val[M__COUNT];
    int64_t *med_n[M__COUNT];

    uint32_t *lst[PSY_REC__COUNT]; /* usable records by type, in input order */
    size_t nlst[PSY_REC__COUNT];
    uint32_t *pid; /* per record: patient id or NONE32 */
    size_t npatients;
    size_t ncontacts;
    contact_t *contacts;
} eng_t;

/* Periods whose [start, end) meets [lo, hi): start < hi and end > lo. */
static size_t
periods_meeting(eng_t *e, psy_time_t lo, psy_time_t hi)
{
    size_t a = 0, b = e->nper, n = 0;

    while (a < b) {
        size_t m = a + (b - a) / 2;

        if (e->ord_ps[m] < hi)
            a = m + 1;
        else
            b = m;
    }
    for (size_t i = a; i-- > 0;) {
        if (e->maxend[i] <= lo)
            break;
        if (e->pe[e->ord[i]] > lo)
            e->hits[n++] = e->ord[i];
    }
    return n;
}

static size_t
periods_at(eng_t *e, psy_time_t t)
{
    return periods_meeting(e, t, t + 1);
}

static acc_t *
acc_at(eng_t *e, uint32_t p, size_t slot)
{
    return &e->acc[p * e->nslots + slot];
}

/* Adds one distinct patient to category `cat` of (p, slot), once per patient. */
static void
distinct_add(eng_t *e, int cat, uint32_t p, size_t slot, uint32_t pid)
{
    uint32_t *s = &e->stamp[((size_t)cat * e->nper + p) * e->nslots + slot];

    if (*s == pid + 1)
        return;
    *s = pid + 1;
    switch (cat) {
    case D_PATIENTS:
        acc_at(e, p, slot)->patients++;
        break;
    case D_INTR:
        acc_at(e, p, slot)->intr_pers++;
        break;
    case D_COERCED:
        acc_at(e, p, slot)->coerced++;
        break;
    case D_CONSULTED:
        acc_at(e, p, slot)->consulted++;
        break;
    default:
        acc_at(e, p, slot)->persons[cat - D_PERSONS]++;
        break;
    }
}

/* Adds a distinct patient at the center and at the region for every period holding t. */
static void
distinct_at(eng_t *e, int cat, psy_time_t t, size_t center, uint32_t pid)
{
    size_t n = periods_at(e, t);

    for (size_t k = 0; k < n; k++) {
        distinct_add(e, cat, e->hits[k], center, pid);
        distinct_add(e, cat, e->hits[k], e->nslots - 1, pid);
    }
}

static int
mvec_push(mvec_t *m, uint32_t key, double v)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        mval_t *nv = realloc(m->v, cap * sizeof(*nv));

        if (!nv)
            return -ENOMEM;
        m->v = nv;
        m->cap = cap;
    }
    m->v[m->n].key = key;
    m->v[m->n].v = v;
    m->n++;
    return 0;
}

/* Adds v to median `which` at the center and the region for every period holding t. */
static int
median_at(eng_t *e, int which, psy_time_t t, size_t center, double v)
{
    size_t n = periods_at(e, t);

    for (size_t k = 0; k < n; k++) {
        uint32_t base = e->hits[k] * (uint32_t)e->nslots;

        if (mvec_push(&e->med[which], base + (uint32_t)center, v) < 0 ||
            mvec_push(&e->med[which], base + (uint32_t)(e->nslots - 1), v) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
mval_cmp(const void *a, const void *b)
{
    const mval_t *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

static int
medians_finish(eng_t *e)
{
    size_t nkeys = e->nper * e->nslots;

    for (int w = 0; w < M__COUNT; w++) {
        mvec_t *m = &e->med[w];

        e->med_val[w] = calloc(nkeys ? nkeys : 1, sizeof(double));
        e->med_n[w] = calloc(nkeys ? nkeys : 1, sizeof(int64_t));
        if (!e->med_val[w] || !e->med_n[w])
            return -ENOMEM;
        if (m->n)
            qsort(m->v, m->n, sizeof(*m->v), mval_cmp);
        for (size_t i = 0; i < m->n;) {
            size_t j = i;

            while (j < m->n && m->v[j].key == m->v[i].key)
                j++;
            size_t cnt = j - i, mid = i + cnt / 2;
            e->med_n[w][m->v[i].key] = (int64_t)cnt;
            e->med_val[w][m->v[i].key] =
                cnt % 2 ? m->v[mid].v : (m->v[mid - 1].v + m->v[mid].v) / 2.0;
            i = j;
        }
    }
    return 0;
}

/* ---- hashing ---- */

static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static uint64_t
hash_key(uint16_t center, const char *id)
{
    uint64_t h = hash_bytes(UINT64_C(0xcbf29ce484222325), &center, sizeof(center));

    return hash_bytes(h, id, strlen(id));
}

static int
htab_init(htab_t *h, size_t n)
{
    size_t size = 16;

    while (size < 2 * n + 1)
        size *= 2;
    h->slot = calloc(size, sizeof(*h->slot));
    h->mask = size - 1;
    return h->slot ? 0 : -ENOMEM;
}

static const char *
contact_of(const psy_record_t *r)
{
    return r->contact[0] ? r->contact : r->id;
}

/*
 * The slot for (center, id) in a table whose values index records (get_id
 * reads a record's key): either the one holding it or the empty one where it
 * belongs.
 */
static hslot_t *
htab_slot(htab_t *h, const eng_t *e, const uint32_t *vals, uint16_t center, const char *id,
          const char *(*get_id)(const psy_record_t *))
{
    uint64_t hash = hash_key(center, id);
    uint32_t hi = (uint32_t)(hash >> 32);
    size_t i = (size_t)hash & h->mask;

    for (;;) {
        hslot_t *s = &h->slot[i];

        if (!s->v) {
            s->h = hi;
            return s;
        }
        if (s->h == hi) {
            const kpi_record_t *kr = &e->recs->items[vals ? vals[s->v - 1] : s->v - 1];

            if (kr->center == center && strcmp(get_id(&kr->rec), id) == 0)
                return s;
        }
        i = (i + 1) & h->mask;
    }
}

static const char *
id_of(const psy_record_t *r)
{
    return r->id;
}

/* ---- periods ---- */

static int
ord_cmp_r(const void *a, const void *b, void *arg)
{
    const eng_t *e = arg;
    psy_time_t x = e->ps[*(const uint32_t *)a], y = e->ps[*(const uint32_t *)b];

    return (x > y) - (x < y);
}

static int
periods_init(eng_t *e, const kpi_query_t *q, bool baseline)
{
    size_t nb = baseline ? e->conf->nbaseline : 0;

    e->nper = q->nperiods + nb;
    size_t n = e->nper ? e->nper : 1;
    e->per = calloc(n, sizeof(*e->per));
    e->ps = calloc(n, sizeof(*e->ps));
    e->pe = calloc(n, sizeof(*e->pe));
    e->ord = calloc(n, sizeof(*e->ord));
    e->ord_ps = calloc(n, sizeof(*e->ord_ps));
    e->maxend = calloc(n, sizeof(*e->maxend));
    e->hits = calloc(n, sizeof(*e->hits));
    if (!e->per || !e->ps || !e->pe || !e->ord || !e->ord_ps || !e->maxend || !e->hits)
        return -ENOMEM;
    for (size_t i = 0; i < q->nperiods; i++)
        e->per[i] = q->periods[i];
    for (size_t i = 0; i < nb; i++) {
        e->per[q->nperiods + i].kind = KPI_YEAR;
        e->per[q->nperiods + i].year = e->conf->baseline_years[i];
        e->per[q->nperiods + i].month = 1;
    }
    for (size_t i = 0; i < e->nper; i++) {
        kpi_period_bounds(&e->per[i], &e->ps[i], &e->pe[i]);
        e->ord[i] = (uint32_t)i;
    }
    qsort_r(e->ord, e->nper, sizeof(*e->ord), ord_cmp_r, e);
    for (size_t i = 0; i < e->nper; i++) {
        e->ord_ps[i] = e->ps[e->ord[i]];
        psy_time_t end = e->pe[e->ord[i]];
        e->maxend[i] = i && e->maxend[i - 1] > end ? e->maxend[i - 1] : end;
    }
    return 0;
}

/* ---- the index ---- */

static bool
rec_usable(const eng_t *e, const kpi_record_t *kr)
{
    const psy_record_t *r = &kr->rec;

    return !r->is_void && kr->center < e->conf->ncenters && r->type > PSY_REC_NONE &&
           r->type < PSY_REC__COUNT && r->time != PSY_TIME_NONE && r->time <= e->as_of;
}

/*
 * One pass over the records: the usable ones listed by type, and a dense
 * patient id for every record that a distinct count or a stay needs. Later
 * passes walk only the lists they need.
 */
static int
index_build(eng_t *e)
{
    const kpi_records_t *r = e->recs;
    htab_t h = {0};
    uint8_t(*pats)[PSY_PSEUDONYM_LEN] = NULL; /* per patient id: its pseudonym */
    size_t np = 0, cap = 0, n = r->count ? r->count : 1;
    int rc = -ENOMEM;

    for (int t = 0; t < PSY_REC__COUNT; t++)
        if (!(e->lst[t] = malloc(n * sizeof(*e->lst[t]))))
            return -ENOMEM;
    e->pid = malloc(n * sizeof(*e->pid));
    if (!e->pid || htab_init(&h, r->count) < 0)
        goto out;
    for (size_t i = 0; i < r->count; i++) {
        const kpi_record_t *kr = &r->items[i];
        const psy_record_t *rec = &kr->rec;

        e->pid[i] = NONE32;
        if (!rec_usable(e, kr))
            continue;
        e->lst[rec->type][e->nlst[rec->type]++] = (uint32_t)i;
        if (!rec->has_patient || (rec->type != PSY_REC_ADMISSION && rec->type != PSY_REC_COERCION &&
                                  rec->type != PSY_REC_CONSULTATION))
            continue;
        uint64_t hash = hash_bytes(UINT64_C(0xcbf29ce484222325), rec->patient, PSY_PSEUDONYM_LEN);
        uint32_t hi = (uint32_t)(hash >> 32);
        size_t s = (size_t)hash & h.mask;
        for (;;) {
            hslot_t *sl = &h.slot[s];

            if (!sl->v) {
                if (np == cap) {
                    size_t ncap = cap ? cap * 2 : 1024;
                    void *nv = realloc(pats, ncap * sizeof(*pats));

                    if (!nv)
                        goto out;
                    pats = nv;
                    cap = ncap;
                }
                memcpy(pats[np], rec->patient, PSY_PSEUDONYM_LEN);
                sl->h = hi;
                sl->v = (uint32_t)++np;
                e->pid[i] = (uint32_t)(np - 1);
                break;
            }
            if (sl->h == hi && memcmp(pats[sl->v - 1], rec->patient, PSY_PSEUDONYM_LEN) == 0) {
                e->pid[i] = sl->v - 1;
                break;
            }
            s = (s + 1) & h.mask;
        }
    }
    e->npatients = np;
    rc = 0;
out:
    free(pats);
    free(h.slot);
    return rc;
}

/* ---- the passes ---- */

/* Counts a record left out as inconsistent, by its time. */
static void
incons_at(eng_t *e, const kpi_record_t *kr)
{
    size_t n = periods_at(e, kr->rec.time);

    for (size_t k = 0; k < n; k++) {
        acc_at(e, e->hits[k], kr->center)->incons++;
        acc_at(e, e->hits[k], e->nslots - 1)->incons++;
    }
}

/* True when record a comes before record b: earlier time, ties the smaller id. */
static bool
rec_before(const psy_record_t *a, const psy_record_t *b)
{
    if (a->time != b->time)
        return a->time < b->time;
    return strcmp(a->id, b->id) < 0;
}

/*
 * Builds the contacts: the earliest admission of each (center, contact id)
 * forms it, its earliest discharge not before the admission ends it; every
 * other admission and discharge naming it is inconsistent.
 */
static int
contacts_build(eng_t *e)
{
    const kpi_records_t *r = e->recs;
    size_t nadm = e->nlst[PSY_REC_ADMISSION];
    uint32_t *cadm = NULL;
    htab_t h = {0};
    int rc = -ENOMEM;

    e->contacts = calloc(nadm ? nadm : 1, sizeof(*e->contacts));
    cadm = calloc(nadm ? nadm : 1, sizeof(*cadm));
    if (!e->contacts || !cadm || htab_init(&h, nadm) < 0)
        goto out;
    for (size_t j = 0; j < nadm; j++) {
        size_t i = e->lst[PSY_REC_ADMISSION][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, e, cadm, kr->center, contact_of(&kr->rec), contact_of);
        if (!s->v) {
            contact_t *c = &e->contacts[e->ncontacts];

            c->adm = (uint32_t)i;
            c->disc = NONE32;
            c->center = kr->center;
            cadm[e->ncontacts] = (uint32_t)i;
            s->v = (uint32_t)++e->ncontacts;
            continue;
        }
        contact_t *c = &e->contacts[s->v - 1];
        if (rec_before(&kr->rec, &r->items[c->adm].rec)) {
            incons_at(e, &r->items[c->adm]);
            c->adm = (uint32_t)i;
            cadm[s->v - 1] = (uint32_t)i;
        } else {
            incons_at(e, kr);
        }
    }
    for (size_t i = 0; i < e->ncontacts; i++) {
        contact_t *c = &e->contacts[i];
        const psy_record_t *a = &r->items[c->adm].rec;

        c->start = a->time;
        c->end = PSY_TIME_NONE;
        c->pid = e->pid[c->adm];
    }
    for (size_t j = 0; j < e->nlst[PSY_REC_DISCHARGE]; j++) {
        size_t i = e->lst[PSY_REC_DISCHARGE][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, e, cadm, kr->center, kr->rec.contact, contact_of);
        if (!s->v || kr->rec.time < e->contacts[s->v - 1].start) {
            incons_at(e, kr);
            continue;
        }
        contact_t *c = &e->contacts[s->v - 1];
        if (c->disc == NONE32) {
            c->disc = (uint32_t)i;
        } else if (rec_before(&kr->rec, &r->items[c->disc].rec)) {
            incons_at(e, &r->items[c->disc]);
            c->disc = (uint32_t)i;
        } else {
            incons_at(e, kr);
        }
    }
    for (size_t i = 0; i < e->ncontacts; i++)
        if (e->contacts[i].disc != NONE32)
            e->contacts[i].end = r->items[e->contacts[i].disc].rec.time;
    rc = 0;
out:
    free(cadm);
    free(h.slot);
    return rc;
}

static bool
legal_involuntary(psy_legal_t l)
{
    return l == PSY_LEGAL_INVOLUNTARY_RED || l == PSY_LEGAL_INVOLUNTARY_YELLOW;
}

/* Admissions, discharges, self-discharges and bed days of every contact. */
static void
contacts_count(eng_t *e)
{
    const kpi_records_t *r = e->recs;
    size_t R = e->nslots - 1, n;

    for (size_t i = 0; i < e->ncontacts; i++) {
        const contact_t *c = &e->contacts[i];
        const psy_record_t *a = &r->items[c->adm].rec;
        bool invol = legal_involuntary(a->legal);
        bool open = c->end == PSY_TIME_NONE;
        psy_time_t end = open ? e->as_of : c->end;

        n = periods_at(e, c->start);
        for (size_t k = 0; k < n; k++) {
            acc_at(e, e->hits[k], c->center)->admissions++;
            acc_at(e, e->hits[k], R)->admissions++;
            acc_at(e, e->hits[k], c->center)->invol += invol;
            acc_at(e, e->hits[k], R)->invol += invol;
        }
        if (!open) {
            bool self = r->items[c->disc].rec.outcome == PSY_OUTCOME_SELF_DISCHARGE;

            n = periods_at(e, c->end);
            for (size_t k = 0; k < n; k++) {
                acc_at(e, e->hits[k], c->center)->discharges++;
                acc_at(e, e->hits[k], R)->discharges++;
                acc_at(e, e->hits[k], c->center)->self_disch += self;
                acc_at(e, e->hits[k], R)->self_disch += self;
            }
        }
        n = periods_meeting(e, c->start, end);
        for (size_t k = 0; k < n; k++) {
            uint32_t p = e->hits[k];
            psy_time_t lo = c->start > e->ps[p] ? c->start : e->ps[p];
            psy_time_t hi = end < e->pe[p] ? end : e->pe[p];

            if (hi > lo) {
                double days = (double)(hi - lo) / (double)PSY_DAY;

                acc_at(e, p, c->center)->bed_days += days;
                acc_at(e, p, R)->bed_days += days;
            }
        }
    }
}

static bool
coercion_counts(const psy_record_t *r)
{
    return r->coercion > PSY_COERCION_NONE && r->coercion < PSY_COERCION__COUNT &&
           !(r->coercion == PSY_COERCION_BELT && r->voluntary);
}

static bool
coercion_intrusive(psy_coercion_t k)
{
    return k == PSY_COERCION_BELT || k == PSY_COERCION_PHYSICAL_RESTRAINT ||
           k == PSY_COERCION_SEDATIVE_MEDICATION;
}

/* Records, coercion episodes and consultations: the per-record sums. */
static int
records_count(eng_t *e)
{
    const kpi_records_t *r = e->recs;
    size_t R = e->nslots - 1;

    for (int t = 1; t < PSY_REC__COUNT; t++)
        for (size_t ti = 0; ti < e->nlst[t]; ti++) {
            const kpi_record_t *kr = &r->items[e->lst[t][ti]];
            const psy_record_t *rec = &kr->rec;
            size_t n = periods_at(e, rec->time);
            for (size_t k = 0; k < n; k++) {
                acc_at(e, e->hits[k], kr->center)->records++;
                acc_at(e, e->hits[k], R)->records++;
            }
            if (rec->type == PSY_REC_COERCION && coercion_counts(rec)) {
                int kind = (int)rec->coercion - 1;
                bool intr = coercion_intrusive(rec->coercion);
                /* An end after as_of does not exist yet. */
                bool ended = rec->end != PSY_TIME_NONE && rec->end <= e->as_of;
                bool belt = rec->coercion == PSY_COERCION_BELT;
                bool over48 = belt && ended && rec->end - rec->time > 48 * PSY_HOUR;

                for (size_t k = 0; k < n; k++) {
                    size_t slots[2] = {kr->center, R};

                    for (int j = 0; j < 2; j++) {
                        acc_t *a = acc_at(e, e->hits[k], slots[j]);

                        a->episodes[kind]++;
                        a->intr_ep += intr;
                        a->belt48 += over48;
                    }
                }
                if (belt && ended &&
                    median_at(e, M_BELT, rec->time, kr->center,
                              (double)(rec->end - rec->time) / (double)PSY_HOUR) < 0)
                    return -ENOMEM;
            } else if (rec->type == PSY_REC_CONSULTATION) {
                bool rk = rec->role > PSY_ROLE_NONE && rec->role < PSY_ROLE__COUNT &&
                          rec->consult > PSY_CONSULT_NONE && rec->consult < PSY_CONSULT__COUNT;

                for (size_t k = 0; k < n; k++) {
                    size_t slots[2] = {kr->center, R};

                    for (int j = 0; j < 2; j++) {
                        acc_t *a = acc_at(e, e->hits[k], slots[j]);

                        a->consult++;
                        if (rk)
                            a->consult_rk[rec->role - 1][rec->consult - 1]++;
                    }
                }
            }
        }
    return 0;
}

static int
tcmp_r(const void *a, const void *b, void *arg)
{
    const psy_time_t *t = arg;
    psy_time_t x = t[*(const uint32_t *)a], y = t[*(const uint32_t *)b];

    return (x > y) - (x < y);
}

/* Index of the first element of sorted t[ord[]] for which t > v (strict) or t >= v. */
static size_t
tbound(const psy_time_t *t, const uint32_t *ord, size_t n, psy_time_t v, bool strict)
{
    size_t a = 0, b = n;

    while (a < b) {
        size_t m = a + (b - a) / 2;

        if (strict ? t[ord[m]] <= v : t[ord[m]] < v)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

/*
 * Waiting time: each referral matched with its earliest treatment start at
 * the same center not before it; the starts, their waits, and the referrals
 * overdue at min(P end, as_of) of every period.
 */
static int
referrals_count(eng_t *e)
{
    const kpi_records_t *r = e->recs;
    size_t nref = 0, R = e->nslots - 1, ns = e->nslots;
    htab_t h = {0};
    uint32_t *match = NULL, *ordT = NULL, *refs = NULL;
    psy_time_t *tP = NULL;
    int64_t *diff = NULL;
    int rc = -ENOMEM;

    nref = e->nlst[PSY_REC_REFERRAL];
    refs = malloc((nref ? nref : 1) * sizeof(*refs));
    match = malloc((nref ? nref : 1) * sizeof(*match));
    if (!refs || !match || htab_init(&h, nref) < 0)
        goto out;
    nref = 0;
    for (size_t j = 0; j < e->nlst[PSY_REC_REFERRAL]; j++) {
        size_t i = e->lst[PSY_REC_REFERRAL][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, e, refs, kr->center, kr->rec.id, id_of);
        if (s->v) /* Ids are unique per center; a second one cannot occur after corrections. */
            continue;
        refs[nref] = (uint32_t)i;
        match[nref] = NONE32;
        s->v = (uint32_t)++nref;
    }
    for (size_t j = 0; j < e->nlst[PSY_REC_TREATMENT_START]; j++) {
        size_t i = e->lst[PSY_REC_TREATMENT_START][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, e, refs, kr->center, kr->rec.referral, id_of);
        if (!s->v || kr->rec.time < r->items[refs[s->v - 1]].rec.time) {
            incons_at(e, kr);
            continue;
        }
        uint32_t *m = &match[s->v - 1];
        if (*m == NONE32) {
            *m = (uint32_t)i;
        } else if (rec_before(&kr->rec, &r->items[*m].rec)) {
            incons_at(e, &r->items[*m]);
            *m = (uint32_t)i;
        } else {
            incons_at(e, kr);
        }
    }

    tP = malloc((e->nper ? e->nper : 1) * sizeof(*tP));
    ordT = malloc((e->nper ? e->nper : 1) * sizeof(*ordT));
    diff = calloc((e->nper + 1) * ns, sizeof(*diff));
    if (!tP || !ordT || !diff)
        goto out;
    for (size_t p = 0; p < e->nper; p++) {
        tP[p] = e->pe[p] < e->as_of ? e->pe[p] : e->as_of;
        ordT[p] = (uint32_t)p;
    }
    qsort_r(ordT, e->nper, sizeof(*ordT), tcmp_r, tP);

    for (size_t i = 0; i < nref; i++) {
        const kpi_record_t *ref = &r->items[refs[i]];
        psy_time_t treated = INT64_MAX;

        if (match[i] != NONE32) {
            const psy_record_t *ts = &r->items[match[i]].rec;
            psy_time_t wait = ts->time - ref->rec.time;
            size_t n = periods_at(e, ts->time);

            treated = ts->time;
            for (size_t k = 0; k < n; k++) {
                size_t slots[2] = {ref->center, R};

                for (int j = 0; j < 2; j++) {
                    acc_t *a = acc_at(e, e->hits[k], slots[j]);

                    a->treat++;
                    a->wait60 += wait <= 60 * PSY_DAY;
                }
            }
            if (median_at(e, M_WAIT, ts->time, ref->center, (double)wait / (double)PSY_DAY) < 0)
                goto out;
        }
        /* Overdue at t exactly when referral + 60 days < t < the treatment start. */
        size_t lo = tbound(tP, ordT, e->nper, ref->rec.time + 60 * PSY_DAY, true);
        size_t hi = tbound(tP, ordT, e->nper, treated, false);
        if (lo < hi) {
            diff[lo * ns + ref->center]++;
            diff[hi * ns + ref->center]--;
            diff[lo * ns + R]++;
            diff[hi * ns + R]--;
        }
    }
    for (size_t s = 0; s < ns; s++) {
        int64_t run = 0;

        for (size_t k = 0; k < e->nper; k++) {
            run += diff[k * ns + s];
            acc_at(e, ordT[k], s)->overdue = run;
        }
    }
    rc = 0;
out:
    free(h.slot);
    free(refs);
    free(match);
    free(tP);
    free(ordT);
    free(diff);
    return rc;
}

/* ---- patients: distinct counts and stays ---- */

enum { EV_CONTACT, EV_COERCION, EV_CONSULT };

typedef struct {
    uint32_t pid;
    uint32_t idx;
    uint8_t type;
} pev_t;

typedef struct {
    psy_time_t start, end; /* end is meaningless while open */
    bool open;
    uint32_t first, last; /* contact indexes */
} stay_t;

/*
 * The merge order of kpis.md: start, then earlier end (open last), then
 * center id, then contact id.
 */
static int
stay_cmp_r(const void *a, const void *b, void *arg)
{
    const eng_t *e = arg;
    const contact_t *x = &e->contacts[*(const uint32_t *)a];
    const contact_t *y = &e->contacts[*(const uint32_t *)b];
    int c;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    bool xo = x->end == PSY_TIME_NONE, yo = y->end == PSY_TIME_NONE;
    if (xo != yo)
        return xo ? 1 : -1;
    if (!xo && x->end != y->end)
        return x->end < y->end ? -1 : 1;
    c = strcmp(e->conf->centers[x->center].id, e->conf->centers[y->center].id);
    if (c)
        return c;
    return strcmp(contact_of(&e->recs->items[x->adm].rec), contact_of(&e->recs->items[y->adm].rec));
}

/* Merges one patient's contacts (sorted) into stays; returns their number. */
static size_t
stays_merge(const eng_t *e, const uint32_t *cs, size_t n, stay_t *st)
{
    size_t ns = 0;

    for (size_t i = 0; i < n; i++) {
        const contact_t *c = &e->contacts[cs[i]];
        bool open = c->end == PSY_TIME_NONE;
        stay_t *s = ns ? &st[ns - 1] : NULL;

        if (s && (s->open || c->start <= s->end + 4 * PSY_HOUR)) {
            if (open) {
                s->open = true;
                s->last = cs[i];
            } else if (!s->open && c->end >= s->end) {
                s->end = c->end;
                s->last = cs[i];
            }
            continue;
        }
        s = &st[ns++];
        s->start = c->start;
        s->end = open ? PSY_TIME_NONE : c->end;
        s->open = open;
        s->first = s->last = cs[i];
    }
    return ns;
}

static bool
stay_qualifies(const eng_t *e, const stay_t *s)
{
    return (s->open ? e->as_of : s->end) - s->start >= 12 * PSY_HOUR;
}

/* Index discharges of one patient's stays and what followed them. */
static int
stays_count(eng_t *e, const stay_t *st, size_t ns)
{
    const kpi_records_t *r = e->recs;
    psy_time_t next_q = PSY_TIME_NONE, next_qa = PSY_TIME_NONE;

    for (size_t i = ns; i-- > 0;) {
        const stay_t *s = &st[i];
        bool q = stay_qualifies(e, s);

        if (q && !s->open) {
            const contact_t *last = &e->contacts[s->last];
            psy_outcome_t out = r->items[last->disc].rec.outcome;

            if (out != PSY_OUTCOME_DEATH && out != PSY_OUTCOME_TRANSFER) {
                size_t n = periods_at(e, s->end);
                bool r30 = next_qa != PSY_TIME_NONE && next_qa - s->end <= 30 * PSY_DAY;
                bool r7 = next_qa != PSY_TIME_NONE && next_qa - s->end <= 7 * PSY_DAY;

                for (size_t k = 0; k < n; k++) {
                    size_t slots[2] = {last->center, e->nslots - 1};

                    for (int j = 0; j < 2; j++) {
                        acc_t *a = acc_at(e, e->hits[k], slots[j]);

                        a->index_disch++;
                        a->readm30 += r30;
                        a->readm7 += r7;
                    }
                }
                if (next_q != PSY_TIME_NONE && next_q - s->end <= 365 * PSY_DAY &&
                    median_at(e, M_READM, s->end, last->center,
                              (double)(next_q - s->end) / (double)PSY_DAY) < 0)
                    return -ENOMEM;
            }
        }
        if (q) {
            next_q = s->start;
            if (r->items[e->contacts[s->first].adm].rec.mode == PSY_MODE_ACUTE)
                next_qa = s->start;
        }
    }
    return 0;
}

static int
patients_count(eng_t *e)
{
    const kpi_records_t *r = e->recs;
    size_t nev = 0, maxc = 0;
    pev_t *ev = NULL, *sorted = NULL;
    uint32_t *cnt = NULL, *cs = NULL;
    stay_t *st = NULL;
    int rc = -ENOMEM;

    for (size_t i = 0; i < e->ncontacts; i++)
        nev += e->contacts[i].pid != NONE32;
    nev += e->nlst[PSY_REC_COERCION] + e->nlst[PSY_REC_CONSULTATION];
    ev = malloc((nev ? nev : 1) * sizeof(*ev));
    sorted = malloc((nev ? nev : 1) * sizeof(*sorted));
    cnt = calloc(e->npatients + 1, sizeof(*cnt));
    if (!ev || !sorted || !cnt)
        goto out;
    nev = 0;
    for (size_t i = 0; i < e->ncontacts; i++)
        if (e->contacts[i].pid != NONE32)
            ev[nev++] = (pev_t){e->contacts[i].pid, (uint32_t)i, EV_CONTACT};
    for (size_t j = 0; j < e->nlst[PSY_REC_COERCION]; j++) {
        uint32_t i = e->lst[PSY_REC_COERCION][j];

        if (e->pid[i] != NONE32 && coercion_counts(&r->items[i].rec))
            ev[nev++] = (pev_t){e->pid[i], i, EV_COERCION};
    }
    for (size_t j = 0; j < e->nlst[PSY_REC_CONSULTATION]; j++) {
        uint32_t i = e->lst[PSY_REC_CONSULTATION][j];

        if (e->pid[i] != NONE32)
            ev[nev++] = (pev_t){e->pid[i], i, EV_CONSULT};
    }
    /* Counting sort by patient, so that each patient's events are adjacent. */
    for (size_t i = 0; i < nev; i++)
        cnt[ev[i].pid + 1]++;
    for (size_t p = 0; p < e->npatients; p++) {
        cnt[p + 1] += cnt[p];
    }
    for (size_t i = 0; i < nev; i++)
        sorted[cnt[ev[i].pid]++] = ev[i];
    free(ev);
    ev = NULL;

    for (size_t i = 0; i < nev;) {
        size_t j = i, nc = 0;

        while (j < nev && sorted[j].pid == sorted[i].pid)
            j++;
        if (j - i > maxc) {
            maxc = j - i;
            free(cs);
            free(st);
            cs = malloc(maxc * sizeof(*cs));
            st = malloc(maxc * sizeof(*st));
            if (!cs || !st)
                goto out;
        }
        for (size_t k = i; k < j; k++) {
            const pev_t *v = &sorted[k];
            uint32_t pid = v->pid;

            if (v->type == EV_CONTACT) {
                const contact_t *c = &e->contacts[v->idx];
                psy_time_t end = c->end == PSY_TIME_NONE ? e->as_of : c->end;
                size_t n = periods_meeting(e, c->start, end);

                for (size_t h = 0; h < n; h++) {
                    distinct_add(e, D_PATIENTS, e->hits[h], c->center, pid);
                    distinct_add(e, D_PATIENTS, e->hits[h], e->nslots - 1, pid);
                }
                if (legal_involuntary(r->items[c->adm].rec.legal))
                    distinct_at(e, D_COERCED, c->start, c->center, pid);
                cs[nc++] = v->idx;
            } else if (v->type == EV_COERCION) {
                const kpi_record_t *kr = &r->items[v->idx];

                distinct_at(e, D_PERSONS + (int)kr->rec.coercion - 1, kr->rec.time, kr->center,
                            pid);
                if (coercion_intrusive(kr->rec.coercion))
                    distinct_at(e, D_INTR, kr->rec.time, kr->center, pid);
                distinct_at(e, D_COERCED, kr->rec.time, kr->center, pid);
            } else {
                const kpi_record_t *kr = &r->items[v->idx];

                distinct_at(e, D_CONSULTED, kr->rec.time, kr->center, pid);
            }
        }
        if (nc) {
            /* Most patients have a handful of contacts: insertion sort beats qsort there. */
            if (nc <= 16) {
                for (size_t x = 1; x < nc; x++) {
                    uint32_t c = cs[x];
                    size_t y = x;

                    for (; y > 0 && stay_cmp_r(&cs[y - 1], &c, e) > 0; y--)
                        cs[y] = cs[y - 1];
                    cs[y] = c;
                }
            } else {
                qsort_r(cs, nc, sizeof(*cs), stay_cmp_r, e);
            }
            size_t nst = stays_merge(e, cs, nc, st);
            if (stays_count(e, st, nst) < 0)
                goto out;
        }
        i = j;
    }
    rc = 0;
out:
    free(ev);
    free(sorted);
    free(cnt);
    free(cs);
    free(st);
    return rc;
}

/* ---- rows ---- */

static kpi_num_t
num_int(int64_t v)
{
    return (kpi_num_t){true, true, (double)v};
}

static kpi_num_t
num_real(double v)
{
    return (kpi_num_t){true, false, v};
}

/* A count: value and numerator the count, no denominator. */
static void
row_count(kpi_row_t *row, int64_t v)
{
    row->value = row->numerator = num_int(v);
}

/* scale * n / d, empty when d is 0. */
static void
row_ratio(kpi_row_t *row, double scale, int64_t n, int64_t d)
{
    row->numerator = num_int(n);
    row->denominator = num_int(d);
    if (d)
        row->value = num_real(scale * (double)n / (double)d);
}

static void
row_median(kpi_row_t *row, const eng_t *e, int which, size_t key)
{
    int64_t n = e->med_n[which][key];

    row->denominator = num_int(n);
    if (n)
        row->value = num_real(e->med_val[which][key]);
}

static long
level_population(const eng_t *e, size_t slot, int year)
{
    const psy_agg_conf_t *c = e->conf;
    long sum = 0;

    if (slot < c->ncenters)
        return psy_population_for(&c->centers[slot].population, year);
    if (c->region_population.count)
        return psy_population_for(&c->region_population, year);
    for (size_t i = 0; i < c->ncenters; i++)
        sum += psy_population_for(&c->centers[i].population, year);
    return sum;
}

static bool
period_yearly(const kpi_period_t *p)
{
    return p->kind == KPI_YEAR || p->kind == KPI_R12;
}

/* Intrusive episodes per 100,000 citizens of internal period p; year and r12 only. */
static bool
per_100k(const eng_t *e, uint32_t p, size_t slot, double *ret, int64_t *ret_pop)
{
    long pop;

    if (!period_yearly(&e->per[p]))
        return false;
    pop = level_population(e, slot, e->per[p].year);
    if (ret_pop)
        *ret_pop = pop;
    if (pop <= 0)
        return false;
    *ret = 100000.0 * (double)acc_at((eng_t *)e, p, slot)->intr_ep / (double)pop;
    return true;
}

/* Mean per-100k rate over the baseline years; false when a year has no records at the level. */
static bool
baseline(const eng_t *e, size_t nq, size_t slot, double *ret)
{
    double sum = 0;
    size_t nb = e->nper - nq;

    if (nb == 0)
        return false;
    for (size_t i = 0; i < nb; i++) {
        uint32_t p = (uint32_t)(nq + i);
        double v;

        if (acc_at((eng_t *)e, p, slot)->records == 0 || !per_100k(e, p, slot, &v, NULL))
            return false;
        sum += v;
    }
    *ret = sum / (double)nb;
    return true;
}

/* The target trajectory for the period's last month, in percent. */
static bool
target_reduction(const eng_t *e, const kpi_period_t *p, double *ret)
{
    const psy_agg_conf_t *c = e->conf;
    int last = p->kind == KPI_YEAR ? p->year * 12 + 11 : p->year * 12 + p->month - 1;
    int first = c->first_year * 12 + c->first_month - 1;
    int K = c->last_year * 12 + c->last_month - 1 - first + 1;
    double f;

    if (!period_yearly(p) || K <= 0)
        return false;
    f = (double)(last - first + 1) / (double)K;
    *ret = c->target_pct * (f < 0 ? 0 : f > 1 ? 1 : f);
    return true;
}

static bool
reduction(const eng_t *e, uint32_t p, size_t nq, size_t slot, double *ret)
{
    double rate, base;

    if (!per_100k(e, p, slot, &rate, NULL) || !baseline(e, nq, slot, &base) || base == 0)
        return false;
    *ret = 100.0 * (1.0 - rate / base);
    return true;
}

static void
row_fill(const eng_t *e, uint32_t p, size_t nq, size_t slot, kpi_row_t *row)
{
    const acc_t *a = acc_at((eng_t *)e, p, slot);
    const kpi_period_t *per = &e->per[p];
    size_t key = p * e->nslots + slot;
    int k = row->kpi;
    double v, t;
    int64_t pop = 0;

    if (k >= K_EPISODES && k < K_EPISODES + NKIND) {
        row_count(row, a->episodes[k - K_EPISODES]);
        return;
    }
    if (k >= K_PERSONS && k < K_PERSONS + NKIND) {
        row_count(row, a->persons[k - K_PERSONS]);
        return;
    }
    if (k >= K_CONSULT_RK && k < K_CONSULT_RK + NROLE * NCONS) {
        int i = k - K_CONSULT_RK;
        row_count(row, a->consult_rk[i / NCONS][i % NCONS]);
        return;
    }
    switch (k) {
    case K_ADMISSIONS:
        row_count(row, a->admissions);
        break;
    case K_DISCHARGES:
        row_count(row, a->discharges);
        break;
    case K_BED_DAYS:
        row->value = row->numerator = num_real(a->bed_days);
        break;
    case K_PATIENTS:
        row_count(row, a->patients);
        break;
    case K_INVOL_ADM:
        row_count(row, a->invol);
        break;
    case K_INVOL_SHARE:
        row_ratio(row, 100, a->invol, a->admissions);
        break;
    case K_INTR_EP:
        row_count(row, a->intr_ep);
        break;
    case K_INTR_PERS:
        row_count(row, a->intr_pers);
        break;
    case K_COERCED:
        row_count(row, a->coerced);
        break;
    case K_BELT_SHARE:
        row_ratio(row, 100, a->persons[PSY_COERCION_BELT - 1], a->patients);
        break;
    case K_BELT_MEDIAN:
        row_median(row, e, M_BELT, key);
        break;
    case K_BELT_48:
        row_count(row, a->belt48);
        break;
    case K_INTR_1000BD:
        row->numerator = num_int(a->intr_ep);
        row->denominator = num_real(a->bed_days);
        if (a->bed_days > 0)
            row->value = num_real(1000.0 * (double)a->intr_ep / a->bed_days);
        break;
    case K_INTR_100K:
        if (!period_yearly(per))
            break;
        row->numerator = num_int(a->intr_ep);
        if (per_100k(e, p, slot, &v, &pop))
            row->value = num_real(v);
        row->denominator = num_int(pop);
        break;
    case K_BASELINE:
        if (period_yearly(per) && baseline(e, nq, slot, &v))
            row->value = num_real(v);
        break;
    case K_REDUCTION:
        if (reduction(e, p, nq, slot, &v))
            row->value = num_real(v);
        break;
    case K_TARGET_RED:
        if (target_reduction(e, per, &v))
            row->value = num_real(v);
        break;
    case K_ON_TRACK:
        if (reduction(e, p, nq, slot, &v) && target_reduction(e, per, &t))
            row->value = num_int(v >= t);
        break;
    case K_READM30:
        row_ratio(row, 100, a->readm30, a->index_disch);
        row->provisional = e->as_of < e->pe[p] + 30 * PSY_DAY + 12 * PSY_HOUR;
        break;
    case K_READM7:
        row_ratio(row, 100, a->readm7, a->index_disch);
        row->provisional = e->as_of < e->pe[p] + 30 * PSY_DAY + 12 * PSY_HOUR;
        break;
    case K_READM_MEDIAN:
        row_median(row, e, M_READM, key);
        row->provisional = e->as_of < e->pe[p] + 365 * PSY_DAY + 12 * PSY_HOUR;
        break;
    case K_SELF_SHARE:
        row_ratio(row, 100, a->self_disch, a->discharges);
        break;
    case K_CONSULT:
        row_count(row, a->consult);
        break;
    case K_CONSULTED:
        row_count(row, a->consulted);
        break;
    case K_TREAT:
        row_count(row, a->treat);
        break;
    case K_WAIT60:
        row_ratio(row, 100, a->wait60, a->treat);
        break;
    case K_WAIT_MEDIAN:
        row_median(row, e, M_WAIT, key);
        break;
    case K_OVERDUE:
        row_count(row, a->overdue);
        break;
    case K_RECORDS:
        row_count(row, a->records);
        break;
    case K_INCONS:
        row_count(row, a->incons);
        break;
    default:
        break;
    }
}

static bool
query_valid(const kpi_query_t *q)
{
    if (!q || !q->conf || q->conf->ncenters > PSY_CENTERS_MAX || q->as_of == PSY_TIME_NONE)
        return false;
    if ((q->nperiods && !q->periods) || (q->nlevels && !q->levels) || (q->nkpis && !q->kpis))
        return false;
    if (q->conf->nbaseline > PSY_BASELINE_MAX)
        return false;
    for (size_t i = 0; i < q->nperiods; i++) {
        const kpi_period_t *p = &q->periods[i];

        if (p->kind < KPI_MONTH || p->kind > KPI_R12 || p->month < 1 || p->month > 12 ||
            p->year < 1 || p->year > 9999)
            return false;
    }
    for (size_t i = 0; i < q->nlevels; i++)
        if (q->levels[i] != KPI_LEVEL_REGION &&
            (q->levels[i] < 0 || (size_t)q->levels[i] >= q->conf->ncenters))
            return false;
    for (size_t i = 0; i < q->nkpis; i++)
        if (q->kpis[i] < 0 || q->kpis[i] >= K__COUNT)
            return false;
    /* One row per combination must fit in memory arithmetic. */
    if (q->nperiods > (size_t)UINT32_MAX / (PSY_CENTERS_MAX + 1) / D__COUNT ||
        (q->nlevels && q->nkpis &&
         q->nperiods > SIZE_MAX / sizeof(kpi_row_t) / q->nlevels / q->nkpis))
        return false;
    return true;
}

static void
eng_free(eng_t *e)
{
    free(e->per);
    free(e->ps);
    free(e->pe);
    free(e->ord);
    free(e->ord_ps);
    free(e->maxend);
    free(e->hits);
    free(e->acc);
    free(e->stamp);
    for (int w = 0; w < M__COUNT; w++) {
        free(e->med[w].v);
        free(e->med_val[w]);
        free(e->med_n[w]);
    }
    free(e->pid);
    for (int t = 0; t < PSY_REC__COUNT; t++)
        free(e->lst[t]);
    free(e->contacts);
}

int
kpi_compute(const kpi_records_t *recs, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n)
{
    eng_t e = {0};
    bool want_target = false;
    kpi_row_t *rows = NULL;
    size_t nrows, i = 0;
    int rc;

    if (!recs || !ret_rows || !ret_n || !query_valid(q) || recs->count >= UINT32_MAX)
        return -EINVAL;
    for (size_t k = 0; k < q->nkpis; k++)
        want_target |=
            q->kpis[k] == K_BASELINE || q->kpis[k] == K_REDUCTION || q->kpis[k] == K_ON_TRACK;
    e.recs = recs;
    e.conf = q->conf;
    e.as_of = q->as_of;
    e.nslots = q->conf->ncenters + 1;
    rc = periods_init(&e, q, want_target);
    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    e.acc = calloc(e.nper * e.nslots + 1, sizeof(*e.acc));
    e.stamp = calloc((size_t)D__COUNT * e.nper * e.nslots + 1, sizeof(*e.stamp));
    if (!e.acc || !e.stamp)
        goto out;
    if ((rc = index_build(&e)) < 0 || (rc = contacts_build(&e)) < 0)
        goto out;
    contacts_count(&e);
    if ((rc = records_count(&e)) < 0 || (rc = referrals_count(&e)) < 0 ||
        (rc = patients_count(&e)) < 0 || (rc = medians_finish(&e)) < 0)
        goto out;

    nrows = q->nperiods * q->nlevels * q->nkpis;
    rows = calloc(nrows ? nrows : 1, sizeof(*rows));
    rc = -ENOMEM;
    if (!rows)
        goto out;
    for (size_t p = 0; p < q->nperiods; p++)
        for (size_t l = 0; l < q->nlevels; l++)
            for (size_t k = 0; k < q->nkpis; k++, i++) {
                kpi_row_t *row = &rows[i];
                size_t slot =
                    q->levels[l] == KPI_LEVEL_REGION ? e.nslots - 1 : (size_t)q->levels[l];

                row->period = q->periods[p];
                row->level = q->levels[l];
                row->kpi = q->kpis[k];
                row_fill(&e, (uint32_t)p, q->nperiods, slot, row);
            }
    *ret_rows = rows;
    *ret_n = nrows;
    rows = NULL;
    rc = 0;
out:
    free(rows);
    eng_free(&e);
    return rc;
}
