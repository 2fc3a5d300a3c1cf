/*
 * Every limit on a size that a peer, a file or a request controls.
 *
 * One header, so that a reviewer can see at a glance how much any stranger
 * can make a psymon daemon hold.
 */
#ifndef PSYMON_LIMITS_H
#define PSYMON_LIMITS_H

/* Record fields (records.md). Buffers hold the value plus a NUL. */
#define PSY_ID_MAX        64 /* id, admission, referral */
#define PSY_PATIENT_MAX   64 /* clear patient identifier, before pseudonymisation */
#define PSY_WARD_MAX      32
#define PSY_CENTER_MAX    32          /* center id: 1-32 bytes of a-z 0-9 - */
#define PSY_LINE_MAX      (64 * 1024) /* one NDJSON line or CSV row */
#define PSY_CSV_FIELDS    256         /* columns in a CSV header */
#define PSY_AGE_MAX       130
#define PSY_MINUTES_MAX   1440
#define PSY_FUTURE_SKEW_S (24 * 3600) /* a record may lie this far ahead of "now" */

#define PSY_PSEUDONYM_LEN 32 /* HMAC-SHA-256 */
#define PSY_PSEUDO_KEYLEN 32
#define PSY_EPOCH_LEN     16 /* random id of a collector's spool */
#define PSY_ORIGIN_LEN    16 /* keyed BLAKE2b-128 of where a record was read (record.h) */

/* The wire. */
#define PSY_BATCH_MAX                 1000          /* records in one batch */
#define PSY_MSG_MAX                   (1024 * 1024) /* bytes in one ZeroMQ message */
#define PSY_VERSION_MAX               32            /* version string in a heartbeat */
#define PSY_HEARTBEAT_S               5             /* a collector sends a heartbeat this often */
#define PSY_HEARTBEAT_MIN_INTERVAL_MS 1000  /* heartbeats stored per center at most this often */
#define PSY_HANDSHAKE_MS              10000 /* a ZMTP/CURVE handshake must finish within this */

/* Configuration. */
#define PSY_CENTERS_MAX   64
#define PSY_POP_YEARS_MAX 64 /* population.YYYY keys per section */
#define PSY_NAME_MAX      128
#define PSY_PATH_MAX      4096
#define PSY_BASELINE_MAX  16 /* baseline years */
#define PSY_KPI_NAME_MAX  64 /* "consultations:social_physician:network_meeting" fits */
#define PSY_GOALS_MAX     64 /* [goal KPI] sections */
#define PSY_ALERTS_MAX    64 /* [alert NAME] sections */
#define PSY_NOTIFY_MAX    8  /* URLs per [notify] key */
#define PSY_URL_MAX       512

/* HTTP. */
#define PSY_HTTP_URL_MAX     2048
#define PSY_HTTP_CONN_MAX    64
#define PSY_HTTP_TIMEOUT_S   10
#define PSY_HTTP_PERIODS_MAX 600 /* periods one KPI request may ask for */
/* Rows (periods x levels x KPIs) one KPI request may ask for. */
#define PSY_HTTP_ROWS_MAX 100000
/* Bytes of request line and headers libmicrohttpd holds per connection. */
#define PSY_HTTP_REQUEST_MAX (16 * 1024)

#endif
