#!/usr/bin/env bash
# Patient numbers stay on site, with the daemons running as an unprivileged
# user (nobody, through setpriv, when the test runs as root):
# after inbox files full of CPR numbers (with and without the dash, in NDJSON
# and CSV, one in a rejected line) are delivered, neither the numbers nor
# their unkeyed SHA-256 (raw bytes, lower- and upper-case hex) are in the
# aggregator's data folder (database and WAL included, checked while it runs
# and after it stops), the collector's state folder apart from done/, or any
# log. Controls: a CPR-like record id (the source system's id, which travels
# as it is) is found in the database bytes, and done/ holds the numbers.
# The wire is proven on the plaintext by tests/test_wire_privacy.c.
source "$(dirname "$0")/lib.sh"

ZMQ_PORT=$(free_port)
HTTP_PORT=$(free_port)
for k in aggregator pc-a; do keygen "$k"; done
"$PSYMON" keygen --pseudonym "$E2E_DIR/pseudonym.key"

write_aggregator_conf
add_center pc-a "Center A" "$(pubkey pc-a)" 2024=100000
write_collector_conf pc-a pc-a pc-a
# As an installer would make it: the daemon's user's, closed to others.
mkdir -m 0750 "$E2E_DIR/data"

PATIENTS="070465-1331 1203871452 311299-0017 0101034568 150372-9876"
CPR_LIKE_ID=0101901234
cat >"$E2E_DIR/pc-a/inbox/2024-03-01.ndjson" <<DATA
{"type":"admission","id":"$CPR_LIKE_ID","time":"2024-03-01T10:00:00+01:00","patient":"070465-1331","mode":"acute","ward":"2208762211"}
{"type":"coercion","id":"C1","time":"2024-03-01T16:00:00+01:00","end":"2024-03-01T19:30:00+01:00","patient":"0704651331","admission":"$CPR_LIKE_ID","kind":"belt"}
{"type":"discharge","id":"D1","time":"2024-03-05T10:00:00+01:00","patient":"070465-1331","admission":"$CPR_LIKE_ID"}
{"type":"admission","id":"A2","time":"2024-04-02T08:00:00+02:00","patient":"1203871452","mode":"planned"}
{"type":"admission","id":"BAD1","time":"2024-13-01T00:00:00Z","patient":"150372-9876","mode":"acute"}
{"type":"admission","id":"BAD2","time":"2024-03-01T00:00:00Z","patient":"150372-9876","mode":"sideways"}
DATA
cat >"$E2E_DIR/pc-a/inbox/2024-03-02.csv" <<'DATA'
type,id,time,patient,mode,admission,kind
admission,B1,2024-03-05T12:00:00+01:00,311299-0017,acute,,
coercion,B2,2024-03-06T09:00:00+01:00,3112990017,,B1,sedative_medication
admission,B3,2024-03-07T12:00:00+01:00,0101034568,acute,,
DATA
RECORDS=7

# --- the daemons' user ---
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null || fail "running as root, but setpriv is missing"
    RUN_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    chmod 0711 "$E2E_DIR"
    chown -R nobody:nogroup "$E2E_DIR/data" "$E2E_DIR/pc-a" "$E2E_DIR/aggregator.key" \
        "$E2E_DIR/pc-a.key" "$E2E_DIR/pseudonym.key"
else
    echo "notice: not root, so the daemons run as $(id -un); the unprivileged-user check is skipped"
fi
"${RUN_AS[@]}" "$AGGREGATOR" -c "$E2E_DIR/aggregator.conf" >>"$E2E_DIR/aggregator.log" 2>&1 &
AGG_PID=$!
E2E_PIDS+=("$AGG_PID")
wait_for 30 "aggregator healthy" healthy
"${RUN_AS[@]}" "$COLLECTOR" -c "$E2E_DIR/pc-a.conf" >>"$E2E_DIR/pc-a.log" 2>&1 &
COLL_PID=$!
E2E_PIDS+=("$COLL_PID")

delivered() { [ "$(center_field pc-a records)" = $RECORDS ] && [ "$(center_field pc-a backlog)" = 0 ]; }
wait_for 60 "the collector delivered" delivered
pass "$RECORDS records delivered"

