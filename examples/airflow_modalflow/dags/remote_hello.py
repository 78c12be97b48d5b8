"""An Airflow DAG whose tasks run in nano-modal containers through modalflow's ModalExecutor.

`where` records the container it ran in (Modal sets MODAL_TASK_ID there) in a modal.Dict and
returns it as its XCom; `boom` fails, to show a failed task as failed. See README.md:
`modalflow sync` puts this directory on the volume the containers read DAGs from.
"""

import os
from datetime import datetime

from airflow.sdk import dag, task

RESULTS_DICT = "modalflow-example-results"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def remote_hello() -> None:
    @task
    def where() -> str:
        import modal  # the container's: the worker's Python, which has Airflow and modal installed

        container = os.environ.get("MODAL_TASK_ID", "not in a container")
        modal.Dict.from_name(RESULTS_DICT, create_if_missing=True)["where"] = container
        print("ran in", container)
        return container

    @task
    def boom() -> None:
        raise RuntimeError("this task fails on purpose")

    where()
    boom()


remote_hello()
