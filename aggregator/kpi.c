/*
 * The KPI engine: registrations in, the rows of kpis.md out.
 *
 * Two steps. kpi_model_new() prepares, once: the patients (hash on the
 * pseudonym), the contacts (hash on center and contact id), each patient's
 * stays with their index discharges, and the referral matches, kept as
 * compact tables sorted by patient that no longer refer to the records.
 * kpi_model_compute() then adds every event to the periods holding it,
 * found by binary search over the periods sorted by start, so the cost
 * grows with events times the periods one event falls in, not with events
 * times all periods. Only what depends on as_of beyond the choice of
 * records (open contacts, open stays, ended belts, overdue referrals) is
 * decided in the second step, which lets one model of everything answer
 * any as_of from its latest record on.
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
    K_TARGET_EP,
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
    "intrusive_target_episodes",
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

/* ---- the model: compact tables built once ---- */

/*
 * Every table holds plain 8-byte-aligned structs, so that a model can be
 * written out and used again straight from a mapped file
 * (kpi_model_write, kpi_model_from_buffer).
 */
typedef struct {
    psy_time_t time;
    uint32_t center, pad;
} mev_t; /* a record, or a record left out as inconsistent */

enum { MC_INVOL = 1, MC_SELF = 2 };

typedef struct {
    psy_time_t start, end; /* end is PSY_TIME_NONE while open */
    uint32_t pid;          /* NONE32 without a patient */
    uint32_t center;
    uint32_t flags; /* MC_* */
    uint32_t pad;
} mcontact_t;

typedef struct {
    psy_time_t time, end; /* end PSY_TIME_NONE when not given */
    uint32_t pid, center;
    uint32_t kind; /* psy_coercion_t; voluntary belts are not here */
    uint32_t pad;
} mcoerc_t;

typedef struct {
    psy_time_t time;
    uint32_t pid, center;
    uint32_t role, consult; /* 0 when out of range */
} mconsult_t;

typedef struct {
    psy_time_t ref, start; /* start: the matched treatment start, or PSY_TIME_NONE */
    uint32_t center, pad;
} mref_t;

/*
 * An index discharge and what followed it among the patient's closed
 * qualifying stays. Whether the patient's last stay, when it is still open,
 * qualifies depends on as_of, so it is kept apart (open_start).
 */
typedef struct {
    psy_time_t end;
    psy_time_t next_q;     /* start of the next closed qualifying stay, or NONE */
    psy_time_t next_qa;    /* the same, mode acute */
    psy_time_t open_start; /* start of the patient's open stay, or NONE */
    uint32_t center;
    uint32_t open_acute;
} mindex_t;

#define MODEL_MAGIC   UINT64_C(0x314d49504b595350) /* "PSYKPIM1" */
#define MODEL_VERSION 1

typedef struct {
    uint64_t magic, version, header_size;
    uint64_t ncenters;
    uint64_t nrec, ninc, ncontacts, ncoerc, nconsult, nref, nindex, npatients;
    int64_t max_time;     /* latest time of a record in the model */
    int64_t min_excluded; /* earliest time of a record left out as after the cutoff */
} mhdr_t;

struct kpi_model {
    mhdr_t h;
    mev_t *rec, *inc;
    mcontact_t *contacts; /* sorted by patient, those without one last */
    mcoerc_t *coerc;      /* likewise */
    mconsult_t *consult;  /* likewise */
    mref_t *refs;
    mindex_t *index;
    uint32_t *coff, *xoff, *soff; /* per patient p: [off[p], off[p + 1]) in the three above */
    bool owned;
};

/* ---- hashing ---- */

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* A string's hash, eight bytes at a time. */
static uint64_t
hash_key(uint32_t center, const char *id)
{
    size_t n = strlen(id);
    uint64_t h = mix64(center + UINT64_C(0x9e3779b97f4a7c15) * (n + 1));

    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;

        memcpy(&w, id + i, n - i < 8 ? n - i : 8);
        h = mix64(h ^ w) + i;
    }
    return h;
}

static uint64_t
hash_patient(const uint8_t p[PSY_PSEUDONYM_LEN])
{
    uint64_t h = 0;

    for (size_t i = 0; i < PSY_PSEUDONYM_LEN; i += 8) {
        uint64_t w;

        memcpy(&w, p + i, 8);
        h = mix64(h ^ w ^ i);
    }
    return h;
}

typedef struct {
    uint32_t v; /* value + 1; 0 is empty */
    uint32_t h; /* high half of the key's hash: most mismatches end here */
} hslot_t;

typedef struct {
    hslot_t *slot;
    size_t mask;
} htab_t;

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

static const char *
id_of(const psy_record_t *r)
{
    return r->id;
}

typedef struct {
    const kpi_records_t *recs;
    const psy_agg_conf_t *conf;
    psy_time_t cutoff;
    kpi_model_t *m;

    uint32_t *lst[PSY_REC__COUNT]; /* usable records by type, in input order */
    size_t nlst[PSY_REC__COUNT];
    uint32_t *pid; /* per record: patient id or NONE32 */
    size_t ninc, capinc;

    /* Contacts while building: record indexes. */
    size_t ncontacts;
    uint32_t *cadm, *cdisc;
} bld_t;

/*
 * The slot for (center, id) in a table whose values index records (get_id
 * reads a record's key): either the one holding it or the empty one where it
 * belongs.
 */
static hslot_t *
htab_slot(htab_t *h, const bld_t *b, const uint32_t *vals, uint16_t center, const char *id,
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
            const kpi_record_t *kr = &b->recs->items[vals[s->v - 1]];

            if (kr->center == center && strcmp(get_id(&kr->rec), id) == 0)
                return s;
        }
        i = (i + 1) & h->mask;
    }
}

static bool
rec_valid(const bld_t *b, const kpi_record_t *kr)
{
    const psy_record_t *r = &kr->rec;

    return !r->is_void && kr->center < b->conf->ncenters && r->type > PSY_REC_NONE &&
           r->type < PSY_REC__COUNT && r->time != PSY_TIME_NONE;
}

/*
 * One pass over the records: the usable ones listed by type and as events,
 * and a dense patient id for every record that a distinct count or a stay
 * needs. Later passes walk only the lists they need.
 */
