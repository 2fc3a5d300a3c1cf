/*
 * ingest: the aggregator's ZeroMQ side. A ROUTER socket (CURVE server)
 * receives batches and heartbeats from collectors, a ZAP handler thread
 * admits only the keys configured in [center ...] sections, and each batch
 * is stored in one transaction before its Ack goes back.
 *
 * The ZAP handler answers with User-Id "CENTER:KEY" (the center id, a
 * colon, the client's Z85 public key; center ids hold no colon). Every
 * message is checked again against the configuration as it stands, so a
 * key removed by SIGHUP delivers nothing more even on an open connection.
 *
 * One ingest_t, used from one thread (the daemon's main loop, or a test).
 */
#ifndef PSYMON_INGEST_H
#define PSYMON_INGEST_H

#include <stdbool.h>

#include "agg.h"
#include "store.h"

/* ZAP domain set on the ROUTER; without a domain libzmq would skip ZAP. */
#define INGEST_ZAP_DOMAIN "psymon"
/* A collector clock further off than this is flagged. */
#define INGEST_CLOCK_SKEW_MAX (120 * PSY_USEC)

typedef struct ingest ingest_t;

/*
 * Starts the ZAP handler, then binds a ROUTER to agg's `listen` with the
 * server's Z85 secret key. `store` stays the caller's and must outlive the
 * ingest. Returns NULL with errno set on failure. Caller owns the result
 * and must destroy it.
 */
ingest_t *ingest_new(agg_t *agg, store_t *store, const char *secret_z85);
/* Closes the socket, stops the ZAP thread and NULLs *in. Accepts NULL. */
void ingest_destroy(ingest_t **in);

/* The endpoint actually bound (a "*" port resolved), for tests and logs. */
const char *ingest_endpoint(const ingest_t *in);
/* The ROUTER socket, for the caller's zmq_poll; only ingest reads it. */
void *ingest_socket(ingest_t *in);

/*
 * Handles the messages waiting on the socket now (a bounded number, so the
 * caller's loop keeps turning). Returns 0, or -ECONNABORTED when the ZAP
 * handler has died, after which the daemon must stop.
 */
int ingest_dispatch(ingest_t *in);
/* Waits up to timeout_ms for messages, then dispatches them. Errors as ingest_dispatch. */
int ingest_step(ingest_t *in, long timeout_ms);

#endif
