# Shared helpers for the end-to-end tests: temp dir, free ports, keys,
# configurations, starting and stopping the daemons. Sourced, not run.
set -euo pipefail

: "${PSY_BUILD_DIR:?set PSY_BUILD_DIR to the build folder}"
PSYMON="$PSY_BUILD_DIR/cli/psymon"
AGGREGATOR="$PSY_BUILD_DIR/aggregator/psymon-aggregator"
COLLECTOR="$PSY_BUILD_DIR/collectors/psymon-collector"

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/psymon-e2e.XXXXXX")
E2E_PIDS=()

e2e_cleanup() {
    local rc=$?
    for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ $rc -ne 0 ]; then
        echo "--- logs of the failed run ($E2E_DIR):" >&2
        for f in "$E2E_DIR"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 40 "$f" >&2; }; done
    else
        rm -rf "$E2E_DIR"
    fi
    exit $rc
}
trap e2e_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# A TCP port nobody listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# keygen NAME: NAME.key / NAME.pub in $E2E_DIR
keygen() { (cd "$E2E_DIR" && "$PSYMON" keygen "$1"); }
pubkey() { cat "$E2E_DIR/$1.pub"; }

# write_collector_conf NAME CENTER KEYNAME: $E2E_DIR/NAME.conf with inbox and state under NAME/
write_collector_conf() {
    local name=$1 center=$2 key=$3
    mkdir -p "$E2E_DIR/$name/inbox" "$E2E_DIR/$name/state"
    cat >"$E2E_DIR/$name.conf" <<CONF
[collector]
center = $center
aggregator = tcp://127.0.0.1:$ZMQ_PORT
aggregator_public_key = $(pubkey aggregator)
secret_key_file = $key.key
pseudonym_key_file = pseudonym.key
inbox = $name/inbox
state_dir = $name/state
done_days = 30
CONF
}

# write_aggregator_conf: $E2E_DIR/aggregator.conf's [aggregator] section, on
# ZMQ_PORT and HTTP_PORT; add_center appends the centers.
write_aggregator_conf() {
    cat >"$E2E_DIR/aggregator.conf" <<CONF
[aggregator]
listen = tcp://127.0.0.1:$ZMQ_PORT
secret_key_file = aggregator.key
data_dir = data
http_listen = 127.0.0.1:$HTTP_PORT
timezone = Europe/Copenhagen
CONF
}

# add_center ID NAME PUBLIC_KEY [YEAR=POPULATION ...]: appends a [center] section
add_center() {
    local id=$1 name=$2 key=$3 yp
    shift 3
    {
        printf '\n[center %s]\nname = %s\npublic_key = %s\n' "$id" "$name" "$key"
        for yp in "$@"; do printf 'population.%s = %s\n' "${yp%%=*}" "${yp#*=}"; done
    } >>"$E2E_DIR/aggregator.conf"
}

start_aggregator() {
    "$AGGREGATOR" -c "$E2E_DIR/aggregator.conf" >>"$E2E_DIR/aggregator.log" 2>&1 &
    AGG_PID=$!
    E2E_PIDS+=("$AGG_PID")
    wait_for 30 "aggregator healthy" healthy
}

start_collector() {
    "$COLLECTOR" -c "$E2E_DIR/$1.conf" >>"$E2E_DIR/$1.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "PID_${1//-/_}=$!"
}

healthy() { curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s waiting for $what"
        sleep 0.2
    done
}

status_json() { "$PSYMON" status -c "$E2E_DIR/aggregator.conf" --json; }

# center_field CENTER FIELD: a field of psymon status --json
center_field() {
    status_json | python3 -c 'import json,sys; c=[x for x in json.load(sys.stdin)["centers"] if x["center"]==sys.argv[1]]; print(c[0][sys.argv[2]])' "$1" "$2"
}
