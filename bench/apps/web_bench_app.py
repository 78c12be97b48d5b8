"""The app bench_apps.py measures: one web endpoint, batched and unbatched twins."""

from __future__ import annotations

import nano_modal

app = nano_modal.App("bench-apps")


def make_api():  # type: ignore[no-untyped-def]
    """The same FastAPI app is served by plain uvicorn and through nano-modal's gateway."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/square")
    def square(x: int) -> dict[str, int]:
        return {"square": x * x}

    return api


@app.function(max_containers=1)
@nano_modal.concurrent(max_inputs=64)
@nano_modal.asgi_app()
def web():  # type: ignore[no-untyped-def]
    return make_api()


@app.function(max_containers=1)
def one(x: int) -> int:
    return x * 2


@app.function(max_containers=1)
@nano_modal.batched(max_batch_size=100, wait_ms=5)
def many(xs: list[int]) -> list[int]:
    return [x * 2 for x in xs]
