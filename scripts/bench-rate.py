#!/usr/bin/env python3
"""bench-rate.py URL RATE SECONDS CONNECTIONS REQUESTS — requests at a fixed rate, each with
its own headers and body, and their latency counted from when each was due.

oha (the api benchmark's fixed-rate generator) sends one set of headers for a whole run, so
it cannot rotate patients' access tokens; a booking run from one patient measures that
patient's row lock, not the booking path. wrk rotates them (Lua) but only as fast as it can,
and wrk2, which adds a fixed rate to wrk, is not packaged by Debian nor published on a
registry. This is the small part of them the api benchmark needs, in the standard library:

- REQUESTS: a file of lines `METHOD<TAB>PATH<TAB>BEARER-TOKEN<TAB>JSON-BODY` (token and body
  may be empty), sent in order, round and round;
- request i is due at start + i / RATE; it waits for a free connection of CONNECTIONS
  (HTTP/1.1 keep-alive) and its latency runs from when it was due to its last byte, so a slow
  answer shows in the requests queued behind it (no coordinated omission);
- prints one JSON object: rate asked and answered, p50/p99/max in ms, the status codes, the
  failed requests (refused connection, broken answer).

The machine's event loop adds up to a millisecond (epoll's timeout granularity) to a request's
start, which counts against the latency, never for it.
"""

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


def load(path):
    requests = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                continue
            method, target, token, body = (line.split("\t") + ["", "", "", ""])[:4]
            head = [f"{method} {target} HTTP/1.1", "Host: {host}", "Connection: keep-alive"]
            if token:
                head.append(f"Authorization: Bearer {token}")
            data = body.encode()
            if data:
                head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
            elif method not in ("GET", "HEAD"):
                head.append("Content-Length: 0")
            requests.append(("\r\n".join(head) + "\r\n\r\n", data))
    if not requests:
        sys.exit(f"bench-rate: no requests in {path}")
    return requests


async def read_response(reader):
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__.split("\n\n")[0])
    url, rate, seconds, connections = (
        urlsplit(sys.argv[1]),
        float(sys.argv[2]),
        float(sys.argv[3]),
        int(sys.argv[4]),
    )
    requests = [
        (head.replace("{host}", url.netloc).encode(), body) for head, body in load(sys.argv[5])
    ]
    host, port = url.hostname, url.port or 80

    free = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(await asyncio.open_connection(host, port))

    latencies, statuses, failed = [], {}, 0

    async def send(i, due):
        nonlocal failed
        head, body = requests[i % len(requests)]
        reader, writer = await free.get()
        try:
            writer.write(head + body)
            await writer.drain()
            status = await read_response(reader)
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            failed += 1
            writer.close()
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                pass
        free.put_nowait((reader, writer))

    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start

    latencies.sort()

    def at(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else None

    print(json.dumps({
        "rate": rate,
        "answered_per_second": round(len(latencies) / elapsed, 1),
        "sent": total,
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
        "status": {str(k): v for k, v in sorted(statuses.items())},
        "failed": failed,
    }))


if __name__ == "__main__":
    asyncio.run(main())
