"""An Airflow DAG whose tasks run in nano-modal containers through modalflow's ModalExecutor.

Three tasks pass XComs along (`where` -> `shout` -> `report`): each records the container it
ran in (Modal sets MODAL_TASK_ID there) in a modal.Dict, and `report` records the whole chain
it was handed; `boom` fails, to show a failed task as failed. See README.md: `modalflow sync`
puts this directory on the volume the containers read DAGs from.
"""

import os
from datetime import datetime

from airflow.sdk import dag, task

RESULTS_DICT = "modalflow-example-results"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def remote_hello() -> None:
    def ran_in(task_name: str) -> str:
        import modal  # the container's: the worker's Python, which has Airflow and modal installed

        container = os.environ.get("MODAL_TASK_ID", "not in a container")
        modal.Dict.from_name(RESULTS_DICT, create_if_missing=True)[task_name] = container
        print("ran in", container)
        return container

    @task
    def where() -> str:
        return ran_in("where")

    @task
    def shout(first: str) -> str:  # its argument is `where`'s XCom
        return f"{first} -> {ran_in('shout')}"

    @task
    def report(chain: str) -> None:
        import modal

        modal.Dict.from_name(RESULTS_DICT, create_if_missing=True)["chain"] = f"{chain} -> {ran_in('report')}"

    @task
    def boom() -> None:
        raise RuntimeError("this task fails on purpose")

    report(shout(where()))
    boom()


remote_hello()
