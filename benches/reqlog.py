#!/usr/bin/env python3
"""Groups the slow requests of one net_echo window into stalls.

usage: NET_ECHO_REQLOG=/tmp/req.txt net_echo --only mixed --servers weft --mixed-reps 1 ...
       benches/reqlog.py /tmp/req.txt N      # N: the window's index in the file (0 = first)

A request is slow if its latency is at or above the window's p99. Slow requests whose end
times lie within 2 ms of each other form one stall; a stall that touches every connection
stopped the whole pipeline (the client, or every server worker), one that touches about
half of them stopped one worker of two, a single request stopped one task.
"""
import collections
import sys


def windows(path):
    cur = None
    for line in open(path):
        if line.startswith("#"):
            cur = []
            yield cur
            continue
        conn, end_us, lat_us = map(int, line.split())
        cur.append((conn, end_us, lat_us))


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    w = list(windows(path))[n]
    lat = sorted(r[2] for r in w)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    conns = len({r[0] for r in w})
    slow = sorted((r for r in w if r[2] >= p99), key=lambda r: r[1])
    stalls, cur = [], []
    for r in slow:
        if cur and r[1] - cur[-1][1] > 2000:
            stalls.append(cur)
            cur = []
        cur.append(r)
    if cur:
        stalls.append(cur)
    print(f"{len(w)} requests on {conns} connections, p99 {p99} us: "
          f"{len(slow)} slow requests in {len(stalls)} stalls")
    kinds = collections.OrderedDict(
        (k, [0, 0, 0]) for k in ("one request", "2-16 connections",
                                 "17 to 3/4 of them", "3/4 or more"))
    for s in stalls:
        touched = len({r[0] for r in s})
        if touched == 1:
            k = "one request"
        elif touched <= 16:
            k = "2-16 connections"
        elif touched < 0.75 * conns:
            k = "17 to 3/4 of them"
        else:
            k = "3/4 or more"
        kinds[k][0] += 1
        kinds[k][1] += len(s)
        kinds[k][2] = max(kinds[k][2], max(r[2] for r in s))
    for k, (count, reqs, worst) in kinds.items():
        print(f"  {k:>18}: {count:4d} stalls, {reqs:6d} slow requests, worst {worst} us")


if __name__ == "__main__":
    main()
