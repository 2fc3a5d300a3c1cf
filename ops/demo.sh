#!/usr/bin/env bash
# The README's first command: installs what is missing, builds psymon, and
# runs a demo of Region Hovedstaden's psychiatry on this machine: one
# aggregator, one collector per center fed by `psymon simulate` (history
# from 2021-01-01 until now, then live events every 5 seconds), generated
# keys, everything under demo/ (wiped at every start). Ctrl-C stops every
# process it started.
#
# One center deteriorates: Psykiatrisk Center Glostrup's intrusive coercion
# rises by half from twelve months before the current month (`psymon simulate
# --deteriorate`), so that the KPI alerts (SpcConcern,
# IntrusiveOffTrajectory) have a real change to find once its history has
# arrived; PSY_DEMO_DETERIORATE=CENTER[:YYYY-MM[:FACTOR]] picks another, or
# `none` for a region without one.
#
# Environment: PSY_DEMO_SEED (default 1) chooses the simulated history;
# PSY_DEMO_NO_BUILD=1 skips installing and building, and PSY_DEMO_BUILD_DIR
# (default build) names the build folder whose programs run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/demo
SEED=${PSY_DEMO_SEED:-1}
DETERIORATE=${PSY_DEMO_DETERIORATE:-pc-glostrup:$(date -d "$(date +%Y-%m-15) -12 months" +%Y-%m)}
ZMQ_ENDPOINT=tcp://127.0.0.1:7470
HTTP=127.0.0.1:8470

say() { echo "demo: $*"; }

if [ "${PSY_DEMO_NO_BUILD:-0}" != 1 ]; then
    say "installing missing packages (ops/install-deps.sh)"
    bash ops/install-deps.sh
    say "building into build/"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)" >/dev/null
fi
BUILD=$(cd "${PSY_DEMO_BUILD_DIR:-build}" && pwd)
PSYMON=$BUILD/cli/psymon
AGGREGATOR=$BUILD/aggregator/psymon-aggregator
COLLECTOR=$BUILD/collectors/psymon-collector
for p in "$PSYMON" "$AGGREGATOR" "$COLLECTOR"; do
    [ -x "$p" ] || { echo "demo: $p is missing; the build failed" >&2; exit 1; }
done

# A demo still running (or anything else) on our ports would take the
# records; refuse rather than mix.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 7470 8470; do
    if port_busy $port; then
        echo "demo: port $port is in use (another demo running?); stop it first" >&2
        exit 1
    fi
done

