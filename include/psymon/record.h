/*
 * psy_record_t: one registration of records.md, as the collector validated
 * it and as the aggregator stores it. Plain data: every part of psymon sees
 * this struct, never a protobuf or JSON type.
 *
 * Enumerations start at 1 so that 0 always means "absent", as on the wire.
 */
#ifndef PSYMON_RECORD_H
#define PSYMON_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/time.h"

typedef enum {
    PSY_REC_NONE = 0,
    PSY_REC_ADMISSION,
    PSY_REC_DISCHARGE,
    PSY_REC_COERCION,
    PSY_REC_CONSULTATION,
    PSY_REC_REFERRAL,
    PSY_REC_TREATMENT_START,
    PSY_REC__COUNT
} psy_rec_type_t;

typedef enum { PSY_MODE_NONE = 0, PSY_MODE_ACUTE, PSY_MODE_PLANNED, PSY_MODE__COUNT } psy_mode_t;

typedef enum {
    PSY_LEGAL_NONE = 0,
    PSY_LEGAL_VOLUNTARY,
    PSY_LEGAL_INVOLUNTARY_RED,
    PSY_LEGAL_INVOLUNTARY_YELLOW,
    PSY_LEGAL__COUNT
} psy_legal_t;

typedef enum {
    PSY_OUTCOME_NONE = 0,
    PSY_OUTCOME_REGULAR,
    PSY_OUTCOME_SELF_DISCHARGE,
    PSY_OUTCOME_TRANSFER,
    PSY_OUTCOME_DEATH,
    PSY_OUTCOME__COUNT
} psy_outcome_t;

/* The forms of coercion registered under the Psychiatry Act, in the order of records.md. */
typedef enum {
    PSY_COERCION_NONE = 0,
    PSY_COERCION_BELT,
    PSY_COERCION_PHYSICAL_RESTRAINT,
    PSY_COERCION_SEDATIVE_MEDICATION,
    PSY_COERCION_STRAPS,
    PSY_COERCION_GLOVES,
    PSY_COERCION_FORCED_MEDICATION,
    PSY_COERCION_FORCED_ECT,
    PSY_COERCION_FORCED_FEEDING,
    PSY_COERCION_FORCED_SOMATIC_TREATMENT,
    PSY_COERCION_INVOLUNTARY_DETENTION,
    PSY_COERCION_PERSONAL_SHIELDING,
    PSY_COERCION_DOOR_LOCKING,
    PSY_COERCION_COMPULSORY_FOLLOW_UP,
    PSY_COERCION_OTHER,
    PSY_COERCION__COUNT
} psy_coercion_t;

typedef enum {
    PSY_ROLE_NONE = 0,
    PSY_ROLE_SOCIAL_NURSE,
    PSY_ROLE_SOCIAL_PHYSICIAN,
    PSY_ROLE_OTHER,
    PSY_ROLE__COUNT
} psy_role_t;

typedef enum {
    PSY_CONSULT_NONE = 0,
    PSY_CONSULT_SUPERVISION,
    PSY_CONSULT_ACTION_PLAN,
    PSY_CONSULT_SUBSTANCE_HISTORY,
    PSY_CONSULT_NETWORK_MEETING,
    PSY_CONSULT_FOLLOW_HOME,
    PSY_CONSULT_OTHER,
    PSY_CONSULT__COUNT
} psy_consult_t;

/*
 * One registration. Strings are NUL-terminated and "" when absent; numbers
 * are -1 when absent; times are PSY_TIME_NONE when absent. Fields that do
 * not belong to `type` are zero / "" / absent. A void record carries only
 * type, id, time and is_void.
 */
typedef struct psy_record {
    psy_rec_type_t type;
    bool is_void;
    psy_time_t time;
    char id[PSY_ID_MAX + 1];
    bool has_patient;
    uint8_t patient[PSY_PSEUDONYM_LEN]; /* keyed pseudonym, never the clear identifier */
    char ward[PSY_WARD_MAX + 1];
    /* admission: its contact id (defaults to id); discharge: the admission it
     * ends; coercion: the admission it happened during (optional). */
    char contact[PSY_ID_MAX + 1];
    char referral[PSY_ID_MAX + 1]; /* treatment_start: the referral it starts */
    psy_mode_t mode;
    psy_legal_t legal;     /* admission; PSY_LEGAL_VOLUNTARY when not given */
    psy_outcome_t outcome; /* discharge; PSY_OUTCOME_REGULAR when not given */
    psy_coercion_t coercion;
    psy_time_t end; /* coercion */
    bool voluntary; /* coercion: a voluntary belt fixation */
    psy_role_t role;
    psy_consult_t consult;
    int age;     /* admission, referral: 0-130 or -1 */
    int minutes; /* consultation: 0-1440 or -1 */
    /*
     * Where the collector read the record: a hash, keyed with the
     * pseudonymisation key, of the inbox file's base name and the record's
     * line number, so that re-reading the same file gives the same origin
     * and the store can tell a replay from a bring-back (aggregator.md).
     * Metadata, not part of the registration: psy_record_equal ignores it.
     */
    bool has_origin;
    uint8_t origin[PSY_ORIGIN_LEN];
} psy_record_t;

/* Sets every field of `r` to "absent". */
void psy_record_init(psy_record_t *r);

/* True when a and b carry the same registration, field by field; the origin is not compared. */
bool psy_record_equal(const psy_record_t *a, const psy_record_t *b);

/*
 * Names as they appear in records.md and in KPI names ("belt",
 * "social_nurse"). *_name returns NULL for a value out of range; *_parse
 * returns the value, or 0 (the NONE member) when `s` names nothing.
 */
const char *psy_rec_type_name(psy_rec_type_t t);
psy_rec_type_t psy_rec_type_parse(const char *s);
const char *psy_mode_name(psy_mode_t v);
psy_mode_t psy_mode_parse(const char *s);
const char *psy_legal_name(psy_legal_t v);
psy_legal_t psy_legal_parse(const char *s);
const char *psy_outcome_name(psy_outcome_t v);
psy_outcome_t psy_outcome_parse(const char *s);
const char *psy_coercion_name(psy_coercion_t v);
psy_coercion_t psy_coercion_parse(const char *s);
const char *psy_role_name(psy_role_t v);
psy_role_t psy_role_parse(const char *s);
const char *psy_consult_name(psy_consult_t v);
psy_consult_t psy_consult_parse(const char *s);

/* True for belt, physical restraint and sedative medication. */
bool psy_coercion_is_intrusive(psy_coercion_t v);

/* True when `s` is a valid record id: 1-64 bytes of A-Z a-z 0-9 . _ : - */
bool psy_id_valid(const char *s, size_t len);
/* True when `s` is a valid ward code: 1-32 bytes of A-Z a-z 0-9 . _ - */
bool psy_ward_valid(const char *s, size_t len);
/* True when `s` is a valid center id: 1-32 bytes of a-z 0-9 - */
bool psy_center_valid(const char *s);

#endif
