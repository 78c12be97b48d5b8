"""Generators stream their values as they are produced; every call has an async twin.

    nano-modal run examples/streaming_and_async.py
"""

import asyncio
import time

import nano_modal as modal

app = modal.App("streaming-and-async")


@app.function()
def countdown(n: int):
    for i in range(n, 0, -1):
        yield i
        time.sleep(0.2)


@app.function()
async def shout(word: str) -> str:
    await asyncio.sleep(0.01)
    return word.upper()


async def use_async_api() -> None:
    print("await remote.aio:", await shout.remote.aio("hello"))
    print("async map:", [w async for w in shout.map.aio(["a", "b", "c"])])
    call = await shout.spawn.aio("later")
    print("spawn.aio + get.aio:", await call.get.aio())


@app.local_entrypoint()
def main() -> None:
    start = time.monotonic()
    for value in countdown.remote_gen(3):
        print(f"got {value} after {time.monotonic() - start:.1f}s")
    asyncio.run(use_async_api())
