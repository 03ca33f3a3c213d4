"""The floor of the judge benchmarks: a minimal aiohttp client replaying recorded requests against the test server.

Reads the JSON lines the test server recorded ({"path", "body"}, the raw request bodies `evalharness run` sent),
sends each body as it is with `concurrency` in flight over one keep-alive pool, and reads each answer as the harness
must (the response JSON, then the answer text's JSON). It imports nothing of evalharness: its wall, CPU and RSS
(measured from outside by the parent) are what any client needs for the same requests.
Usage: python bench/floor_client.py RECORDED.jsonl URL KEY CONCURRENCY   (prints one JSON line)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def replay(records: list[dict], url: str, key: str, concurrency: int) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    queue: asyncio.Queue = asyncio.Queue()
    for r in records:
        queue.put_nowait(r)
    ok = failed = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok, failed
        while not queue.empty():
            r = queue.get_nowait()
            async with session.post(url + r["path"], data=r["body"].encode(), headers=headers) as resp:
                data = await resp.json()
            try:
                json.loads(data["choices"][0]["message"]["content"])
                ok += 1
            except (KeyError, IndexError, TypeError, ValueError):
                failed += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"requests": len(records), "ok": ok, "failed": failed, "send_wall_s": round(wall, 3)}


def main() -> None:
    path, url, key, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    print(json.dumps(asyncio.run(replay(records, url, key, concurrency))), flush=True)


if __name__ == "__main__":
    main()
