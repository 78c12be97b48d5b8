"""Run user-written Python blocks per workspace, as the custom-blocks system in the user's
plan does: one container pool per workspace (a class parameter), no network, no access to
the platform's API (`restrict_modal_access=True`), a timeout per block, JSON in and out.

Because the blocks' code is not trusted, neither is what comes back: results of a function
with `restrict_modal_access=True` are decoded as plain data only (no class or function named
in them is imported or called here), and an exception a block raises arrives as
`nano_modal.exception.RemoteError` with its type name, message and traceback as text. Without
that option, results are unpickled as they come: the default path trusts the container.

    nano-modal run examples/untrusted_code_blocks.py
"""

import json

import nano_modal as modal

app = modal.App("custom-python-blocks")


@app.cls(restrict_modal_access=True, block_network=True, timeout=20, max_containers=4)
class BlockExecutor:
    workspace_id: str = modal.parameter()

    @modal.enter()
    def start(self) -> None:
        self.runs = 0

    @modal.method()
    def run_block(self, code: str, inputs_json: str) -> str:
        self.runs += 1
        namespace: dict[str, object] = {}
        exec(compile(code, f"<block of {self.workspace_id}>", "exec"), namespace)
        result = namespace["run"](**json.loads(inputs_json))  # type: ignore[operator]
        return json.dumps({"workspace": self.workspace_id, "result": result, "runs_here": self.runs})


MULTIPLY = "def run(a, b):\n    return a * b\n"
SNOOP = "def run():\n    import nano_modal\n    return nano_modal.Dict.from_name('secrets-of-others').len()\n"
# An exception whose unpickling runs code: here, a print on the caller's machine (outside a
# container; the container itself unpickles it once too, which is its own business).
HOSTILE = (
    "CALLER_ONLY = \"import os\\nif os.environ.get('NANO_MODAL_IS_REMOTE') != '1': print('caller pwned')\"\n"
    "class Boom(Exception):\n"
    "    def __reduce__(self):\n"
    "        return (exec, (CALLER_ONLY,))\n"
    "def run():\n    raise Boom('caught')\n"
)


@app.local_entrypoint()
def main() -> None:
    acme = BlockExecutor(workspace_id="acme")
    print(acme.run_block.remote(MULTIPLY, json.dumps({"a": 6, "b": 7})))
    print(BlockExecutor(workspace_id="globex").run_block.remote(MULTIPLY, json.dumps({"a": 2, "b": 3})))
    try:
        acme.run_block.remote(SNOOP, "{}")
    except modal.exception.RemoteError as exc:  # the block's AuthError, as text
        print("refused:", exc.message)
    try:
        acme.run_block.remote(HOSTILE, "{}")
    except modal.exception.RemoteError as exc:
        print(f"the block raised {exc.type_name}: {exc.message} (not unpickled here)")
