/*
 * sender: delivers the spool to the aggregator over one ZeroMQ DEALER
 * socket secured with CURVE.
 *
 * Unacknowledged records go out in batches of at most PSY_BATCH_MAX records
 * and PSY_MSG_MAX encoded bytes, at most SENDER_WINDOW batches in flight.
 * A batch is built from the records' bytes as the spool holds them: they
 * were validated and encoded when spooled, and are not decoded again.
 * An acknowledgement of this spool's epoch advances the spool's acked
 * sequence. When the oldest batch in flight is not acknowledged within
 * SENDER_RESEND_S seconds (doubling up to SENDER_RESEND_MAX_S while nothing
 * is acknowledged), or the connection is (re)established, everything
 * unacknowledged is sent again; the aggregator deduplicates by (center,
 * epoch, sequence). A heartbeat goes out at start, on every new connection
 * and every SENDER_HEARTBEAT_S seconds.
 *
 * ZMQ_IMMEDIATE is set, so nothing is queued while no aggregator is
 * connected: records simply stay in the spool.
 *
 * Every byte the collector hands to libzmq passes through sender_transmit(),
 * the only caller of zmq_send() in the collector, so that a test can wrap
 * zmq_send (-Wl,--wrap=zmq_send) and inspect each plaintext message.
 */
#ifndef PSYMON_COLLECTOR_SENDER_H
#define PSYMON_COLLECTOR_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/time.h"
#include "spool.h"

#define SENDER_WINDOW       8  /* batches in flight */
#define SENDER_RESEND_S     10 /* seconds before unacknowledged batches are sent again */
#define SENDER_RESEND_MAX_S 60 /* the longest that wait grows to while nothing is acked */
#define SENDER_HEARTBEAT_S  PSY_HEARTBEAT_S

typedef struct sender sender_t;

typedef struct {
    char endpoint[PSY_NAME_MAX + 1]; /* the aggregator, "tcp://host:port" */
    char server_key[41];             /* its Z85 public key */
    char public_key[41];             /* this collector's Z85 key pair */
    char secret_key[41];
} sender_conf_t;

/*
 * Creates the DEALER in `zctx` and starts connecting. Returns NULL with
 * errno set. Caller owns the sender and must destroy it before the context.
 */
sender_t *sender_new(void *zctx, const sender_conf_t *conf);

/* Closes the socket (pending messages are dropped: they are in the spool) and NULLs *s. */
void sender_destroy(sender_t **s);

/* The DEALER, for zmq_poll (ZMQ_POLLIN). */
void *sender_socket(sender_t *s);

/* Sets the spool_full flag reported in heartbeats. */
void sender_set_spool_full(sender_t *s, bool full);
/* Sets when an inbox file was last read, reported in heartbeats (alerts.md, ExportStale). */
void sender_set_inbox_read(sender_t *s, psy_time_t when);

/*
 * Receives every pending message and applies acknowledgements to `spool`.
 * An acknowledgement below the spool's own (the aggregator lost records),
 * once the answer to a later heartbeat confirms it, makes what the spool
 * still holds go out again. Returns 0; -ESTALE when the spool no longer
 * holds every record the aggregator lost, or the aggregator holds numbers
 * beyond the spool's end, so the caller must start afresh (spool_restart(),
 * done/ read again) and sender_reset(); or a negative errno when the spool
 * failed.
 */
int sender_on_readable(sender_t *s, spool_t *spool);

/*
 * Does the timed work: connection events, heartbeat, resending after a
 * timeout, and filling the window from `spool`. Returns 0, or a negative
 * errno when the spool failed.
 */
int sender_tick(sender_t *s, spool_t *spool, psy_time_t now);

/* Forgets what is in flight (after the spool was reopened); it is sent again. */
void sender_reset(sender_t *s);

/*
 * Hands one encoded message to libzmq without blocking. Returns 0, -EAGAIN
 * when no aggregator is connected, or another negative errno.
 */
int sender_transmit(sender_t *s, const uint8_t *buf, size_t len);

/* True while records read from the spool wait in memory to be sent. */
bool sender_holds_records(const sender_t *s);

/* Sets the largest batch message in bytes (at least 4096, at most PSY_MSG_MAX; tests). */
void sender_set_msg_max(sender_t *s, size_t bytes);

/* Batches sent and acknowledgements received since creation (for logs and tests). */

uint64_t sender_batches_sent(const sender_t *s);
/* Handshakes that failed since the last one that succeeded (a wrong key, for logs and tests). */
uint64_t sender_handshakes_failed(const sender_t *s);
uint64_t sender_acks_received(const sender_t *s);

#endif
