"""Open-loop Poisson load over HTTP/1.1 keep-alive on loopback. Send times come from a seeded
stream and do not wait for answers; latency runs from the scheduled send time, so a late client
loop is counted against the server rather than hidden (no coordinated omission)."""

import asyncio
import json
import time

import numpy as np


async def _exchange(host, port, request, pool):
    for attempt in range(2):
        # A pooled connection the server has just closed fails at once: retry on a fresh one.
        reader, writer = pool.pop() if pool and attempt == 0 else await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            pool.append((reader, writer))
            return status.split()[1] == b"200"
        except (ConnectionError, asyncio.IncompleteReadError, IndexError):
            writer.close()
            if attempt == 1:
                return False
    return False


def _request(host, port, path, body):
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + payload


async def _run(host, port, path, make_body, rate, duration, seed, timeout):
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate, int(rate * duration * 2) + 100)
    send_times = np.cumsum(gaps)
    send_times = send_times[send_times < duration]
    pool, rows = [], []

    async def one(i, scheduled, start):
        try:
            ok = await asyncio.wait_for(
                _exchange(host, port, _request(host, port, path, make_body(i)), pool), timeout
            )
        except asyncio.TimeoutError:
            ok = False
        rows.append((scheduled, (time.perf_counter() - start - scheduled) * 1e3, ok))

    start = time.perf_counter() + 0.1
    tasks = []
    for i, scheduled in enumerate(send_times):
        delay = start + scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, float(scheduled), start)))
    await asyncio.gather(*tasks)
    for _, writer in pool:
        writer.close()
    rows.sort()
    return rows


def run(host, port, path, make_body, rate, duration, seed, timeout=30.0):
    """Returns (scheduled send s, latency ms, ok) per request, in send order."""
    return asyncio.run(_run(host, port, path, make_body, rate, duration, seed, timeout))
