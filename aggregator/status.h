/*
 * status: what the store holds per configured center, as the JSON of
 * `psymon status --json` and /api/v1/status (interfaces.md).
 */
#ifndef PSYMON_STATUS_H
#define PSYMON_STATUS_H

#include <jansson.h>

#include "psymon/config.h"
#include "store.h"

/*
 * Builds {"centers":[{"center":ID,"records":N,"rejected":N,"backlog":N,
 * "last_seen":"RFC 3339" or null, and what its collector last reported:
 * "version", "spool_bytes", "clock_offset_s" (null before its first
 * heartbeat), "spool_full", "clock_off"}, ...]} with one entry per configured
 * center, in the configuration's order. Returns a new reference (caller
 * owns it and must json_decref it), or NULL with errno set when the store
 * fails (EIO) or memory runs out (ENOMEM).
 */
json_t *status_json(store_t *s, const psy_agg_conf_t *conf);

#endif
