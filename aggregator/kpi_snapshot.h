/*
 * kpi_snapshot: the prepared KPI model of everything stored, kept in
 * data_dir/kpi-model.bin so that one `psymon kpi` call need not load and
 * join every record again (interfaces.md: a call for r12 of all centers in
 * 200 ms over ten years of a region).
 *
 * The file carries the store generation it was built from and the
 * configured center ids; it is used only when both still match, and is
 * replaced by writing a temporary file and renaming it into place, so a
 * reader sees the old file or the new one, never half of one. It is a
 * cache: losing it, or failing to write it, costs time, never a number.
 */
#ifndef PSYMON_KPI_SNAPSHOT_H
#define PSYMON_KPI_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "kpi.h"
#include "model.h"
#include "psymon/config.h"

typedef struct kpi_snapshot kpi_snapshot_t;

/*
 * Writes m (built with cutoff INT64_MAX from the records of generation
 * (vid, stored_at)) to data_dir. Returns 0 or a negative errno.
 */
int kpi_snapshot_save(const char *data_dir, uint64_t vid, psy_time_t stored_at,
                      const psy_agg_conf_t *conf, const kpi_model_t *m);

/*
 * Maps data_dir's snapshot when it was built from generation (vid,
 * stored_at) for the centers of conf. Returns NULL when there is none, it
 * is stale or damaged (errno says which: ENOENT, ESTALE, EBADMSG), or on
 * failure. Caller owns the snapshot and must destroy it.
 */
kpi_snapshot_t *kpi_snapshot_open(const char *data_dir, uint64_t vid, psy_time_t stored_at,
                                  const psy_agg_conf_t *conf);
/* The model; valid until the snapshot is destroyed. */
const kpi_model_t *kpi_snapshot_model(const kpi_snapshot_t *s);
/* Unmaps the snapshot and NULLs *s. Accepts NULL. */
void kpi_snapshot_destroy(kpi_snapshot_t **s);

/* What kpi_snapshot_publish wrote last; zero it before the first call. */
typedef struct {
    bool saved;
    uint64_t vid;
    psy_time_t stored_at;
} kpi_snapshot_mark_t;

/*
 * The model worker's sink (model.h): writes the shared model to data_dir
 * when its store generation differs from the one last written (ctx is a
 * kpi_snapshot_mark_t), so `psymon kpi` finds the model the aggregator
 * already built. A failure is logged: the cache costs time, never a number.
 */
void kpi_snapshot_publish(void *ctx, const agg_model_t *m);

#endif