if [ ${#RUN_AS[@]} -gt 0 ]; then
    for pid in "$AGG_PID" "$COLL_PID"; do
        [ "$(ps -o user= -p "$pid" | tr -d ' ')" = nobody ] || fail "pid $pid does not run as nobody"
        awk '/^Uid:/ { if ($2 != $3 || $3 != $4 || $4 != $5) exit 1 }' "/proc/$pid/status" ||
            fail "pid $pid kept another uid"
    done
    bad=$(find "$E2E_DIR/data" "$E2E_DIR/pc-a/state" ! -user nobody -print)
    [ -z "$bad" ] || fail "files not owned by nobody: $bad"
    pass "aggregator and collector run as nobody; everything they wrote belongs to nobody"
fi
# Health data is never readable by others: no folder the aggregator made
# lets others in, and the database files are not readable by them (umask).
bad=$(find "$E2E_DIR/data" -mindepth 1 \( -type d -perm /o=rwx -o -name 'psymon.db*' -perm /o=r \) -print)
[ -z "$bad" ] || fail "open to others: $(ls -ld $bad)"
pass "the aggregator's files are closed to others"
if false; then :
fi

cat >"$E2E_DIR/leak.py" <<'PY'
# leak.py MODE PATIENTS... -- FILES...: MODE "none" fails when any file holds
# a needle; "some" fails unless some file does. Needles: both spellings of
# every CPR number and the SHA-256 of each (raw, hex, HEX).
import hashlib, sys
sep = sys.argv.index("--")
mode, patients, files = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
needles = []
for p in patients:
    d = p.replace("-", "")
    for form in (d, d[:6] + "-" + d[6:]):
        h = hashlib.sha256(form.encode()).digest()
        needles += [(form.encode(), "clear " + form), (h, "raw SHA-256 of " + form),
                    (h.hex().encode(), "hex SHA-256 of " + form),
                    (h.hex().upper().encode(), "HEX SHA-256 of " + form)]
found = False
gone = 0
for f in files:
    # A running daemon renames its temporary files (an RRD's .tmp): one gone
    # since the listing is read under its final name by the check after stop.
    try:
        data = open(f, "rb").read()
    except FileNotFoundError:
        gone += 1
        continue
    for n, what in needles:
        if n in data:
            found = True
            if mode == "none":
                sys.exit("%s holds the %s" % (f, what))
if mode == "some" and not found:
    sys.exit("no file holds any needle: %s" % files)
print("checked %d files against %d needles (%d gone meanwhile)" % (len(files) - gone, len(needles), gone))
PY
# check_no_leak WHEN: every file of the data folder, the state folder but done/, and the logs.
check_no_leak() {
    local files=()
    mapfile -t files < <(find "$E2E_DIR/data" "$E2E_DIR/pc-a/state" -path "$E2E_DIR/pc-a/state/done" -prune -o -type f -print)
    files+=("$E2E_DIR"/*.log)
    python3 "$E2E_DIR/leak.py" none $PATIENTS -- "${files[@]}" || fail "leak $1"
    # The control: the stored bytes are searchable (the id is there as it came).
    local db=("$E2E_DIR/data/psymon.db")
    [ -f "$E2E_DIR/data/psymon.db-wal" ] && db+=("$E2E_DIR/data/psymon.db-wal")
    grep -qa "$CPR_LIKE_ID" "${db[@]}" ||
        fail "control: the record id is not found in the database bytes ($1)"
    pass "no CPR number nor its SHA-256 $1 (${#files[@]} files)"
}
[ -f "$E2E_DIR/data/psymon.db-wal" ] || fail "no WAL file while the aggregator runs"
check_no_leak "while running (database and WAL)"
python3 "$E2E_DIR/leak.py" some $PATIENTS -- "$E2E_DIR"/pc-a/state/done/* ||
    fail "control: done/ does not hold the exported numbers"
grep -q '"BAD1"' "$E2E_DIR/pc-a/state/rejected.ndjson" || fail "BAD1 not rejected"

for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${E2E_PIDS[@]}"; do wait "$pid" || fail "a daemon exited non-zero on SIGTERM"; done
E2E_PIDS=()
check_no_leak "after the daemons stopped"
echo "privacy: all checks passed"
