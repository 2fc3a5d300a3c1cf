#!/usr/bin/env bash
# The aggregator restored from a backup (issue 3, clarifications.md
# "Collectors run unattended"): two collectors deliver the first part of
# their simulated files, the store is backed up while the aggregator runs
# (SQLite's online backup, as operations.md says), the rest is delivered, the
# aggregator is stopped and its data_dir restored from the backup. The
# collectors find out from the acknowledgements (heartbeats are answered
# too) and heal by themselves: what a spool still holds is sent again under
# its own numbers, and a collector whose spool no longer holds everything
# the aggregator lost reads done/ again from an empty epoch (collector.md).
# Afterwards every record id is stored once, and the versions table, the
# current records and the yearly KPIs equal those before the restore,
# including a record corrected and one voided after the backup; `psymon
# requeue` of every done/ file then changes nothing. Under the sanitizers
# (PSY_SANITIZE=ON) fewer months are simulated.
#
# Every record carries its origin (file name and line, keyed), so the store
# recognises a record read again from the same place as a replay even when
# a later correction is current (aggregator.md, "Duplicates, corrections and
# replays").
source "$(dirname "$0")/lib.sh"

CENTERS=(pc-amager pc-ballerup)
if [ "${PSY_SANITIZE:-OFF}" = ON ]; then
    SIM_FROM=2023-01-01 SIM_TO=2023-12-31 YEARS="2023"
else
    SIM_FROM=2023-01-01 SIM_TO=2024-06-30 YEARS="2023 2024"
fi
AS_OF=2025-01-01T00:00:00Z

for k in aggregator "${CENTERS[@]}"; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
"$PSYMON" simulate --out "$E2E_DIR/sim" --from "$SIM_FROM" --to "$SIM_TO" --seed 5 \
    --center pc-amager --center pc-ballerup >/dev/null

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
write_aggregator_conf
add_center pc-amager "Center Amager" "$(pubkey pc-amager)" 2023=204000 2024=205500
add_center pc-ballerup "Center Ballerup" "$(pubkey pc-ballerup)" 2023=343000 2024=345500
write_collector_conf a pc-amager pc-amager
write_collector_conf b pc-ballerup pc-ballerup
DB="$E2E_DIR/data/psymon.db"

# drop NAME CENTER FILE...: moves files into an inbox the way an export job does
drop() {
    local name=$1 center=$2
    shift 2
    for f in "$@"; do
        cp "$E2E_DIR/sim/$center/$f" "$E2E_DIR/$name/inbox/.$f.tmp"
        mv "$E2E_DIR/$name/inbox/.$f.tmp" "$E2E_DIR/$name/inbox/$f"
    done
}

now_us() { python3 -c 'import time; print(int(time.time() * 1e6))'; }

# stored CENTER SINCE_US: a heartbeat received after SINCE_US names a last
# sequence that the store holds for that epoch, i.e. everything the
# collector had spooled by then is stored.
stored() {
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM centers c JOIN seqs s ON s.cid = c.cid
        AND s.epoch = c.hb_epoch WHERE c.center = '$1' AND c.hb_at > $2
        AND s.acked = c.hb_last_seq" 2>/dev/null)" = 1 ]
}

# delivered: both inboxes empty (every file read and moved to done/), then
# everything the collectors spooled is acknowledged by the aggregator.
delivered() {
    local name
    for name in a b; do
        [ -z "$(find "$E2E_DIR/$name/inbox" -type f)" ] || return 1
    done
    local t
    t=$(now_us)
    wait_for 60 "the aggregator to store what pc-amager spooled" stored pc-amager "$t"
    wait_for 60 "the aggregator to store what pc-ballerup spooled" stored pc-ballerup "$t"
}

stop_aggregator() {
    kill -TERM "$AGG_PID"
    wait "$AGG_PID" || fail "the aggregator exited non-zero after SIGTERM"
}

