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
# 4. collectd: when Debian's collectd and rrdcached are installed, its
#    loss-free rate through the network plugin on loopback would go here;
#    this script only says whether they are (see docs/performance.md).
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/compare.sh BUILD_DIR [FROM [TO]]}" && pwd)
FROM=${2:-2016-01-01}
TO=${3:-2025-12-31}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/psymon-compare.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
"$BUILD/bench/bench_zmq" "${ZMQ_SECONDS:-2}" | tee "$OUT/zmq.txt"
"$HERE/drain.sh" "$BUILD" "$FROM" "$TO" | tee "$OUT/drain.txt"

python3 - "$OUT/zmq.txt" "$OUT/drain.txt" <<'PY'
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

if command -v collectd >/dev/null && command -v rrdcached >/dev/null; then
    echo "collectd: installed ($(collectd -h 2>&1 | sed -n 's/^collectd \([0-9.]*\).*/\1/p' | head -1));" \
        "its loss-free network-plugin rate is not measured by this script yet"
else
    echo "collectd: not measured (Debian's collectd and rrdcached are not installed here)"
fi