static int
index_build(bld_t *b)
{
    const kpi_records_t *r = b->recs;
    kpi_model_t *m = b->m;
    htab_t h = {0};
    uint8_t(*pats)[PSY_PSEUDONYM_LEN] = NULL; /* per patient id: its pseudonym */
    size_t np = 0, cap = 0, n = r->count ? r->count : 1;
    int rc = -ENOMEM;

    for (int t = 0; t < PSY_REC__COUNT; t++)
        if (!(b->lst[t] = malloc(n * sizeof(*b->lst[t]))))
            return -ENOMEM;
    b->pid = malloc(n * sizeof(*b->pid));
    m->rec = malloc(n * sizeof(*m->rec));
    if (!b->pid || !m->rec || htab_init(&h, r->count) < 0)
        goto out;
    m->h.max_time = INT64_MIN;
    m->h.min_excluded = INT64_MAX;
    for (size_t i = 0; i < r->count; i++) {
        const kpi_record_t *kr = &r->items[i];
        const psy_record_t *rec = &kr->rec;

        b->pid[i] = NONE32;
        if (!rec_valid(b, kr))
            continue;
        if (rec->time > b->cutoff) {
            if (rec->time < m->h.min_excluded)
                m->h.min_excluded = rec->time;
            continue;
        }
        if (rec->time > m->h.max_time)
            m->h.max_time = rec->time;
        m->rec[m->h.nrec++] = (mev_t){rec->time, kr->center, 0};
        b->lst[rec->type][b->nlst[rec->type]++] = (uint32_t)i;
        if (!rec->has_patient || (rec->type != PSY_REC_ADMISSION && rec->type != PSY_REC_COERCION &&
                                  rec->type != PSY_REC_CONSULTATION))
            continue;
        uint64_t hash = hash_patient(rec->patient);
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
                b->pid[i] = (uint32_t)(np - 1);
                break;
            }
            if (sl->h == hi && memcmp(pats[sl->v - 1], rec->patient, PSY_PSEUDONYM_LEN) == 0) {
                b->pid[i] = sl->v - 1;
                break;
            }
            s = (s + 1) & h.mask;
        }
    }
    m->h.npatients = np;
    rc = 0;
out:
    free(pats);
    free(h.slot);
    return rc;
}

