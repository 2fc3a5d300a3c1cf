#!/usr/bin/env bash
# psymon's durable drain beside the transport's ceiling (docs/performance.md,
# "Against the ceiling"): prints numbers, asserts nothing.
#
#   bench/compare.sh BUILD_DIR [FROM [TO]]
#
# 1. build/bench/bench_zmq: records/s that libzmq alone carries over TCP
#    loopback at psymon's message sizes (PUSH/PULL and CURVE DEALER/ROUTER,
#    one record per message and 1,000-record batches).
# 2. bench/drain.sh BUILD_DIR FROM TO: psymon's durable drain (two
#    collectors, aggregator committing with synchronous=FULL before each
#    acknowledgement), default 2016-01-01..2025-12-31, about 120,000 records.
# 3. The ratio of the drain to each ceiling.
# 4. collectd, when Debian's collectd and rrdcached are installed (optional;
#    `apt-get install collectd-core rrdcached`): its loss-free
#    rate on loopback. A collectd server (network plugin on 127.0.0.1, the
#    rrdcached plugin writing to an rrdcached of its own, 1,000 series with a
#    1 s step) receives values from bench/collectd_send.py at rising rates
#    for COLLECTD_SECONDS (default 3) each; a step is loss-free when
#    rrdcached received an update for every value sent and the kernel
#    dropped no UDP datagram. The highest loss-free rate reached (or the
#    sender's limit, which the output then shows), and psymon's drain
#    beside it. Note what
#    is compared: collectd over UDP, unauthenticated and unencrypted, values
#    acknowledged by nobody and buffered by rrdcached (written to disk up to
#    a minute later), against psymon's records over CURVE, each acknowledged
#    only after an fsync'ed commit.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/compare.sh BUILD_DIR [FROM [TO]]}" && pwd)
FROM=${2:-2016-01-01}
TO=${3:-2025-12-31}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/psymon-compare.XXXXXX")
CPIDS=() # collectd's servers, stopped on any exit
trap 'for p in "${CPIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$OUT"' EXIT

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
"$BUILD/bench/bench_zmq" "${ZMQ_SECONDS:-2}" | tee "$OUT/zmq.txt"
"$HERE/drain.sh" "$BUILD" "$FROM" "$TO" | tee "$OUT/drain.txt"

python3 - "$OUT/zmq.txt" "$OUT/drain.txt" <<'PY' | tee "$OUT/ratio.txt"
import re, sys
zmq = {}
for line in open(sys.argv[1]):
    m = re.match(r"zmq: (.*?)\s+([0-9]+) messages/s\s+([0-9]+) records/s", line)
    if m:
        zmq[m.group(1)] = float(m.group(3))
drain = None
for line in open(sys.argv[2]):
    m = re.search(r"drain: .* ([0-9]+) records/s", line)
    if m:
        drain = float(m.group(1))
if drain is None:
    sys.exit("compare: no drain rate in drain.sh's output")
print(f"psymon durable drain: {drain:,.0f} records/s")
for name, rate in zmq.items():
    print(f"ratio: drain / {name}: {drain / rate:.3f} ({rate / drain:,.1f}x headroom in the transport)")
PY

