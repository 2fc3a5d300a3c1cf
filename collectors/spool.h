/*
 * spool: the collector's durable local queue of records.
 *
 * A spool lives in one folder (the collector's state_dir) and is made of:
 *
 *   epoch            32 hex digits: 16 random bytes fixed when the spool is
 *                    created; the aggregator deduplicates by (center, epoch,
 *                    sequence), so a spool that lost its state starts a new
 *                    epoch rather than reusing sequence numbers.
 *   acked            "epoch E acked_seq N" (fixed width): every record up
 *                    to N is stored at the aggregator. Created atomically
 *                    (temporary file, fsync, rename), then overwritten in
 *                    place and fdatasynced on each acknowledgement.
 *   spool/NNN.seg    append-only segments, named by the sequence number of
 *                    their first record (20 digits, so names sort as numbers).
 *
 * A segment is a sequence of frames:
 *
 *   u32 length (little endian) of type + payload
 *   u32 CRC-32 (zlib) of type + payload
 *   u8  type: 1 header, 2 record, 3 mark, 4 commit
 *   payload
 *
 * The first frame of a segment is its header: the epoch, the segment's
 * first sequence number and the last mark (below), carried over so that a
 * segment alone holds everything recovery needs. A record frame holds the
 * record as psy_codec_encode() of a one-record batch of this epoch whose
 * first_seq is the record's sequence number. A mark frame holds the inbox
 * progress: which file (name and identity), how many of its items (records
 * and rejections) are done, and the total of rejected records so far. A
 * mark is written with the records it covers and made durable by the same
 * fsync, so that a file half read when the collector died is skipped up to
 * exactly that point on re-reading.
 *
 * spool_commit() appends an empty commit frame and then fsyncs: a group is
 * durable once its commit frame is. Buffered frames may reach the file
 * before their commit (a large group is flushed early), so on open every
 * segment is scanned and everything after its last intact commit frame -
 * uncommitted records, a torn frame, CRC damage - is cut off (ftruncate +
 * fsync); sequence numbers continue after the last committed record. Records become visible to
 * spool_next() only once spool_commit() made them durable.
 *
 * Library-style module: it does not log; every function returns 0 or a
 * negative errno.
 */
#ifndef PSYMON_COLLECTOR_SPOOL_H
#define PSYMON_COLLECTOR_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psymon/limits.h"
#include "psymon/record.h"

#define SPOOL_NAME_MAX    255                /* inbox file name held in a mark */
#define SPOOL_SEGMENT_MAX (64 * 1024 * 1024) /* default: a new segment after this */

typedef struct spool spool_t;

/* Inbox progress, durable with the records it covers. */
typedef struct {
    char name[SPOOL_NAME_MAX + 1]; /* "" when no file was ever read */
    /* Identity of that file: a renamed or rewritten file does not match. */
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint64_t items;    /* items (records and rejections) of the file done */
    uint64_t rejected; /* records rejected since the spool was created */
} spool_mark_t;

/* What spool_open() found; the daemon logs it. */
typedef struct {
    bool created;          /* a new spool (and epoch) was made */
    uint64_t cut_bytes;    /* bytes of uncommitted, torn or damaged frames cut off */
    unsigned cut_segments; /* segments in which something was cut */
    /* Damage in the middle: unacknowledged records missing between segments. */
    uint64_t gap_records;
    /*
     * Records the aggregator acknowledged that damage at the end cut off:
     * the aggregator would skip new records given their numbers again.
     */
    uint64_t acked_cut;
    /* Damage, not a crash, cut committed records (an intact commit frame followed it). */
    bool committed_cut;
    bool new_epoch;                   /* the rest was re-spooled under a new epoch */
    uint64_t respooled;               /* records copied into it */
    uint8_t old_epoch[PSY_EPOCH_LEN]; /* the epoch left behind */
} spool_recovery_t;

/*
 * Opens the spool in `dir`, creating it (and a new epoch) when it holds
 * none. *ret_info, when not NULL, tells what recovery did. Returns NULL
 * with errno set on failure. Caller owns the spool and must destroy it.
 *
 * A gap in the middle (a segment damaged or lost while later ones are
 * intact, with records in it never acknowledged) cannot be delivered: the
 * aggregator stores only contiguous sequence numbers, so everything after
 * the gap would be resent forever. spool_open() therefore copies every
 * unacknowledged record that is left into a new spool with a new epoch
 * (numbered from 1, same inbox mark) and replaces the old one; the records
 * in the gap are lost from the spool (re-read done/ files to bring them
 * back) and the aggregator ignores copies whose content it already holds.
 * The switch is crash-safe: it is prepared in dir/rebuild and takes effect
 * only once complete. Damage at the end that cut records the aggregator
 * acknowledged (acked_cut), or committed ones it may hold (committed_cut),
 * starts a new epoch the same way, or the numbers given to new records
 * would be ones the aggregator already holds.
 */
