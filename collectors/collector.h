/*
 * collector: the daemon's loop, tying the inbox, the spool and the sender
 * together.
 *
 * Each turn: take the next group of records from the inbox into the spool
 * (unless the spool is at its size cap), feed the sender's window, handle
 * acknowledgements, send heartbeats, clean done/ and ping the systemd
 * watchdog. The turn waits at most about a second in zmq_poll on the
 * DEALER, and not at all while the inbox has work.
 *
 * Daemon code: it logs, and it talks to systemd (sd_notify).
 */
#ifndef PSYMON_COLLECTOR_COLLECTOR_H
#define PSYMON_COLLECTOR_COLLECTOR_H

#include <signal.h>

#include "psymon/config.h"

typedef struct collector collector_t;

/*
 * Loads the keys named in `conf`, opens the spool in its state_dir and
 * starts connecting to the aggregator. `conf_path` is kept for reloading.
 * Logs the reason and returns NULL with errno set on failure (EPERM: a key
 * file is readable by others). Caller owns the collector and must destroy it.
 */
collector_t *collector_new(const char *conf_path, const psy_coll_conf_t *conf);

/* Closes everything and NULLs *c. Accepts NULL. */
void collector_destroy(collector_t **c);

/*
 * Runs the loop until *stop becomes non-zero; when *reload becomes
 * non-zero, clears it and re-reads the configuration (keeping the old one
 * when the new one is bad). Signal handlers set the flags. Every group of
 * records is committed before a turn ends, so stopping loses nothing.
 * Returns 0 on a clean stop, or a negative errno when the spool failed
 * beyond repair.
 */
int collector_run(collector_t *c, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
