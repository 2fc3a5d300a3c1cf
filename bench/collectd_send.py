#!/usr/bin/env python3
"""Sends gauge values to a collectd network plugin at a set rate (bench/compare.sh).

    collectd_send.py HOST PORT RATE SECONDS [SERIES]

SERIES (default 1000) series tg/p/gauge-sNNNN get one value each per round,
50 values to a datagram of collectd's binary protocol (at most 1,452 bytes);
rounds go out in 10 ms slots so that RATE values/s are sent, and the values
of a round share one timestamp, later than the round before (collectd drops
a value no newer than the last of its series). Prints how many values were
sent and in what time. collectd-tg (collectd-utils) cannot be used for this:
it does not reach a set rate, and when stopped it leaves its last buffered
values unsent.
"""
import socket
import struct
import sys
import time

PER_PACKET = 50


def part_str(kind, s):
    b = s.encode() + b"\0"
    return struct.pack("!HH", kind, 4 + len(b)) + b


def part_u64(kind, v):
    return struct.pack("!HHQ", kind, 12, v)


def main():
    host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    series = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    head = part_str(0, "tg") + part_str(2, "p") + part_str(4, "gauge") + part_u64(9, 1 << 30)
    # One gauge value (type 1, little-endian double), after its type instance.
    value = struct.pack("!HHH", 6, 15, 1) + b"\x01" + struct.pack("<d", 1.0)
    tails = []
    for first in range(0, series, PER_PACKET):
        tails.append(b"".join(part_str(5, "s%04d" % i) + value
                              for i in range(first, min(first + PER_PACKET, series))))
    counts = [min(PER_PACKET, series - first) for first in range(0, series, PER_PACKET)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))

    slot = 0.01
    start = time.time()
    sent = 0
    k = 0  # next packet of the round
    stamp = b""
    while True:
        now = time.time()
        if now - start >= seconds:
            break
        due = min(int((now - start + slot) * rate), int(seconds * rate))
        while sent < due:
            if k == 0:
                stamp = part_u64(8, int(time.time() * (1 << 30)))
            sock.send(head + stamp + tails[k])
            sent += counts[k]
            k = (k + 1) % len(tails)
        left = start + (int((now - start) / slot) + 1) * slot - time.time()
        if left > 0:
            time.sleep(left)
    # Finish the round, so that every series got as many values.
    while k != 0:
        sock.send(head + stamp + tails[k])
        sent += counts[k]
        k = (k + 1) % len(tails)
    print("sent %d values in %.3f s" % (sent, time.time() - start))


if __name__ == "__main__":
    main()
