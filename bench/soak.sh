#!/usr/bin/env bash
# Soak (docs/performance.md, "Soak"): prints numbers, asserts nothing.
#
#   bench/soak.sh BUILD_DIR [SECONDS [TICK]]
#
# Live records (`psymon simulate --live TICK --no-history`, default TICK 17 s,
# which for pc-amager and pc-ballerup comes to about 100 times the whole
# region's real rate: a simulated year of the region is ~54,000 records,
# 0.0017 records/s) flow through two collectors into one aggregator for
# SECONDS (default 3600). The aggregator is stopped (SIGTERM) and started
# again at one third and two thirds of the time. Every SECONDS/60 s (at
# least 5 s) one line of CSV: elapsed seconds, records stored, the
# aggregator's and each collector's resident memory (KiB) and open files,
# the database's size with its WAL (KiB) and each spool's size (KiB).
# The samples go to stdout and to $SOAK_CSV when it is set.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/soak.sh BUILD_DIR [SECONDS [TICK]]}" && pwd)
DURATION=${2:-3600}
TICK=${3:-17}
PSYMON=$BUILD/cli/psymon
AGG=$BUILD/aggregator/psymon-aggregator
COL=$BUILD/collectors/psymon-collector
W=$(mktemp -d "${TMPDIR:-/tmp}/psymon-soak.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
du_k() { du -sk "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

cd "$W"
for k in aggregator pc-amager pc-ballerup; do "$PSYMON" keygen "$k" >/dev/null; done
"$PSYMON" keygen --pseudonym pseudonym.key >/dev/null
zmq=$(port)
http=$(port)
mkdir -p live/pc-amager live/pc-ballerup data
cat >aggregator.conf <<CONF
[aggregator]
listen = tcp://127.0.0.1:$zmq
secret_key_file = $W/aggregator.key
data_dir = $W/data
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
    mkdir -p "$c/state"
    cat >"$c.conf" <<CONF
[collector]
center = $c
aggregator = tcp://127.0.0.1:$zmq
aggregator_public_key = $(cat aggregator.pub)
secret_key_file = $W/$c.key
pseudonym_key_file = $W/pseudonym.key
inbox = $W/live/$c
state_dir = $W/$c/state
done_days = 30
CONF
done

start_agg() {
    "$AGG" -c aggregator.conf 2>>aggregator.log &
    AP=$!
    PIDS+=("$AP")
}
"$PSYMON" simulate --out live --live "$TICK" --no-history --center pc-amager --center pc-ballerup \
    2>simulate.log &
PIDS+=("$!")
"$COL" -c pc-amager.conf 2>pc-amager.log &
CA=$!
"$COL" -c pc-ballerup.conf 2>pc-ballerup.log &
CB=$!
PIDS+=("$CA" "$CB")
start_agg

every=$((DURATION / 60))
[ "$every" -ge 5 ] || every=5
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start;" \
    "$DURATION s, a live file every $TICK s per center, a sample every $every s"
header="seconds,records,agg_rss_kib,agg_fds,col_a_rss_kib,col_a_fds,col_b_rss_kib,col_b_fds,db_kib,spool_a_kib,spool_b_kib"
echo "$header"
[ -z "${SOAK_CSV:-}" ] || echo "$header" >"$SOAK_CSV"
start=$SECONDS
restarts=0
while [ $((SECONDS - start)) -lt "$DURATION" ]; do
    sleep "$every"
    t=$((SECONDS - start))
    if [ "$restarts" -lt 2 ] && [ "$t" -ge $(((restarts + 1) * DURATION / 3)) ]; then
        kill -TERM "$AP"
        wait "$AP" || echo "# the aggregator exited non-zero" >&2
        start_agg
        restarts=$((restarts + 1))
        echo "# aggregator restarted ($restarts) at $t s"
        sleep 1
    fi
    n=$(sqlite3 "file:$W/data/psymon.db?mode=ro" 'SELECT count(*) FROM versions' 2>/dev/null || echo 0)
    line="$t,$n,$(kib "$AP" VmRSS),$(fds "$AP"),$(kib "$CA" VmRSS),$(fds "$CA"),$(kib "$CB" VmRSS),$(fds "$CB"),$(du_k data/psymon.db data/psymon.db-wal),$(du_k pc-amager/state/spool),$(du_k pc-ballerup/state/spool)"
    echo "$line"
    [ -z "${SOAK_CSV:-}" ] || echo "$line" >>"$SOAK_CSV"
done
echo "records stored: $n in $((SECONDS - start)) s ($(python3 -c "print(f'{$n / max(1, $SECONDS - $start):.2f}')") records/s);" \
    "aggregator errors logged: $(grep -c 'error' aggregator.log || true)"
