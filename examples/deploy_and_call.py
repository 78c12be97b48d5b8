"""A deployed app lives on after its client exits; other programs call it by name.

    nano-modal deploy examples/deploy_and_call.py
    python -c "import nano_modal; print(nano_modal.Function.from_name('deployed-demo', 'add').remote(2, 3))"
    nano-modal app history deployed-demo
    nano-modal app stop deployed-demo

The schedule below fires every 2 seconds for as long as the app is deployed
(`nano-modal app logs deployed-demo` shows each run); another fires once a month.
"""

import time

import nano_modal as modal

app = modal.App("deployed-demo", tags={"team": "demo"})  # metadata: App.lookup(...).get_tags()


@app.function()
def add(a: int, b: int) -> int:
    return a + b


@app.function(schedule=modal.Period(seconds=2))
def heartbeat() -> None:
    print("scheduled run at", time.strftime("%H:%M:%S"))


@app.function(schedule=modal.Period(months=1))  # calendar months, counted from the deployment
def monthly_report() -> None:
    print("a month has passed")


@app.cls()
class Counter:
    start: int = modal.parameter(default=0)

    @modal.method()
    def count_to(self, n: int) -> list[int]:
        return list(range(self.start, n))