count_current() { sqlite3 "$DB" "SELECT count(*) FROM current"; }
dump_versions() { sqlite3 "$DB" "SELECT n.center, v.id, hex(v.rec) FROM versions v JOIN centers n USING (cid) ORDER BY n.center, v.id, v.vid"; }
dump_current() { sqlite3 "$DB" "SELECT n.center, k.id, k.void, hex(v.rec) FROM current k JOIN centers n USING (cid) JOIN versions v ON v.vid = k.vid ORDER BY n.center, k.id"; }
first_year=${YEARS%% *}
last_year=${YEARS##* }
kpi() {
    "$PSYMON" kpi -c "$E2E_DIR/aggregator.conf" --period year --from "$first_year-01" \
        --to "$last_year-12" --center all --as-of "$AS_OF" --format csv
}

# check_once WHAT: no id is current twice and no record has two equal versions in a row
check_once() {
    local dups doubled
    dups=$(sqlite3 "$DB" "SELECT count(*) FROM (SELECT cid, id FROM current
        GROUP BY cid, id HAVING count(*) > 1)")
    [ "$dups" = 0 ] || fail "$1: $dups ids are current more than once"
    doubled=$(sqlite3 "$DB" "SELECT count(*) FROM (SELECT cid, id, rec FROM versions
        GROUP BY cid, id, rec HAVING count(*) > 1)")
    [ "$doubled" = 0 ] || fail "$1: $doubled record versions are stored twice"
}

# A record registered before the backup and corrected after it, one voided
# after it: the order the aggregator stores them in decides what is current.
for c in "${CENTERS[@]}"; do
    cat >"$E2E_DIR/sim/$c/20230101T000000Z-extra.ndjson" <<'DATA'
{"type":"admission","id":"X-1","time":"2023-01-01T10:00:00+01:00","patient":"070465-1331","mode":"acute","ward":"M1"}
{"type":"admission","id":"X-2","time":"2023-01-01T11:00:00+01:00","patient":"070465-1331","mode":"planned","ward":"M1"}
DATA
    cat >"$E2E_DIR/sim/$c/20991231T000000Z-fix.ndjson" <<'DATA'
{"type":"admission","id":"X-1","time":"2023-01-01T10:00:00+01:00","patient":"070465-1331","mode":"acute","ward":"M2"}
{"type":"admission","id":"X-2","time":"2023-01-01T11:00:00+01:00","void":true}
DATA
done
mapfile -t FILES < <(ls "$E2E_DIR/sim/pc-amager" | grep -v -e '-extra\.' -e '-fix\.')
n=${#FILES[@]}
part=$((n / 3)) # what follows the backup is over 1 MiB of spool: acknowledged, it is deleted

# ---- the first part is delivered, then the store is backed up while it runs ----
drop a pc-amager 20230101T000000Z-extra.ndjson "${FILES[@]:0:part}"
drop b pc-ballerup 20230101T000000Z-extra.ndjson "${FILES[@]:0:part}"
start_aggregator
start_collector a
start_collector b
wait_for 120 "the first $part files of each center delivered" delivered
before_backup=$(count_current)
sqlite3 "$DB" ".backup '$E2E_DIR/backup.db'"
[ "$(sqlite3 "$E2E_DIR/backup.db" "SELECT count(*) FROM current")" = "$before_backup" ] ||
    fail "the backup does not hold the $before_backup records stored before it"
pass "first $part files delivered ($before_backup ids), store backed up online"
# Files moved to done/ from now on are the ones the backup misses.
sleep 1.1
since=$(date +%Y-%m-%dT%H:%M:%S)
sleep 1.1

# ---- the rest is delivered ----
drop a pc-amager "${FILES[@]:part}" 20991231T000000Z-fix.ndjson
drop b pc-ballerup "${FILES[@]:part}" 20991231T000000Z-fix.ndjson
wait_for 120 "the remaining $((n - part)) files of each center delivered" delivered
check_once "before the restore"
want_ids=$(count_current)
want_versions=$(dump_versions | md5sum)
want_current=$(dump_current | md5sum)
want_kpi=$(kpi)
[ "$want_ids" -gt "$before_backup" ] || fail "the second part added no records"
grep -q ",region,records," <<<"$want_kpi" || fail "no region records row: $want_kpi"
pass "all $n files delivered ($want_ids ids); versions and yearly KPIs captured"

# ---- restore: the database from the backup; its WAL and the caches go ----
stop_aggregator
rm -rf "$E2E_DIR/data/rrd" "$E2E_DIR/data/kpi-model.bin" "$DB-wal" "$DB-shm"
cp "$E2E_DIR/backup.db" "$DB"
start_aggregator
[ "$(count_current)" = "$before_backup" ] || fail "the restored store holds $(count_current) ids"
pass "aggregator restored from the backup and started ($before_backup ids)"

# ---- the collectors heal by themselves ----
healed() {
    grep -q -e "sending the [0-9]* records after it again" -e "starting afresh from done/" \
        "$E2E_DIR/$1.log"
}
wait_for 60 "collector a to notice the restore" healed a
wait_for 60 "collector b to notice the restore" healed b
# The collector logs "starting afresh" and then, once the new spool is made,
# "reading the N files of done/": the second line may come a moment later.
reads_done() { grep -q "reading the [0-9]* files of done/" "$E2E_DIR/$1.log"; }
for name in a b; do
    if grep -q "starting afresh from done/" "$E2E_DIR/$name.log"; then
        wait_for 30 "collector $name started afresh to read done/ again" reads_done "$name"
        pass "collector $name: its spool no longer held everything lost; read done/ again"
    else
        pass "collector $name: sent again what its spool still held"
    fi
done
wait_for 120 "what the backup missed delivered again" delivered
check_once "after healing"
[ "$(count_current)" = "$want_ids" ] || fail "$(count_current) ids stored, $want_ids before the restore"
[ "$(dump_versions | md5sum)" = "$want_versions" ] ||
    fail "the versions table differs from the one before the restore"
[ "$(dump_current | md5sum)" = "$want_current" ] ||
    fail "the current records differ from those before the restore"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM current WHERE id = 'X-2' AND void = 1")" = 2 ] ||
    fail "the record voided after the backup is not void at both centers"
got_kpi=$(kpi)
[ "$got_kpi" = "$want_kpi" ] ||
    fail "KPIs differ from before the restore:"$'\n'"$(diff <(echo "$want_kpi") <(echo "$got_kpi") | head -20)"
pass "the restored aggregator holds again what it lost: ids, versions, corrections and yearly KPIs as before"

# ---- psymon requeue: a dry run changes nothing ----
"$PSYMON" requeue -c "$E2E_DIR/a.conf" --since "$since" --dry-run >"$E2E_DIR/dry.out" ||
    fail "psymon requeue --dry-run failed"
grep -q "^would put back [0-9]* files" "$E2E_DIR/dry.out" ||
    fail "the dry run prints no total: $(cat "$E2E_DIR/dry.out")"
[ -z "$(find "$E2E_DIR/a/inbox" -type f)" ] || fail "the dry run put files into the inbox"

# ---- a second requeue of everything in done/ changes nothing ----
for name in a b; do
    "$PSYMON" requeue -c "$E2E_DIR/$name.conf" >"$E2E_DIR/requeue2-$name.out" ||
        fail "the second psymon requeue -c $name.conf failed"
    grep -q "^$((n + 2)) files, " "$E2E_DIR/requeue2-$name.out" ||
        fail "second requeue $name: $(tail -1 "$E2E_DIR/requeue2-$name.out")"
done
wait_for 120 "the files requeued again delivered" delivered
check_once "after a second requeue"
[ "$(dump_versions | md5sum)" = "$want_versions" ] ||
    fail "a second requeue changed the versions table"
[ "$(kpi)" = "$want_kpi" ] || fail "a second requeue changed the KPIs"
pass "a second requeue of every done/ file changed nothing"
echo "restore: all checks passed"