/* Notes a record left out as inconsistent, by its time. */
static int
incons_add(bld_t *b, const kpi_record_t *kr)
{
    kpi_model_t *m = b->m;

    if (b->ninc == b->capinc) {
        size_t cap = b->capinc ? b->capinc * 2 : 256;
        mev_t *nv = realloc(m->inc, cap * sizeof(*nv));

        if (!nv)
            return -ENOMEM;
        m->inc = nv;
        b->capinc = cap;
    }
    m->inc[b->ninc++] = (mev_t){kr->rec.time, kr->center, 0};
    m->h.ninc = b->ninc;
    return 0;
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
contacts_build(bld_t *b)
{
    const kpi_records_t *r = b->recs;
    size_t nadm = b->nlst[PSY_REC_ADMISSION];
    htab_t h = {0};

    b->cadm = malloc((nadm ? nadm : 1) * sizeof(*b->cadm));
    b->cdisc = malloc((nadm ? nadm : 1) * sizeof(*b->cdisc));
    if (!b->cadm || !b->cdisc || htab_init(&h, nadm) < 0)
        goto fail;
    for (size_t j = 0; j < nadm; j++) {
        size_t i = b->lst[PSY_REC_ADMISSION][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, b, b->cadm, kr->center, contact_of(&kr->rec), contact_of);
        if (!s->v) {
            b->cadm[b->ncontacts] = (uint32_t)i;
            b->cdisc[b->ncontacts] = NONE32;
            s->v = (uint32_t)++b->ncontacts;
            continue;
        }
        uint32_t *adm = &b->cadm[s->v - 1];
        if (rec_before(&kr->rec, &r->items[*adm].rec)) {
            if (incons_add(b, &r->items[*adm]) < 0)
                goto fail;
            *adm = (uint32_t)i;
        } else if (incons_add(b, kr) < 0) {
            goto fail;
        }
    }
    for (size_t j = 0; j < b->nlst[PSY_REC_DISCHARGE]; j++) {
        size_t i = b->lst[PSY_REC_DISCHARGE][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, b, b->cadm, kr->center, kr->rec.contact, contact_of);
        if (!s->v || kr->rec.time < r->items[b->cadm[s->v - 1]].rec.time) {
            if (incons_add(b, kr) < 0)
                goto fail;
            continue;
        }
        uint32_t *d = &b->cdisc[s->v - 1];
        if (*d == NONE32) {
            *d = (uint32_t)i;
        } else if (rec_before(&kr->rec, &r->items[*d].rec)) {
            if (incons_add(b, &r->items[*d]) < 0)
                goto fail;
            *d = (uint32_t)i;
        } else if (incons_add(b, kr) < 0) {
            goto fail;
        }
    }
    free(h.slot);
    return 0;
fail:
    free(h.slot);
    return -ENOMEM;
}

/*
 * Waiting time: each referral matched with its earliest treatment start at
 * the same center not before it; the others are inconsistent.
 */
static int
referrals_build(bld_t *b)
{
    const kpi_records_t *r = b->recs;
    kpi_model_t *m = b->m;
    size_t nref = b->nlst[PSY_REC_REFERRAL];
    htab_t h = {0};
    uint32_t *refs = NULL, *match = NULL;
    int rc = -ENOMEM;

    refs = malloc((nref ? nref : 1) * sizeof(*refs));
    match = malloc((nref ? nref : 1) * sizeof(*match));
    m->refs = malloc((nref ? nref : 1) * sizeof(*m->refs));
    if (!refs || !match || !m->refs || htab_init(&h, nref) < 0)
        goto out;
    nref = 0;
    for (size_t j = 0; j < b->nlst[PSY_REC_REFERRAL]; j++) {
        size_t i = b->lst[PSY_REC_REFERRAL][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, b, refs, kr->center, kr->rec.id, id_of);
        if (s->v) /* Ids are unique per center; a second one cannot occur after corrections. */
            continue;
        refs[nref] = (uint32_t)i;
        match[nref] = NONE32;
        s->v = (uint32_t)++nref;
    }
    for (size_t j = 0; j < b->nlst[PSY_REC_TREATMENT_START]; j++) {
        size_t i = b->lst[PSY_REC_TREATMENT_START][j];
        const kpi_record_t *kr = &r->items[i];
        hslot_t *s = htab_slot(&h, b, refs, kr->center, kr->rec.referral, id_of);
        if (!s->v || kr->rec.time < r->items[refs[s->v - 1]].rec.time) {
            if (incons_add(b, kr) < 0)
                goto out;
            continue;
        }
        uint32_t *mt = &match[s->v - 1];
        if (*mt == NONE32) {
            *mt = (uint32_t)i;
        } else if (rec_before(&kr->rec, &r->items[*mt].rec)) {
            if (incons_add(b, &r->items[*mt]) < 0)
                goto out;
            *mt = (uint32_t)i;
        } else if (incons_add(b, kr) < 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < nref; i++) {
        const kpi_record_t *kr = &r->items[refs[i]];

        m->refs[i] =
            (mref_t){kr->rec.time, match[i] == NONE32 ? PSY_TIME_NONE : r->items[match[i]].rec.time,
                     kr->center, 0};
    }
    m->h.nref = nref;
    rc = 0;
out:
    free(h.slot);
    free(refs);
    free(match);
    return rc;
}

static bool
legal_involuntary(psy_legal_t l)
{
    return l == PSY_LEGAL_INVOLUNTARY_RED || l == PSY_LEGAL_INVOLUNTARY_YELLOW;
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

/*
 * Sorts n items of `size` bytes by key[] (patient id, NONE32 last) into
 * dst, stably, and fills off[0..np] with each patient's first index.
 */
static int
by_patient(const void *src, const uint32_t *key, size_t n, size_t size, size_t np, void *dst,
           uint32_t **ret_off)
{
    uint32_t *off = calloc(np + 2, sizeof(*off));

    if (!off)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        off[(key[i] == NONE32 ? np : key[i]) + 1]++;
    for (size_t p = 0; p <= np; p++)
        off[p + 1] += off[p];
    uint32_t *pos = malloc((np + 1) * sizeof(*pos));
    if (!pos) {
        free(off);
        return -ENOMEM;
    }
    memcpy(pos, off, (np + 1) * sizeof(*pos));
    for (size_t i = 0; i < n; i++)
        memcpy((char *)dst + (size_t)pos[key[i] == NONE32 ? np : key[i]]++ * size,
               (const char *)src + i * size, size);
    free(pos);
    *ret_off = off;
    return 0;
}

/* The compact contacts, coercion episodes and consultations, each sorted by patient. */
static int
events_build(bld_t *b)
{
    const kpi_records_t *r = b->recs;
    kpi_model_t *m = b->m;
    size_t nc = b->ncontacts, nx = b->nlst[PSY_REC_COERCION], ns = b->nlst[PSY_REC_CONSULTATION],
           np = m->h.npatients, nmax = (nc > nx ? nc : nx) > ns ? (nc > nx ? nc : nx) : ns;
    uint32_t *key = calloc(nmax ? nmax : 1, sizeof(*key));
    mcontact_t *c = malloc((nc ? nc : 1) * sizeof(*c));
    mcoerc_t *x = malloc((nx ? nx : 1) * sizeof(*x));
    mconsult_t *s = malloc((ns ? ns : 1) * sizeof(*s));
    int rc = -ENOMEM;

    m->contacts = malloc((nc ? nc : 1) * sizeof(*m->contacts));
    m->coerc = malloc((nx ? nx : 1) * sizeof(*m->coerc));
    m->consult = malloc((ns ? ns : 1) * sizeof(*m->consult));
    if (!key || !c || !x || !s || !m->contacts || !m->coerc || !m->consult)
        goto out;
    for (size_t i = 0; i < nc; i++) {
        const psy_record_t *a = &r->items[b->cadm[i]].rec;
        uint32_t d = b->cdisc[i];

        c[i] = (mcontact_t){
            a->time,
            d == NONE32 ? PSY_TIME_NONE : r->items[d].rec.time,
            b->pid[b->cadm[i]],
            r->items[b->cadm[i]].center,
            (legal_involuntary(a->legal) ? MC_INVOL : 0) |
                (d != NONE32 && r->items[d].rec.outcome == PSY_OUTCOME_SELF_DISCHARGE ? MC_SELF
                                                                                      : 0),
            0};
        key[i] = c[i].pid;
    }
    if (by_patient(c, key, nc, sizeof(*c), np, m->contacts, &m->coff) < 0)
        goto out;
    m->h.ncontacts = nc;
    /* by_patient is stable: the record indexes follow the same permutation. */
    {
        uint32_t *adm = malloc((nc ? nc : 1) * sizeof(*adm)), *disc = NULL;
        uint32_t *pos = malloc((np + 1) * sizeof(*pos));

        disc = malloc((nc ? nc : 1) * sizeof(*disc));
        if (!adm || !pos || !disc) {
            free(adm);
            free(pos);
            free(disc);
            goto out;
        }
        memcpy(pos, m->coff, (np + 1) * sizeof(*pos));
        for (size_t i = 0; i < nc; i++) {
            uint32_t k = pos[key[i] == NONE32 ? np : key[i]]++;

            adm[k] = b->cadm[i];
            disc[k] = b->cdisc[i];
        }
        free(pos);
        free(b->cadm);
        free(b->cdisc);
        b->cadm = adm;
        b->cdisc = disc;
    }

    size_t k = 0;
    for (size_t j = 0; j < nx; j++) {
        uint32_t i = b->lst[PSY_REC_COERCION][j];
        const psy_record_t *rec = &r->items[i].rec;

        if (!coercion_counts(rec))
            continue;
        x[k] = (mcoerc_t){
            rec->time, rec->end, b->pid[i], r->items[i].center, (uint32_t)rec->coercion, 0};
        key[k++] = b->pid[i];
    }
    if (by_patient(x, key, k, sizeof(*x), np, m->coerc, &m->xoff) < 0)
        goto out;
    m->h.ncoerc = k;

    for (size_t j = 0; j < ns; j++) {
        uint32_t i = b->lst[PSY_REC_CONSULTATION][j];
        const psy_record_t *rec = &r->items[i].rec;
        bool rk = rec->role > PSY_ROLE_NONE && rec->role < PSY_ROLE__COUNT &&
                  rec->consult > PSY_CONSULT_NONE && rec->consult < PSY_CONSULT__COUNT;

        s[j] = (mconsult_t){rec->time, b->pid[i], r->items[i].center, rk ? (uint32_t)rec->role : 0,
                            rk ? (uint32_t)rec->consult : 0};
        key[j] = b->pid[i];
    }
    if (by_patient(s, key, ns, sizeof(*s), np, m->consult, &m->soff) < 0)
        goto out;
    m->h.nconsult = ns;
    rc = 0;
out:
    free(key);
    free(c);
    free(x);
    free(s);
    return rc;
}

/* ---- stays ---- */

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
    const bld_t *bl = arg;
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    const mcontact_t *x = &bl->m->contacts[ia];
    const mcontact_t *y = &bl->m->contacts[ib];
    int c;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    bool xo = x->end == PSY_TIME_NONE, yo = y->end == PSY_TIME_NONE;
    if (xo != yo)
        return xo ? 1 : -1;
    if (!xo && x->end != y->end)
        return x->end < y->end ? -1 : 1;
    c = strcmp(bl->conf->centers[x->center].id, bl->conf->centers[y->center].id);
    if (c)
        return c;
    return strcmp(contact_of(&bl->recs->items[bl->cadm[ia]].rec),
                  contact_of(&bl->recs->items[bl->cadm[ib]].rec));
}

/* Merges one patient's contacts (sorted) into stays; returns their number. */
static size_t
stays_merge(const kpi_model_t *m, const uint32_t *cs, size_t n, stay_t *st)
{
    size_t ns = 0;

    for (size_t i = 0; i < n; i++) {
        const mcontact_t *c = &m->contacts[cs[i]];
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

static int
index_push(bld_t *b, size_t *cap, const mindex_t *ix)
{
    kpi_model_t *m = b->m;

    if (m->h.nindex == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        mindex_t *nv = realloc(m->index, ncap * sizeof(*nv));

        if (!nv)
            return -ENOMEM;
        m->index = nv;
        *cap = ncap;
    }
    m->index[m->h.nindex++] = *ix;
    return 0;
}

/*
 * Every patient's stays, and of each index discharge the next closed
 * qualifying stays. Only a patient's last stay can be open (an open stay
 * takes in every later contact), so it is noted apart.
 */
static int
stays_build(bld_t *b)
{
    const kpi_records_t *r = b->recs;
    kpi_model_t *m = b->m;
    size_t maxc = 0, cap = 0;
    uint32_t *cs = NULL;
    stay_t *st = NULL;
    int rc = -ENOMEM;

    for (size_t p = 0; p < m->h.npatients; p++)
        if (m->coff[p + 1] - m->coff[p] > maxc)
            maxc = m->coff[p + 1] - m->coff[p];
    cs = malloc((maxc ? maxc : 1) * sizeof(*cs));
    st = malloc((maxc ? maxc : 1) * sizeof(*st));
    if (!cs || !st)
        goto out;
    for (size_t p = 0; p < m->h.npatients; p++) {
        size_t nc = 0;

        for (uint32_t i = m->coff[p]; i < m->coff[p + 1]; i++)
            cs[nc++] = i;
        if (!nc)
            continue;
        /* Most patients have a handful of contacts: insertion sort beats qsort there. */
        if (nc <= 16) {
            for (size_t x = 1; x < nc; x++) {
                uint32_t c = cs[x];
                size_t y = x;

                for (; y > 0 && stay_cmp_r(&cs[y - 1], &c, b) > 0; y--)
                    cs[y] = cs[y - 1];
                cs[y] = c;
            }
        } else {
            qsort_r(cs, nc, sizeof(*cs), stay_cmp_r, b);
        }
        size_t ns = stays_merge(m, cs, nc, st);
        const stay_t *open = ns && st[ns - 1].open ? &st[ns - 1] : NULL;
        psy_time_t next_q = PSY_TIME_NONE, next_qa = PSY_TIME_NONE;

        for (size_t i = ns; i-- > 0;) {
            const stay_t *s = &st[i];

            if (s->open || s->end - s->start < 12 * PSY_HOUR)
                continue;
            psy_outcome_t out = r->items[b->cdisc[s->last]].rec.outcome;
            if (out != PSY_OUTCOME_DEATH && out != PSY_OUTCOME_TRANSFER) {
                mindex_t ix = {s->end,
                               next_q,
                               next_qa,
                               open ? open->start : PSY_TIME_NONE,
                               m->contacts[s->last].center,
                               open && r->items[b->cadm[open->first]].rec.mode == PSY_MODE_ACUTE};
                if (index_push(b, &cap, &ix) < 0)
                    goto out;
            }
            next_q = s->start;
            if (r->items[b->cadm[s->first]].rec.mode == PSY_MODE_ACUTE)
                next_qa = s->start;
        }
    }
    rc = 0;
out:
    free(cs);
    free(st);
    return rc;
}

static void
bld_free(bld_t *b)
{
    for (int t = 0; t < PSY_REC__COUNT; t++)
        free(b->lst[t]);
    free(b->pid);
    free(b->cadm);
    free(b->cdisc);
}

kpi_model_t *
kpi_model_new(const kpi_records_t *recs, const psy_agg_conf_t *conf, psy_time_t cutoff)
{
    bld_t b = {0};
    kpi_model_t *m;

    if (!recs || !conf || conf->ncenters > PSY_CENTERS_MAX || recs->count >= UINT32_MAX ||
        cutoff == PSY_TIME_NONE) {
        errno = EINVAL;
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->owned = true;
    m->h.magic = MODEL_MAGIC;
    m->h.version = MODEL_VERSION;
    m->h.header_size = sizeof(mhdr_t);
    m->h.ncenters = conf->ncenters;
    b.recs = recs;
    b.conf = conf;
    b.cutoff = cutoff;
    b.m = m;
    if (index_build(&b) < 0 || contacts_build(&b) < 0 || referrals_build(&b) < 0 ||
        events_build(&b) < 0 || stays_build(&b) < 0) {
        bld_free(&b);
        kpi_model_destroy(&m);
        errno = ENOMEM;
        return NULL;
    }
    bld_free(&b);
    return m;
}

void
kpi_model_destroy(kpi_model_t **mp)
{
    kpi_model_t *m = mp ? *mp : NULL;

    if (!m)
        return;
    if (m->owned) {
        free(m->rec);
        free(m->inc);
        free(m->contacts);
        free(m->coerc);
        free(m->consult);
        free(m->refs);
        free(m->index);
        free(m->coff);
        free(m->xoff);
        free(m->soff);
    }
    free(m);
    *mp = NULL;
}

bool
kpi_model_covers(const kpi_model_t *m, psy_time_t as_of)
{
    return m && as_of != PSY_TIME_NONE && as_of >= m->h.max_time && as_of < m->h.min_excluded;
}

/* ---- the model as bytes ---- */

typedef struct {
    void **ptr;
    size_t size; /* bytes */
} seg_t;

static size_t
model_segments(kpi_model_t *m, seg_t seg[10])
{
    size_t np1 = m->h.npatients + 1, n = 0;

    seg[n++] = (seg_t){(void **)&m->rec, m->h.nrec * sizeof(mev_t)};
    seg[n++] = (seg_t){(void **)&m->inc, m->h.ninc * sizeof(mev_t)};
    seg[n++] = (seg_t){(void **)&m->contacts, m->h.ncontacts * sizeof(mcontact_t)};
    seg[n++] = (seg_t){(void **)&m->coerc, m->h.ncoerc * sizeof(mcoerc_t)};
    seg[n++] = (seg_t){(void **)&m->consult, m->h.nconsult * sizeof(mconsult_t)};
    seg[n++] = (seg_t){(void **)&m->refs, m->h.nref * sizeof(mref_t)};
    seg[n++] = (seg_t){(void **)&m->index, m->h.nindex * sizeof(mindex_t)};
    seg[n++] = (seg_t){(void **)&m->coff, np1 * sizeof(uint32_t)};
    seg[n++] = (seg_t){(void **)&m->xoff, np1 * sizeof(uint32_t)};
    seg[n++] = (seg_t){(void **)&m->soff, np1 * sizeof(uint32_t)};
    return n;
}

static size_t
pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

int
kpi_model_write(const kpi_model_t *m, int (*write)(void *ctx, const void *p, size_t n), void *ctx)
{
    static const uint8_t zeros[8];
    seg_t seg[10];
    size_t nseg;
    int r;

    if (!m || !write)
        return -EINVAL;
    nseg = model_segments((kpi_model_t *)m, seg);
    if ((r = write(ctx, &m->h, sizeof(m->h))) < 0)
        return r;
    for (size_t i = 0; i < nseg; i++) {
        size_t pad = pad8(seg[i].size) - seg[i].size;

        if ((seg[i].size && (r = write(ctx, *seg[i].ptr, seg[i].size)) < 0) ||
            (pad && (r = write(ctx, zeros, pad)) < 0))
            return r;
    }
    return 0;
}

/* A time the arithmetic of the passes cannot overflow on: within some 36,000 years of 1970. */
static bool
time_ok(psy_time_t t, bool none_ok)
{
    return (none_ok && t == PSY_TIME_NONE) || (t > -(INT64_C(1) << 60) && t < (INT64_C(1) << 60));
}

/*
 * Checks every count and offset, so that a damaged file gives NULL rather
 * than a read out of bounds: counts must add up to the length exactly, and
 * the patient offsets must rise to the table sizes.
 */
kpi_model_t *
kpi_model_from_buffer(const void *buf, size_t len)
{
    kpi_model_t *m;
    seg_t seg[10];
    size_t nseg, off = sizeof(mhdr_t);
    const mhdr_t *h = buf;

    if (!buf || len < sizeof(mhdr_t) || ((uintptr_t)buf & 7) || h->magic != MODEL_MAGIC ||
        h->version != MODEL_VERSION || h->header_size != sizeof(mhdr_t) ||
        h->ncenters > PSY_CENTERS_MAX)
        return NULL;
    /* Each count bounded by the length keeps the size arithmetic below from overflowing. */
    if (h->nrec > len || h->ninc > len || h->ncontacts > len || h->ncoerc > len ||
        h->nconsult > len || h->nref > len || h->nindex > len || h->npatients >= len ||
        h->nrec >= UINT32_MAX || h->npatients >= UINT32_MAX)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->h = *h;
    nseg = model_segments(m, seg);
    for (size_t i = 0; i < nseg; i++) {
        if (pad8(seg[i].size) > len - off)
            goto bad;
        *seg[i].ptr = (char *)buf + off;
        off += pad8(seg[i].size);
    }
    if (off != len)
        goto bad;
    const uint32_t *offs[3] = {m->coff, m->xoff, m->soff};
    uint64_t sizes[3] = {m->h.ncontacts, m->h.ncoerc, m->h.nconsult};
    for (int k = 0; k < 3; k++) {
        if (offs[k][0] != 0)
            goto bad;
        for (size_t p = 0; p < m->h.npatients; p++)
            if (offs[k][p + 1] < offs[k][p])
                goto bad;
        if (offs[k][m->h.npatients] > sizes[k])
            goto bad;
    }
    for (size_t i = 0; i < m->h.ncontacts; i++)
        if (m->contacts[i].center >= m->h.ncenters || !time_ok(m->contacts[i].start, false) ||
            !time_ok(m->contacts[i].end, true))
            goto bad;
    for (size_t i = 0; i < m->h.ncoerc; i++)
        if (m->coerc[i].center >= m->h.ncenters || m->coerc[i].kind < 1 ||
            m->coerc[i].kind >= PSY_COERCION__COUNT || !time_ok(m->coerc[i].time, false) ||
            !time_ok(m->coerc[i].end, true))
            goto bad;
    for (size_t i = 0; i < m->h.nconsult; i++)
        if (m->consult[i].center >= m->h.ncenters || !time_ok(m->consult[i].time, false) ||
            m->consult[i].role >= PSY_ROLE__COUNT || m->consult[i].consult >= PSY_CONSULT__COUNT ||
            (m->consult[i].role == 0) != (m->consult[i].consult == 0))
            goto bad;
    for (size_t i = 0; i < m->h.nrec; i++)
        if (m->rec[i].center >= m->h.ncenters || !time_ok(m->rec[i].time, false))
            goto bad;
    for (size_t i = 0; i < m->h.ninc; i++)
        if (m->inc[i].center >= m->h.ncenters || !time_ok(m->inc[i].time, false))
            goto bad;
    for (size_t i = 0; i < m->h.nref; i++)
        if (m->refs[i].center >= m->h.ncenters || !time_ok(m->refs[i].ref, false) ||
            !time_ok(m->refs[i].start, true))
            goto bad;
    for (size_t i = 0; i < m->h.nindex; i++)
        if (m->index[i].center >= m->h.ncenters || !time_ok(m->index[i].end, false) ||
            !time_ok(m->index[i].next_q, true) || !time_ok(m->index[i].next_qa, true) ||
            !time_ok(m->index[i].open_start, true))
            goto bad;
    if (!time_ok(m->h.max_time, false) && m->h.max_time != INT64_MIN)
        goto bad;
    return m;
bad:
    free(m);
    return NULL;
}

/* ---- computing a query from the model ---- */

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
    const kpi_model_t *m;
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
    psy_time_t lo, hi;  /* the union of all periods: [lo, hi) */

    size_t nslots; /* centers, then the region */
    acc_t *acc;
    uint32_t *stamp; /* D__COUNT * nper * nslots */
    mvec_t med[M__COUNT];
    bool want_med[M__COUNT]; /* the query asks for this median: collect its values */
    double *med_val[M__COUNT];
    int64_t *med_n[M__COUNT];
} eng_t;

/* Periods whose [start, end) meets [lo, hi): start < hi and end > lo. */
static size_t
periods_meeting(eng_t *e, psy_time_t lo, psy_time_t hi)
{
    size_t a = 0, b = e->nper, n = 0;

    /* Most events of ten years lie outside a one-year query: leave them at once. */
    if (hi <= e->lo || lo >= e->hi)
        return 0;
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
    size_t n = e->want_med[which] ? periods_at(e, t) : 0;

    for (size_t k = 0; k < n; k++) {
        uint32_t base = e->hits[k] * (uint32_t)e->nslots;

        if (mvec_push(&e->med[which], base + (uint32_t)center, v) < 0 ||
            mvec_push(&e->med[which], base + (uint32_t)(e->nslots - 1), v) < 0)
            return -ENOMEM;
    }
    return 0;
}

/*
 * The k-th smallest of v[0..n) (0-based), by Hoare's selection: v is
 * reordered so that v[0..k) are no larger and v(k..n) no smaller. A median
 * needs only the middle, so this beats sorting every bucket.
 */
static double
select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        size_t i = lo, j = hi;

        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];

                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/*
 * The medians: values bucketed by key (a counting sort), then the middle of
 * each bucket found by selection, much cheaper than one sort on (key, value).
 */
static int
medians_finish(eng_t *e)
{
    size_t nkeys = e->nper * e->nslots;

    for (int w = 0; w < M__COUNT; w++) {
        mvec_t *m = &e->med[w];
        size_t *start = calloc(nkeys + 1, sizeof(*start));
        double *vals = malloc((m->n ? m->n : 1) * sizeof(*vals));

        e->med_val[w] = calloc(nkeys ? nkeys : 1, sizeof(double));
        e->med_n[w] = calloc(nkeys ? nkeys : 1, sizeof(int64_t));
        if (!e->med_val[w] || !e->med_n[w] || !start || !vals) {
            free(start);
            free(vals);
            return -ENOMEM;
        }
        for (size_t i = 0; i < m->n; i++)
            e->med_n[w][m->v[i].key]++;
        for (size_t k = 0; k < nkeys; k++)
            start[k + 1] = start[k] + (size_t)e->med_n[w][k];
        for (size_t i = 0; i < m->n; i++)
            vals[start[m->v[i].key]++] = m->v[i].v;
        for (size_t k = 0, at = 0; k < nkeys; k++) {
            size_t cnt = (size_t)e->med_n[w][k], mid = at + cnt / 2;

            if (cnt) {
                double hi = select_kth(vals + at, cnt, cnt / 2), lo = hi;

                /* Even count: the other middle value is the largest of the lower part. */
                if (cnt % 2 == 0) {
                    lo = vals[at];
                    for (size_t i = at + 1; i < mid; i++)
                        lo = vals[i] > lo ? vals[i] : lo;
                }
                e->med_val[w][k] = (lo + hi) / 2.0;
            }
            at += cnt;
        }
        free(start);
        free(vals);
    }
    return 0;
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
    e->lo = INT64_MAX;
    e->hi = INT64_MIN;
    for (size_t i = 0; i < e->nper; i++) {
        kpi_period_bounds(&e->per[i], &e->ps[i], &e->pe[i]);
        e->ord[i] = (uint32_t)i;
        e->lo = e->ps[i] < e->lo ? e->ps[i] : e->lo;
        e->hi = e->pe[i] > e->hi ? e->pe[i] : e->hi;
    }
    qsort_r(e->ord, e->nper, sizeof(*e->ord), ord_cmp_r, e);
    for (size_t i = 0; i < e->nper; i++) {
        e->ord_ps[i] = e->ps[e->ord[i]];
        psy_time_t end = e->pe[e->ord[i]];
        e->maxend[i] = i && e->maxend[i - 1] > end ? e->maxend[i - 1] : end;
    }
    return 0;
}

/* ---- the passes ---- */

/* Records, and records left out as inconsistent, by their time. */
static void
records_count(eng_t *e)
{
    const kpi_model_t *m = e->m;
    size_t R = e->nslots - 1;

    for (size_t i = 0; i < m->h.nrec; i++) {
        size_t n = periods_at(e, m->rec[i].time);

        for (size_t k = 0; k < n; k++) {
            acc_at(e, e->hits[k], m->rec[i].center)->records++;
            acc_at(e, e->hits[k], R)->records++;
        }
    }
    for (size_t i = 0; i < m->h.ninc; i++) {
        size_t n = periods_at(e, m->inc[i].time);

        for (size_t k = 0; k < n; k++) {
            acc_at(e, e->hits[k], m->inc[i].center)->incons++;
            acc_at(e, e->hits[k], R)->incons++;
        }
    }
}

/* Admissions, discharges, self-discharges and bed days of every contact. */
static void
contacts_count(eng_t *e)
{
    const kpi_model_t *m = e->m;
    size_t R = e->nslots - 1, n;

    for (size_t i = 0; i < m->h.ncontacts; i++) {
        const mcontact_t *c = &m->contacts[i];
        bool invol = c->flags & MC_INVOL;
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
            bool self = c->flags & MC_SELF;

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

/* Coercion episodes and consultations: the per-event sums. */
static int
episodes_count(eng_t *e)
{
    const kpi_model_t *m = e->m;
    size_t R = e->nslots - 1;

    for (size_t i = 0; i < m->h.ncoerc; i++) {
        const mcoerc_t *x = &m->coerc[i];
        size_t n = periods_at(e, x->time);

        if (!n)
            continue;
        int kind = (int)x->kind - 1;
        bool intr = coercion_intrusive((psy_coercion_t)x->kind);
        /* An end after as_of does not exist yet. */
        bool ended = x->end != PSY_TIME_NONE && x->end <= e->as_of;
        bool belt = x->kind == PSY_COERCION_BELT;
        bool over48 = belt && ended && x->end - x->time > 48 * PSY_HOUR;

        for (size_t k = 0; k < n; k++) {
            size_t slots[2] = {x->center, R};

            for (int j = 0; j < 2; j++) {
                acc_t *a = acc_at(e, e->hits[k], slots[j]);

                a->episodes[kind]++;
                a->intr_ep += intr;
                a->belt48 += over48;
            }
        }
        if (belt && ended &&
            median_at(e, M_BELT, x->time, x->center,
                      (double)(x->end - x->time) / (double)PSY_HOUR) < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < m->h.nconsult; i++) {
        const mconsult_t *s = &m->consult[i];
        size_t n = periods_at(e, s->time);

        for (size_t k = 0; k < n; k++) {
            size_t slots[2] = {s->center, R};

            for (int j = 0; j < 2; j++) {
                acc_t *a = acc_at(e, e->hits[k], slots[j]);

                a->consult++;
                if (s->role)
                    a->consult_rk[s->role - 1][s->consult - 1]++;
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

/* Treatment starts, their waits, and the referrals overdue at min(P end, as_of) of every period. */
static int
referrals_count(eng_t *e)
{
    const kpi_model_t *m = e->m;
    size_t R = e->nslots - 1, ns = e->nslots;
    uint32_t *ordT = NULL;
    psy_time_t *tP = NULL;
    int64_t *diff = NULL;
    int rc = -ENOMEM;

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

    for (size_t i = 0; i < m->h.nref; i++) {
        const mref_t *ref = &m->refs[i];
        psy_time_t treated = INT64_MAX;

        if (ref->start != PSY_TIME_NONE) {
            psy_time_t wait = ref->start - ref->ref;
            size_t n = periods_at(e, ref->start);

            treated = ref->start;
            for (size_t k = 0; k < n; k++) {
                size_t slots[2] = {ref->center, R};

                for (int j = 0; j < 2; j++) {
                    acc_t *a = acc_at(e, e->hits[k], slots[j]);

                    a->treat++;
                    a->wait60 += wait <= 60 * PSY_DAY;
                }
            }
            if (n &&
                median_at(e, M_WAIT, ref->start, ref->center, (double)wait / (double)PSY_DAY) < 0)
                goto out;
        }
        /* Overdue at t exactly when referral + 60 days < t < the treatment start. */
        size_t lo = tbound(tP, ordT, e->nper, ref->ref + 60 * PSY_DAY, true);
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
    free(tP);
    free(ordT);
    free(diff);
    return rc;
}

/*
 * Index discharges and what followed them. The patient's open stay, when
 * there is one, comes after every closed one and counts once it is 12 hours
 * old at as_of.
 */
/*
 * What followed index discharge ix as of as_of: the start of the next
 * qualifying stay (ret_q) and of the next acute one (ret_qa), or
 * PSY_TIME_NONE. The patient's open stay qualifies once it is 12 hours old.
 */
static void
index_next(const mindex_t *ix, psy_time_t as_of, psy_time_t *ret_q, psy_time_t *ret_qa)
{
    bool open_q = ix->open_start != PSY_TIME_NONE && as_of - ix->open_start >= 12 * PSY_HOUR;

    *ret_q = ix->next_q != PSY_TIME_NONE ? ix->next_q : open_q ? ix->open_start : PSY_TIME_NONE;
    *ret_qa = ix->next_qa != PSY_TIME_NONE ? ix->next_qa
              : open_q && ix->open_acute   ? ix->open_start
                                           : PSY_TIME_NONE;
}

/* Whether index discharge ix was followed by an acute qualifying stay within `window`. */
static bool
index_readmitted(const mindex_t *ix, psy_time_t as_of, psy_time_t window)
{
    psy_time_t q, qa;

    index_next(ix, as_of, &q, &qa);
    return qa != PSY_TIME_NONE && qa - ix->end <= window;
}

static int
index_count(eng_t *e)
{
    const kpi_model_t *m = e->m;

    for (size_t i = 0; i < m->h.nindex; i++) {
        const mindex_t *ix = &m->index[i];
        size_t n = periods_at(e, ix->end);
        psy_time_t next_q, next_qa;

        if (!n)
            continue;
        index_next(ix, e->as_of, &next_q, &next_qa);
        bool r30 = index_readmitted(ix, e->as_of, 30 * PSY_DAY);
        bool r7 = index_readmitted(ix, e->as_of, 7 * PSY_DAY);

        for (size_t k = 0; k < n; k++) {
            size_t slots[2] = {ix->center, e->nslots - 1};

            for (int j = 0; j < 2; j++) {
                acc_t *a = acc_at(e, e->hits[k], slots[j]);

                a->index_disch++;
                a->readm30 += r30;
                a->readm7 += r7;
            }
        }
        if (next_q != PSY_TIME_NONE && next_q - ix->end <= 365 * PSY_DAY &&
            median_at(e, M_READM, ix->end, ix->center,
                      (double)(next_q - ix->end) / (double)PSY_DAY) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Distinct patients: each patient's contacts, episodes and consultations together. */
static void
patients_count(eng_t *e)
{
    const kpi_model_t *m = e->m;

    for (uint32_t pid = 0; pid < m->h.npatients; pid++) {
        for (uint32_t i = m->coff[pid]; i < m->coff[pid + 1]; i++) {
            const mcontact_t *c = &m->contacts[i];
            psy_time_t end = c->end == PSY_TIME_NONE ? e->as_of : c->end;
            size_t n = periods_meeting(e, c->start, end);

            for (size_t h = 0; h < n; h++) {
                distinct_add(e, D_PATIENTS, e->hits[h], c->center, pid);
                distinct_add(e, D_PATIENTS, e->hits[h], e->nslots - 1, pid);
            }
            if (c->flags & MC_INVOL)
                distinct_at(e, D_COERCED, c->start, c->center, pid);
        }
        for (uint32_t i = m->xoff[pid]; i < m->xoff[pid + 1]; i++) {
            const mcoerc_t *x = &m->coerc[i];

            distinct_at(e, D_PERSONS + (int)x->kind - 1, x->time, x->center, pid);
            if (coercion_intrusive((psy_coercion_t)x->kind))
                distinct_at(e, D_INTR, x->time, x->center, pid);
            distinct_at(e, D_COERCED, x->time, x->center, pid);
        }
        for (uint32_t i = m->soff[pid]; i < m->soff[pid + 1]; i++)
            distinct_at(e, D_CONSULTED, m->consult[i].time, m->consult[i].center, pid);
    }
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

/* The calendar month (year * 12 + month - 1) in which period p ends. */
static int
period_last_month(const kpi_period_t *p)
{
    switch (p->kind) {
    case KPI_YEAR:
        return p->year * 12 + 11;
    case KPI_QUARTER:
        return p->year * 12 + p->month + 1;
    default:
        return p->year * 12 + p->month - 1;
    }
}

/*
 * The target trajectory at period p's last month, in percent: the target
 * falls linearly from the first through the last target month (kpis.md).
 */
static bool
trajectory(const psy_agg_conf_t *c, const kpi_period_t *p, double *ret)
{
    int first = c->first_year * 12 + c->first_month - 1;
    int K = c->last_year * 12 + c->last_month - 1 - first + 1;
    double f;

    if (K <= 0)
        return false;
    f = (double)(period_last_month(p) - first + 1) / (double)K;
    *ret = c->target_pct * (f < 0 ? 0 : f > 1 ? 1 : f);
    return true;
}

/* intrusive_target_reduction: the trajectory, for year and r12 periods only. */
static bool
target_reduction(const eng_t *e, const kpi_period_t *p, double *ret)
{
    return period_yearly(p) && trajectory(e->conf, p, ret);
}

/*
 * intrusive_target_episodes: the episodes period p may hold and stay on
 * the trajectory, = baseline · population / 100,000 · (1 − t / 100) · m / 12
 * with m the period's length in months (kpis.md). Every period kind.
 */
static bool
target_episodes(const eng_t *e, uint32_t p, size_t nq, size_t slot, double *ret)
{
    const kpi_period_t *per = &e->per[p];
    double base, t;
    int months = per->kind == KPI_MONTH ? 1 : per->kind == KPI_QUARTER ? 3 : 12;
    long pop;

    if (!baseline(e, nq, slot, &base) || !trajectory(e->conf, per, &t))
        return false;
    pop = level_population(e, slot, period_last_month(per) / 12);
    *ret = base * (double)pop / 100000.0 * (1.0 - t / 100.0) * (double)months / 12.0;
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
    case K_TARGET_EP:
        if (target_episodes(e, p, nq, slot, &v))
            row->value = num_real(v);
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

/*
 * Whether KPI k counts distinct patients (patients_count's counters): the
 * one pass a query without such a KPI (the SPC and alert queries) can skip,
 * and the dearest, with its per-period stamps.
 */
static bool
kpi_distinct(int k)
{
    return (k >= K_PERSONS && k < K_PERSONS + NKIND) || k == K_PATIENTS || k == K_INTR_PERS ||
           k == K_COERCED || k == K_BELT_SHARE || k == K_CONSULTED;
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
}

int
kpi_model_compute(const kpi_model_t *m, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n)
{
    eng_t e = {0};
    bool want_target = false, want_distinct = false;
    kpi_row_t *rows = NULL;
    size_t nrows, i = 0;
    int rc;

    if (!m || !ret_rows || !ret_n || !query_valid(q) || q->conf->ncenters != m->h.ncenters ||
        !kpi_model_covers(m, q->as_of))
        return -EINVAL;
    for (size_t k = 0; k < q->nkpis; k++) {
        want_target |= q->kpis[k] == K_BASELINE || q->kpis[k] == K_REDUCTION ||
                       q->kpis[k] == K_ON_TRACK || q->kpis[k] == K_TARGET_EP;
        want_distinct |= kpi_distinct(q->kpis[k]);
        e.want_med[M_BELT] |= q->kpis[k] == K_BELT_MEDIAN;
        e.want_med[M_READM] |= q->kpis[k] == K_READM_MEDIAN;
        e.want_med[M_WAIT] |= q->kpis[k] == K_WAIT_MEDIAN;
    }
    e.m = m;
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
    records_count(&e);
    contacts_count(&e);
    if (want_distinct)
        patients_count(&e);
    if ((rc = episodes_count(&e)) < 0 || (rc = referrals_count(&e)) < 0 ||
        (rc = index_count(&e)) < 0 || (rc = medians_finish(&e)) < 0)
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
                /* A period that has not ended will still grow, whatever the KPI. */
                if (e.as_of < e.pe[p])
                    row->provisional = true;
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

int
kpi_compute(const kpi_records_t *recs, const kpi_query_t *q, kpi_row_t **ret_rows, size_t *ret_n)
{
    kpi_model_t *m;
    int rc;

    if (!recs || !ret_rows || !ret_n || !query_valid(q) || recs->count >= UINT32_MAX)
        return -EINVAL;
    m = kpi_model_new(recs, q->conf, q->as_of);
    if (!m)
        return errno == EINVAL ? -EINVAL : -ENOMEM;
    rc = kpi_model_compute(m, q, ret_rows, ret_n);
    kpi_model_destroy(&m);
    return rc;
}

/* ---- per-day figures for drawing ---- */

/* The day of [first, first + ndays days) holding t, or -1. */
static ptrdiff_t
day_of(psy_time_t first, size_t ndays, psy_time_t t)
{
    psy_time_t d;

    if (t < first)
        return -1;
    d = (t - first) / PSY_DAY;
    return d < (psy_time_t)ndays ? (ptrdiff_t)d : -1;
}

/* Adds v to figure `what` of day `day` at the center and at the region. */
static void
day_add(double *ret, size_t ndays, size_t center, size_t region, ptrdiff_t day, int what, double v)
{
    if (day < 0)
        return;
    ret[(center * ndays + (size_t)day) * KPI_DAY__COUNT + (size_t)what] += v;
    ret[(region * ndays + (size_t)day) * KPI_DAY__COUNT + (size_t)what] += v;
}

int
kpi_model_days(const kpi_model_t *m, psy_time_t first, size_t ndays, psy_time_t as_of, double *ret)
{
    size_t R;

    if (!m || !ret || first == PSY_TIME_NONE || !kpi_model_covers(m, as_of) ||
        ndays > (size_t)(INT64_MAX - first) / PSY_DAY)
        return -EINVAL;
    R = m->h.ncenters;
    memset(ret, 0, (R + 1) * ndays * KPI_DAY__COUNT * sizeof(*ret));
    for (size_t i = 0; i < m->h.ncontacts; i++) {
        const mcontact_t *c = &m->contacts[i];
        psy_time_t end = c->end == PSY_TIME_NONE ? as_of : c->end;

        day_add(ret, ndays, c->center, R, day_of(first, ndays, c->start), KPI_DAY_ADMISSIONS, 1);
        if (c->end != PSY_TIME_NONE)
            day_add(ret, ndays, c->center, R, day_of(first, ndays, c->end), KPI_DAY_DISCHARGES, 1);
        /* Bed days: the contact's part of each day it meets, as the bed_days KPI counts it. */
        psy_time_t lo = c->start > first ? c->start : first;
        for (psy_time_t d = (lo - first) / PSY_DAY; lo < end && d < (psy_time_t)ndays; d++) {
            psy_time_t de = first + (d + 1) * PSY_DAY;
            psy_time_t hi = end < de ? end : de;

            day_add(ret, ndays, c->center, R, (ptrdiff_t)d, KPI_DAY_BED_DAYS,
                    (double)(hi - lo) / (double)PSY_DAY);
            lo = hi;
        }
    }
    for (size_t i = 0; i < m->h.ncoerc; i++) {
        const mcoerc_t *x = &m->coerc[i];
        ptrdiff_t d = day_of(first, ndays, x->time);

        day_add(ret, ndays, x->center, R, d, KPI_DAY_COERCION, 1);
        if (x->kind == PSY_COERCION_BELT)
            day_add(ret, ndays, x->center, R, d, KPI_DAY_BELT, 1);
        else if (x->kind == PSY_COERCION_PHYSICAL_RESTRAINT)
            day_add(ret, ndays, x->center, R, d, KPI_DAY_RESTRAINT, 1);
        else if (x->kind == PSY_COERCION_SEDATIVE_MEDICATION)
            day_add(ret, ndays, x->center, R, d, KPI_DAY_SEDATIVE, 1);
    }
    for (size_t i = 0; i < m->h.nindex; i++) {
        const mindex_t *ix = &m->index[i];
        ptrdiff_t d = day_of(first, ndays, ix->end);

        day_add(ret, ndays, ix->center, R, d, KPI_DAY_INDEX, 1);
        day_add(ret, ndays, ix->center, R, d, KPI_DAY_READM30,
                index_readmitted(ix, as_of, 30 * PSY_DAY));
    }
    return 0;
}

size_t
kpi_model_centers(const kpi_model_t *m)
{
    return m ? m->h.ncenters : 0;
}

psy_time_t
kpi_model_valid_until(const kpi_model_t *m)
{
    return m ? m->h.min_excluded : PSY_TIME_NONE;
}
