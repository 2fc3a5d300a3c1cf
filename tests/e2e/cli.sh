#!/usr/bin/env bash
# The command line's errors: every message of `psymon SUBCOMMAND` starts with
# "psymon SUBCOMMAND: " (every line of it: no bare usage text on stderr), a
# usage or configuration error exits 2 and any other failure 1
# (interfaces.md), an unknown --kpi or --center names the choices or a
# hint, and --help prints to stdout and exits 0. No daemon is started.
source "$(dirname "$0")/lib.sh"

cd "$E2E_DIR"
"$PSYMON" keygen aggregator >/dev/null
"$PSYMON" keygen pc-a >/dev/null
"$PSYMON" keygen --pseudonym pseudonym.key
cat >agg.conf <<CONF
[aggregator]
listen = tcp://127.0.0.1:1
secret_key_file = aggregator.key
data_dir = nowhere
http_listen = 127.0.0.1:1

[center pc-a]
name = A
public_key = $(cat pc-a.pub)
CONF
sed 's/^name = A$/name = A\nbogus = 1/' agg.conf >bad.conf
cat >coll.conf <<CONF
[collector]
center = pc-a
aggregator = tcp://127.0.0.1:1
aggregator_public_key = $(cat aggregator.pub)
secret_key_file = pc-a.key
pseudonym_key_file = pseudonym.key
inbox = inbox
state_dir = state
CONF

n=0
# check RC "MESSAGE" SUBCOMMAND ARGS...: psymon SUBCOMMAND ARGS exits RC,
# prints nothing on stdout, and every stderr line starts with
# "psymon SUBCOMMAND: "; MESSAGE (a fixed string) is in stderr.
check() {
    local rc=$1 msg=$2 cmd=$3 got out err
    shift 3
    set +e
    "$PSYMON" "$cmd" "$@" >out.txt 2>err.txt
    got=$?
    set -e
    out=$(cat out.txt)
    err=$(cat err.txt)
    [ "$got" = "$rc" ] || fail "psymon $cmd $*: exit $got, not $rc; stderr: $err"
    [ -z "$out" ] || fail "psymon $cmd $*: printed on stdout: $out"
    [ -n "$err" ] || fail "psymon $cmd $*: no message"
    if grep -v "^psymon $cmd: " err.txt >/dev/null; then
        fail "psymon $cmd $*: a line without the 'psymon $cmd: ' prefix: $err"
    fi
    grep -qF -- "$msg" err.txt || fail "psymon $cmd $*: no '$msg' in: $err"
    n=$((n + 1))
}

K=(-c agg.conf --period month --from 2024-01)

check 2 "-c AGGREGATOR.conf is required" status
check 2 "unknown option '--bogus'" status --bogus -c agg.conf
check 2 "unknown option '-x'" status -x
check 2 "option '-c' needs a value" status -c
check 2 "unexpected argument 'extra'" status -c agg.conf extra
check 2 "missing.conf" status -c missing.conf
check 2 "bad.conf:" status -c bad.conf
check 2 "bogus" status -c bad.conf
check 1 "cannot open the store" status -c agg.conf

check 2 "-c AGGREGATOR.conf is required" kpi --period month --from 2024-01
check 2 "option '--period' needs a value" kpi -c agg.conf --period
check 2 "unknown KPI 'admisions'; did you mean 'admissions'?" kpi "${K[@]}" --kpi admisions
check 2 "unknown KPI 'coercion_episodes'; one of coercion_episodes:belt," kpi "${K[@]}" \
    --kpi coercion_episodes
check 2 "unknown KPI 'zzz'; the KPIs are those of docs/kpis.md" kpi "${K[@]}" --kpi zzz
check 2 "unknown center 'pc-b'; one of pc-a, region or all" kpi "${K[@]}" --center pc-b
check 2 "--format must be csv, json or table, not 'xml'" kpi "${K[@]}" --format xml
check 2 "--known-at must be an RFC 3339 date-time" kpi "${K[@]}" --known-at yesterday
check 2 "--period must be month, quarter, year or r12" kpi -c agg.conf --period week \
    --from 2024-01
check 2 "bad.conf:" kpi -c bad.conf --period month --from 2024-01
check 1 "cannot open the store" kpi "${K[@]}"

check 2 "-c COLLECTOR.conf is required" requeue
check 2 "--since 'soon'" requeue -c coll.conf --since soon
check 2 "unknown option '--bogus'" requeue -c coll.conf --bogus
check 1 "state/done: No such file or directory" requeue -c coll.conf

check 2 "a NAME is required" keygen
check 2 "unknown option '-q'" keygen -q
check 2 "--pseudonym needs a FILE" keygen --pseudonym
check 2 "without '/'" keygen a/b
check 1 "pc-a.key/.pub" keygen pc-a
check 1 "pseudonym.key" keygen --pseudonym pseudonym.key

check 2 "--out DIR is required" simulate
check 2 "unknown center 'pc-x'; one of pc-amager," simulate --out sim --center pc-x
check 2 "unknown option '--bogus'" simulate --out sim --bogus
check 2 "a value is missing after '--seed'" simulate --out sim --seed
pass "$n error cases: exit codes and the 'psymon SUBCOMMAND: ' prefix"

for cmd in status kpi requeue keygen simulate; do
    "$PSYMON" "$cmd" --help >out.txt 2>err.txt || fail "psymon $cmd --help exits non-zero"
    grep -q "^Usage: psymon $cmd" out.txt || fail "psymon $cmd --help: no usage on stdout"
    [ ! -s err.txt ] || fail "psymon $cmd --help wrote to stderr"
done
"$PSYMON" kpi --help | grep -q ' wait_within_60d_share ' || fail "psymon kpi --help lists no KPIs"
pass "--help of every subcommand: usage on stdout, exit 0"

set +e
"$PSYMON" frobnicate >/dev/null 2>err.txt
rc=$?
set -e
[ $rc = 2 ] && grep -q "^psymon: unknown command 'frobnicate'" err.txt ||
    fail "psymon frobnicate: exit $rc: $(cat err.txt)"
pass "an unknown subcommand exits 2"