spool_t *spool_open(const char *dir, spool_recovery_t *ret_info);

/* Closes the spool (nothing uncommitted is made durable) and NULLs *s. Accepts NULL. */
void spool_destroy(spool_t **s);

/*
 * Sets the size after which a new segment begins (tests use small ones).
 * Must be at least 4096.
 */
void spool_set_segment_max(spool_t *s, uint64_t bytes);

/*
 * Appends one record and assigns it the next sequence number, returned in
 * *ret_seq (may be NULL). Not durable until spool_commit(). Returns 0,
 * -EINVAL for a record the codec refuses, or the errno of write.
 */
int spool_append(spool_t *s, const psy_record_t *rec, uint64_t *ret_seq);

/* Appends an inbox progress mark. Not durable until spool_commit(). */
int spool_mark(spool_t *s, const spool_mark_t *m);

/*
 * Makes everything appended durable (one fsync) and visible to the sender.
 * Returns 0 or the errno of fsync; after a failure the spool must be
 * destroyed and reopened, which recovers the last committed state.
 */
int spool_commit(spool_t *s);

/*
 * Records that the aggregator stored every record up to `seq`. A value at
 * or below the current one is ignored; one above the last committed
 * sequence is clamped to it. Persists the acked sequence and deletes
 * segments that hold only acknowledged records; when everything is
 * acknowledged and the current segment is large, starts a new one so the
 * old can go. Returns 0 or a negative errno.
 */
int spool_ack(spool_t *s, uint64_t seq);

/*
 * The aggregator says it holds the records of this epoch only up to `seq`,
 * below what it acknowledged before: it lost some (it was restored from a
 * backup). Lowers the acknowledged sequence (persisted) to `seq`, or to
 * just before the oldest record the spool still holds, so that the next
 * spool_rewind() starts there. Returns how many records after `seq` the
 * spool no longer holds (0: all of them are sent again under their own
 * sequence numbers; more: see spool_restart()), or a negative errno. A `seq`
 * at or above the acknowledged sequence changes nothing and returns 0.
 */
int64_t spool_unack(spool_t *s, uint64_t seq);

/*
 * Starts a new epoch, numbered from 1: for an aggregator that lost records
 * of this epoch the spool no longer holds (restored from a backup), or that
 * holds numbers this spool gave again (its state folder went back in
 * time). Without `keep` the new epoch is empty and keeps only the rejected
 * total: sending what the spool still holds would put newer records before
 * the lost older ones, a correction before what it corrects, so the caller
 * has the files read again in order (done/ back into the inbox; no file is
 * half read in the new epoch). With `keep` (when there is no done/ to read
 * again) the unacknowledged records and the inbox mark are carried over,
 * as the healing in spool_open() does. Crash-safe like that healing.
 * Replaces *sp by the new spool; after a failure *sp is NULL and the old
 * spool is intact on disk (spool_open() it again). Returns 0 or a negative
 * errno.
 */
int spool_restart(spool_t **sp, bool keep);

/*
 * Frees the write and read-ahead buffers when they hold nothing; they are
 * allocated again when needed. For an idle collector's memory.
 */
void spool_shrink(spool_t *s);

/* Sets the read cursor to the first unacknowledged record. */
int spool_rewind(spool_t *s);

/*
 * Reads the record at the read cursor and advances it. Returns 1 with *ret
 * and *ret_seq set, 0 when every committed record was read, or a negative
 * errno.
 */
int spool_next(spool_t *s, psy_record_t *ret, uint64_t *ret_seq);

/*
 * As spool_next(), without decoding: *ret_rec and *ret_len are the record's
 * encoding (a protobuf Record, as it goes into a Batch), pointing into the
 * spool's read buffer and valid until the next call on the spool. For the
 * sender, which forwards the bytes into a batch as they are.
 */
int spool_next_raw(spool_t *s, const uint8_t **ret_rec, size_t *ret_len, uint64_t *ret_seq);

/*
 * Steps the read cursor back before the record `seq` that spool_next_raw()
 * returned last, so that the next read returns it again (a batch it did
 * not fit in). Does nothing when `seq` is not the record read last.
 */
void spool_unread(spool_t *s, uint64_t seq);

const uint8_t *spool_epoch(const spool_t *s); /* PSY_EPOCH_LEN bytes */
uint64_t spool_last_seq(const spool_t *s);    /* highest committed sequence, 0 when none */
uint64_t spool_acked(const spool_t *s);
uint64_t spool_bytes(const spool_t *s); /* bytes of all segments */
unsigned spool_segments(const spool_t *s);
/* The last committed mark (name "" when none). */
const spool_mark_t *spool_last_mark(const spool_t *s);

#endif
