#!/usr/bin/env bash
# A spool damaged on disk (issue 3, collector.md "Spool format"): a
# collector spools three files while no aggregator runs, stops, and one
# byte of a committed record in the middle of its segment is flipped. On
# start it sees that committed records were cut (an intact commit frame
# follows the damage), starts a new epoch and, since records after the
# damage must not reach the aggregator before the lost ones, reads done/
# again. Afterwards every record of the three files is stored exactly once.
# Then a stop while done/ was being put back (its intent file left): the next
# start finishes it, and nothing is stored twice.
source "$(dirname "$0")/lib.sh"

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
for k in aggregator pc-a; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"
write_aggregator_conf
add_center pc-a "Center A" "$(pubkey pc-a)" 2024=100000
write_collector_conf pc-a pc-a pc-a
DB="$E2E_DIR/data/psymon.db"

for f in 1 2 3; do
    for i in $(seq 1 40); do
        printf '{"type":"admission","id":"F%d-%d","time":"2024-03-%02dT10:00:00+01:00","patient":"070465-1331","mode":"acute"}\n' \
            "$f" "$i" "$f"
    done >"$E2E_DIR/pc-a/inbox/.2024-03-0$f.ndjson.tmp"
    mv "$E2E_DIR/pc-a/inbox/.2024-03-0$f.ndjson.tmp" "$E2E_DIR/pc-a/inbox/2024-03-0$f.ndjson"
done

# ---- spooled with no aggregator, then stopped ----
start_collector pc-a
spooled() { [ "$(find "$E2E_DIR/pc-a/state/done" -type f | wc -l)" = 3 ]; }
wait_for 30 "three files spooled and moved to done/" spooled
kill -TERM "$PID_pc_a"
wait "$PID_pc_a" || fail "the collector exited non-zero after SIGTERM"
grep -q "stopped: last sequence 120, acknowledged 0" "$E2E_DIR/pc-a.log" ||
    fail "the collector did not spool 120 records: $(tail -3 "$E2E_DIR/pc-a.log")"

# ---- one byte of a committed record in the middle is flipped ----
seg=$(find "$E2E_DIR/pc-a/state/spool" -name '*.seg')
[ "$(echo "$seg" | wc -l)" = 1 ] || fail "expected one segment: $seg"
python3 - "$seg" <<'PY'
import sys
p = sys.argv[1]
with open(p, 'r+b') as f:
    data = bytearray(f.read())
    at = len(data) // 2
    data[at] ^= 0x5a
    f.seek(0)
    f.write(data)
PY
pass "120 records spooled with no aggregator; one byte in the middle of the spool flipped"

# ---- the collector heals: new epoch, done/ read again; everything stored once ----
start_aggregator
start_collector pc-a
all_stored() { [ "$(sqlite3 "$DB" "SELECT count(*) FROM current" 2>/dev/null)" = 120 ]; }
wait_for 60 "all 120 records stored" all_stored
grep -q "damage in the spool cut committed records" "$E2E_DIR/pc-a.log" ||
    fail "the collector did not report the damage: $(grep -i -e damage -e cut "$E2E_DIR/pc-a.log")"
grep -q "reading the 3 files of done/" "$E2E_DIR/pc-a.log" ||
    fail "the collector did not read done/ again: $(tail -5 "$E2E_DIR/pc-a.log")"
sleep 2 # anything sent twice would arrive by now
[ "$(sqlite3 "$DB" "SELECT count(*) FROM versions")" = 120 ] ||
    fail "$(sqlite3 "$DB" "SELECT count(*) FROM versions") versions stored for 120 records"
for f in 1 2 3; do
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM current WHERE id LIKE 'F$f-%'")" = 40 ] ||
        fail "file $f: not all of its 40 records are stored"
done
pass "damage noticed, done/ read again: each of the 120 records stored exactly once"

# ---- a stop while done/ was being put back: the next start finishes it ----
kill -TERM "$PID_pc_a"
wait "$PID_pc_a" || fail "the collector exited non-zero after SIGTERM"
: >"$E2E_DIR/pc-a/state/requeue-pending"
start_collector pc-a
finished() {
    [ ! -e "$E2E_DIR/pc-a/state/requeue-pending" ] &&
        [ -z "$(find "$E2E_DIR/pc-a/inbox" -type f)" ] &&
        [ "$(find "$E2E_DIR/pc-a/state/done" -type f | wc -l)" = 3 ]
}
wait_for 60 "done/ put back, read again and filed again" finished
grep -q "finishing putting done/ back into the inbox" "$E2E_DIR/pc-a.log" ||
    fail "the collector did not finish the interrupted re-read"
sleep 2
[ "$(sqlite3 "$DB" "SELECT count(*) FROM versions")" = 120 ] ||
    fail "reading done/ again stored something twice"
pass "an interrupted re-read of done/ is finished at the next start; nothing stored twice"
echo "damage: all checks passed"