collectd_rate() { # DRAIN_RATE: prints collectd's loss-free rate and the ratio
    local d=$OUT/collectd port cd_pid rc_pid secs=${COLLECTD_SECONDS:-3} best=0 best_sent=0
    port=$(python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$d/rrd" "$d/journal"
    cat >"$d/collectd.conf" <<CONF
Hostname "psymon-compare"
FQDNLookup false
BaseDir "$d"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 3600
WriteQueueLimitHigh 100000000
WriteQueueLimitLow 100000000
# One writer: with several, two values of one series can reach rrdcached out
# of order, and it refuses the older one.
WriteThreads 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$d/collectd.log"
</Plugin>
LoadPlugin network
<Plugin network>
  <Listen "127.0.0.1" "$port">
  </Listen>
</Plugin>
LoadPlugin rrdcached
<Plugin rrdcached>
  DaemonAddress "unix:$d/rrdcached.sock"
  DataDir "$d/rrd"
  CreateFiles true
  StepSize 1
  HeartBeat 2
  RRATimespan 3600
  RRARows 1200
</Plugin>
CONF
    rrdcached -g -l "unix:$d/rrdcached.sock" -p "$d/rrdcached.pid" -j "$d/journal" -b "$d/rrd" -B \
        -w 60 -z 10 -F >"$d/rrdcached.log" 2>&1 &
    rc_pid=$!
    CPIDS+=("$rc_pid")
    for _ in $(seq 50); do [ -S "$d/rrdcached.sock" ] && break; sleep 0.1; done
    collectd -f -C "$d/collectd.conf" >"$d/collectd.out" 2>&1 &
    cd_pid=$!
    CPIDS+=("$cd_pid")
    sleep 1
    # Updates rrdcached received so far (STATS, UpdatesReceived).
    updates() {
        python3 - "$d/rrdcached.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"STATS\n")
buf = b""
while b"JournalRotate" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
for line in buf.decode().splitlines():
    if line.startswith("UpdatesReceived:"):
        print(line.split()[1])
PY
    }
    # The first values create the 1,000 RRD files; that is not what is measured.
    "$HERE/collectd_send.py" 127.0.0.1 "$port" 1000 2 >/dev/null
    sleep 1
    # UDP datagrams the kernel dropped on this machine (receive buffers full, errors).
    udp_drops() { awk '$1 == "Udp:" && $2 ~ /^[0-9]/ {print $4 + $6}' /proc/net/snmp; }
    for rate in 10000 20000 50000 100000 150000 200000 300000 400000 600000 800000; do
        local before after out sent secs_taken achieved prev=-1 drops fails
        before=$(updates)
        drops=$(udp_drops)
        fails=$(grep -c 'failed' "$d/collectd.log" || true)
        out=$("$HERE/collectd_send.py" 127.0.0.1 "$port" "$rate" "$secs")
        sent=$(cut -d' ' -f2 <<<"$out")
        secs_taken=$(cut -d' ' -f5 <<<"$out")
        # Wait until collectd has handed rrdcached everything it will.
        for _ in $(seq 100); do
            after=$(updates)
            [ "$after" = "$prev" ] && break
            prev=$after
            sleep 0.3
        done
        drops=$(($(udp_drops) - drops))
        fails=$(($(grep -c 'failed' "$d/collectd.log" || true) - fails))
        achieved=$(python3 -c "print(round($sent / $secs_taken))")
        echo "collectd: asked $rate values/s: sent $sent in $secs_taken s ($achieved values/s)," \
            "rrdcached received $((after - before)) updates, UDP datagrams dropped: $drops," \
            "failed writes logged: $fails"
        # Loss-free: every value reached rrdcached, none was refused, no datagram was dropped.
        if [ "$drops" -eq 0 ] && [ "$fails" -eq 0 ] && [ $((after - before)) -ge "$sent" ]; then
            [ "$achieved" -gt "$best" ] && best=$achieved best_sent=$sent
        else
            break
        fi
        # The sender (one Python thread) cannot go faster: asking more measures nothing.
        [ "$achieved" -ge $((rate * 9 / 10)) ] || break
    done
    kill -TERM "$cd_pid" 2>/dev/null || true
    wait "$cd_pid" 2>/dev/null || true
    kill -TERM "$rc_pid" 2>/dev/null || true
    wait "$rc_pid" 2>/dev/null || true
    if [ "$best" -gt 0 ]; then
        echo "collectd $(dpkg-query -W -f='${Version}' collectd-core 2>/dev/null):" \
            "highest loss-free rate $best values/s ($best_sent values, network plugin on loopback," \
            "rrdcached); psymon's durable drain / collectd: $(python3 -c "print(f'{$1 / $best:.2f}')")"
    else
        echo "collectd: no loss-free step (see $d/collectd.log)"
    fi
}

drain_rate=$(sed -n 's/^psymon durable drain: \([0-9,]*\) records\/s.*/\1/p' "$OUT/ratio.txt" | tr -d ,)
if command -v collectd >/dev/null && command -v rrdcached >/dev/null; then
    collectd_rate "$drain_rate"
else
    echo "collectd: not measured (needs Debian's collectd-core and rrdcached:" \
        "apt-get install collectd-core rrdcached)"
fi