PIDS=()
NAMES=()
cleanup() {
    trap - INT TERM EXIT
    if [ ${#PIDS[@]} -gt 0 ]; then
        say "stopping ${#PIDS[@]} processes"
        for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    fi
    say "stopped; data, keys and logs stay in demo/ until the next run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: runs COMMAND in the background, logging to demo/logs/NAME.log
start() {
    local name=$1
    shift
    "$@" >>"$DEMO/logs/$name.log" 2>&1 &
    PIDS+=("$!")
    NAMES+=("$name")
}

rm -rf "$DEMO"
mkdir -p "$DEMO/logs" "$DEMO/inbox" "$DEMO/state"
cd "$DEMO"

say "generating keys and configuration in demo/"
"$PSYMON" keygen aggregator >/dev/null
"$PSYMON" keygen --pseudonym pseudonym.key >/dev/null
mapfile -t CENTER_LINES < <("$PSYMON" simulate --centers | tail -n +2)
CENTERS=()
{
    cat <<CONF
# Written by ops/demo.sh; regenerated at every run.
[aggregator]
listen = $ZMQ_ENDPOINT
secret_key_file = aggregator.key
data_dir = data
http_listen = $HTTP
timezone = Europe/Copenhagen
CONF
    for line in "${CENTER_LINES[@]}"; do
        IFS=$'\t' read -r -a f <<<"$line"
        # The region line carries the region's own population: the child and
        # adolescent center's catchment overlaps the adult centers', so the
        # sum of the centers' populations would count every child twice.
        if [ "${f[0]}" = region ]; then
            printf '\n[region]\nname = %s\n' "${f[1]}"
        else
            "$PSYMON" keygen "${f[0]}" >/dev/null
            CENTERS+=("${f[0]}")
            printf '\n[center %s]\nname = %s\npublic_key = %s\n' "${f[0]}" "${f[1]}" \
                "$(cat "${f[0]}.pub")"
        fi
        for i in "${!f[@]}"; do
            if [ "$i" -ge 2 ]; then printf 'population.%d = %s\n' $((2019 + i)) "${f[$i]}"; fi
        done
    done
    cat <<CONF

[target]
intrusive_reduction_pct = 30
baseline_years = 2021,2022,2023
first_month = 2024-01
last_month = 2030-12
CONF
} >aggregator.conf

for c in "${CENTERS[@]}"; do
    mkdir -p "inbox/$c" "state/$c"
    cat >"$c.conf" <<CONF
# Written by ops/demo.sh: the collector of $c.
[collector]
center = $c
aggregator = $ZMQ_ENDPOINT
aggregator_public_key = $(cat aggregator.pub)
secret_key_file = $c.key
pseudonym_key_file = pseudonym.key
inbox = inbox/$c
state_dir = state/$c
done_days = 1
CONF
done

WORSE=()
ALERT_NOTE=""
if [ "$DETERIORATE" != none ]; then
    WORSE=(--deteriorate "$DETERIORATE")
    ALERT_NOTE="
              ${DETERIORATE%%:*} deteriorates (--deteriorate $DETERIORATE): once its
              history has arrived, expect SpcConcern and IntrusiveOffTrajectory for it"
fi
say "simulating 2021-01-01 until now (seed $SEED${WORSE[*]:+, ${WORSE[*]}}) into demo/inbox/"
"$PSYMON" simulate --out inbox --from 2021-01-01 --to now --seed "$SEED" "${WORSE[@]}" \
    >logs/simulate.log

say "starting the aggregator (logs in demo/logs/)"
start aggregator "$AGGREGATOR" -c aggregator.conf
for _ in $(seq 1 150); do
    curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 && break
    kill -0 "${PIDS[0]}" 2>/dev/null || { tail -n 20 logs/aggregator.log >&2; exit 1; }
    sleep 0.2
done
curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 ||
    { echo "demo: the aggregator did not become healthy; see demo/logs/aggregator.log" >&2; exit 1; }

say "starting ${#CENTERS[@]} collectors"
for c in "${CENTERS[@]}"; do start "$c" "$COLLECTOR" -c "$c.conf"; done
start simulate-live "$PSYMON" simulate --out inbox --to now --seed "$SEED" --live 5 --no-history

cat <<EOF

  psymon demo is running: ${#CENTERS[@]} collectors are sending the history
  (about six years of the region; it takes a little while to arrive) and
  live events every 5 seconds.

  Dashboard:  http://$HTTP/
  Status:     $PSYMON status -c demo/aggregator.conf
  KPIs:       $PSYMON kpi -c demo/aggregator.conf --period year \\
                  --from 2021-01 --to $(date +%Y-%m) --center region
  Alerts:     $PSYMON alerts -c demo/aggregator.conf
              http://$HTTP/alerts (dashboard), http://$HTTP/api/v1/alerts (JSON)$ALERT_NOTE

  Press Ctrl-C to stop.

EOF

# Wait, and say so when one of ours stops on its own.
while :; do
    sleep 2
    for i in "${!PIDS[@]}"; do
        if [ -n "${PIDS[$i]}" ] && ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            say "${NAMES[$i]} stopped unexpectedly; see demo/logs/${NAMES[$i]}.log"
            wait "${PIDS[$i]}" 2>/dev/null || true
            unset 'PIDS[i]'
        fi
    done
done
