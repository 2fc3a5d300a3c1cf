#!/usr/bin/env bash
# Delivery benchmark (docs/performance.md, "Delivery"): prints numbers, asserts nothing.
#
#   bench/drain.sh BUILD_DIR [FROM [TO]]
#
# 1. Two collectors (pc-amager, pc-ballerup) read `psymon simulate` files
#    (FROM..TO, default 2021-01-01..2025-12-31, about 60,000 records) into
#    their spools while no aggregator runs, under `strace -c -f -e
#    trace=fsync,fdatasync`: fsyncs per spooled record.
# 2. Collector RSS idle (VmRSS) once everything is spooled.
# 3. The aggregator (SQLite synchronous=FULL) starts, then both collectors
#    start again (fresh, so neither sits in a reconnect back-off); the backlog drains.
#    Drain rate = records committed / time between the aggregator's first and
#    last commit (versions.stored_at); also as polled in its database every 20 ms.
#    Collector peak RSS (VmHWM) after draining.
# 4. The same drain again under strace on the aggregator: fsyncs per record
#    committed (strace slows it; its rate is not reported).
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/drain.sh BUILD_DIR [FROM [TO]]}" && pwd)
FROM=${2:-2021-01-01}
TO=${3:-2025-12-31}
PSYMON=$BUILD/cli/psymon
AGG=$BUILD/aggregator/psymon-aggregator
COL=$BUILD/collectors/psymon-collector
W=$(mktemp -d "${TMPDIR:-/tmp}/psymon-drain.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -z "${DRAIN_KEEP:-}" ] || cp -r "$W" "$DRAIN_KEEP" # logs and databases, for a closer look
    rm -rf "$W"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cd "$W"
for k in aggregator pc-amager pc-ballerup; do "$PSYMON" keygen "$k" >/dev/null; done
"$PSYMON" keygen --pseudonym pseudonym.key >/dev/null
"$PSYMON" simulate --out sim --from "$FROM" --to "$TO" --center pc-amager --center pc-ballerup >/dev/null

setup_run() { # RUN: aggregator and collector configurations under $W/RUN
    local run=$1 zmq http
    zmq=$(port)
    http=$(port)
    mkdir -p "$run"
    cat >"$run/aggregator.conf" <<CONF
[aggregator]
listen = tcp://127.0.0.1:$zmq
secret_key_file = $W/aggregator.key
data_dir = $W/$run/data
http_listen = 127.0.0.1:$http
timezone = Europe/Copenhagen
[center pc-amager]
name = A
public_key = $(cat pc-amager.pub)
population.2024 = 205500
[center pc-ballerup]
name = B
public_key = $(cat pc-ballerup.pub)
population.2024 = 345500
CONF
    for c in pc-amager pc-ballerup; do
        mkdir -p "$run/$c/inbox" "$run/$c/state"
        cp sim/$c/* "$run/$c/inbox/"
        cat >"$run/$c.conf" <<CONF
[collector]
center = $c
aggregator = tcp://127.0.0.1:$zmq
aggregator_public_key = $(cat aggregator.pub)
secret_key_file = $W/$c.key
pseudonym_key_file = $W/pseudonym.key
inbox = $W/$run/$c/inbox
state_dir = $W/$run/$c/state
done_days = 30
CONF
    done
}

spooled() { # RUN: both inboxes empty
    [ -z "$(find "$1/pc-amager/inbox" "$1/pc-ballerup/inbox" -type f)" ]
}

wait_spooled() {
    local end=$((SECONDS + 300))
    until spooled "$1"; do
        [ $SECONDS -lt $end ] || { echo "spooling did not finish" >&2; exit 1; }
        sleep 0.1
    done
    sleep 1.5 # the last group's commit and the move to done/
}

last_seq() { # STATE_DIR: highest committed sequence of the spool, from the collector's log
    grep -o 'stopped: last sequence [0-9]*' "$1" | tail -1 | grep -o '[0-9]*$'
}

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# CPU time (user + system) a process used so far, in microseconds.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000000 / hz}' "/proc/$1/stat"; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

# ---- run 1: spool under strace, idle RSS, drain rate, peak RSS ----
setup_run r1
strace -f -c -e trace=fsync,fdatasync -o r1/strace-collector.txt \
    "$COL" -c r1/pc-amager.conf 2>r1/pc-amager.log &
SPID=$!
PIDS+=("$SPID")
wait_spooled_one() {
    local end=$((SECONDS + 300))
    until [ -z "$(find r1/pc-amager/inbox -type f)" ]; do
        [ $SECONDS -lt $end ] || exit 1
        sleep 0.1
    done
    sleep 1.5
}
wait_spooled_one
kill -TERM "$(pgrep -P "$SPID")" # the collector, not strace
wait "$SPID" || true
n_a=$(last_seq r1/pc-amager.log)
fs=$(awk '$NF == "fsync" || $NF == "fdatasync" {s += $4} END {print s + 0}' r1/strace-collector.txt)
echo "spool: $n_a records of pc-amager spooled with $fs fsync+fdatasync calls" \
    "($(python3 -c "print(f'{$fs/$n_a:.4f}')") per record)"

# Both collectors now run without strace; pc-amager's spool is full already.
"$COL" -c r1/pc-amager.conf 2>>r1/pc-amager.log &
CA=$!
"$COL" -c r1/pc-ballerup.conf 2>r1/pc-ballerup.log &
CB=$!
PIDS+=("$CA" "$CB")
wait_spooled r1
sleep 3
echo "collector RSS idle, everything spooled, no aggregator: pc-amager $(kib $CA VmRSS) KiB," \
    "pc-ballerup $(kib $CB VmRSS) KiB (VmRSS)"
# Both collectors stop, the aggregator starts, and then they start again: a
# collector that has been waiting for an aggregator is in libzmq's reconnect
# back-off (up to 10 s, sender.c), and one that happened to wait out most of
# it would stretch the drain by seconds that are not the drain's; fresh ones
# connect at once. The aggregator's own start (RRD files, first model) is
# over before the first record comes.
kill -TERM "$CA" "$CB"
wait "$CA" || true
wait "$CB" || true
PIDS=()
n_b=$(last_seq r1/pc-ballerup.log)
total=$((n_a + n_b))
"$AGG" -c r1/aggregator.conf 2>r1/aggregator.log &
AP=$!
PIDS+=("$AP")
end=$((SECONDS + 60))
until grep -q 'collectors on' r1/aggregator.log; do
    [ $SECONDS -lt $end ] || { echo "the aggregator did not start" >&2; exit 1; }
    sleep 0.05
done
sleep 1
"$COL" -c r1/pc-amager.conf 2>>r1/pc-amager.log &
CA=$!
"$COL" -c r1/pc-ballerup.conf 2>>r1/pc-ballerup.log &
CB=$!
PIDS+=("$CA" "$CB")
ca0=$(cpu_us "$CA")
cb0=$(cpu_us "$CB")
python3 - "$W/r1/data/psymon.db" "$total" <<'PY'
import sqlite3, sys, time
db, total = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 600
first = None
while time.time() < deadline:
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        n = c.execute("SELECT count(*) FROM versions").fetchone()[0]
        c.close()
    except sqlite3.Error:
        n = 0
    now = time.time()
    if n > 0 and first is None:
        first = (now, n)
    if n >= total:
        # The rate by the aggregator's own clock: every version carries the
        # time its transaction began (stored_at), so from the first commit's
        # start to the last one's are committed all records but the last
        # commit's. Polling adds up to 20 ms (and more on a loaded machine)
        # at either end of a drain that lasts well under a second.
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        groups = c.execute("SELECT stored_at, count(*) FROM versions GROUP BY stored_at"
                           " ORDER BY stored_at").fetchall()
        c.close()
        span = (groups[-1][0] - groups[0][0]) / 1e6
        m = n - groups[-1][1]
        if span > 0:
            print("drain: %d records committed in %.3f s by the aggregator's clock (%d commits):"
                  " %.0f records/s (synchronous=FULL, 2 collectors)"
                  % (m, span, len(groups), m / span))
        dt = now - first[0]
        print("drain, polled every 20 ms: %d records committed in %.2f s after the first:"
              " %.0f records/s" % (n - first[1], dt, (n - first[1]) / dt))
        break
    time.sleep(0.02)
else:
    sys.exit("drain did not finish")
PY
sleep 2
# CPU per record: a measure that a machine shared with other work disturbs far less than the rate.
python3 -c "
a, ca, cb, n = $(cpu_us "$AP"), $(cpu_us "$CA") - $ca0, $(cpu_us "$CB") - $cb0, $total
print(f'CPU per record while draining: aggregator {a / n:.2f} µs (including its start), '
      f'collectors {(ca + cb) / n:.2f} µs ({ca / $n_a:.2f} / {cb / $n_b:.2f})')"
# The aggregator's CPU by thread: the ingest thread (its main thread: decoding and SQLite),
# libzmq's I/O thread (CURVE) and the rest (model builds, RRD, checkpoints), since the model
# worker's builds overlap a drain more or less depending on how long it takes.
python3 - "$AP" "$total" "$(getconf CLK_TCK)" <<'PY'
import os, sys
pid, n, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ingest = io = rest = 0.0
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        st = open(f"/proc/{pid}/task/{tid}/stat").read()
    except OSError:
        continue
    comm = st[st.index("(") + 1:st.rindex(")")]
    f = st[st.rindex(")") + 2:].split()
    us = (int(f[11]) + int(f[12])) * 1e6 / hz
    if tid == pid:
        ingest += us
    elif comm.startswith("ZMQbg/IO"):
        io += us
    else:
        rest += us
print(f"aggregator CPU per record by thread: ingest {ingest / n:.2f} µs, "
      f"ZeroMQ I/O {io / n:.2f} µs, other threads {rest / n:.2f} µs")
PY
echo "collector peak RSS after draining: pc-amager $(kib $CA VmHWM) KiB, pc-ballerup" \
    "$(kib $CB VmHWM) KiB (VmHWM); now $(kib $CA VmRSS) / $(kib $CB VmRSS) KiB (VmRSS)"
echo "collector RSS breakdown now: pc-amager RssAnon $(kib $CA RssAnon) KiB, RssFile" \
    "$(kib $CA RssFile) KiB (shared library pages)"
echo "aggregator peak RSS: $(kib $AP VmHWM) KiB (VmHWM)"
for p in "$CA" "$CB" "$AP"; do kill -TERM "$p"; done
for p in "$CA" "$CB" "$AP"; do wait "$p" || true; done
PIDS=()

# ---- run 2: the aggregator's fsyncs per record ----
setup_run r2
"$COL" -c r2/pc-amager.conf 2>r2/pc-amager.log &
CA=$!
"$COL" -c r2/pc-ballerup.conf 2>r2/pc-ballerup.log &
CB=$!
PIDS+=("$CA" "$CB")
wait_spooled r2
strace -f -c -e trace=fsync,fdatasync -o r2/strace-aggregator.txt "$AGG" -c r2/aggregator.conf 2>r2/aggregator.log &
AP=$!
PIDS+=("$AP")
end=$((SECONDS + 600))
until [ "$(sqlite3 "file:$W/r2/data/psymon.db?mode=ro" 'SELECT count(*) FROM versions' 2>/dev/null || echo 0)" -ge "$total" ]; do
    [ $SECONDS -lt $end ] || { echo "run 2 did not finish" >&2; exit 1; }
    sleep 0.2
done
kill -TERM "$(pgrep -P "$AP")" # the aggregator, not strace
wait "$AP" || true
fs=$(awk '$NF == "fsync" || $NF == "fdatasync" {s += $4} END {print s + 0}' r2/strace-aggregator.txt)
echo "aggregator: $total records committed with $fs fsync+fdatasync calls" \
    "($(python3 -c "print(f'{$fs/$total:.4f}')") per record)"
