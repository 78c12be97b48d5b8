"""A Modal program run as a plain script, the way Modal's docs run scripts:

    python examples/script_app.py

The script's file is imported again in each container, as a module: its module-level code
runs there too (so an import inside `with image.imports():` happens where the package is),
its functions can call each other, and the `if __name__ == "__main__":` block runs only here.
"""

import os

import nano_modal as modal

app = modal.App("script-app")
image = modal.Image.debian_slim()

with image.imports():
    # Runs wherever this file is imported: here, and in every container.
    import json

# Module-level code, evaluated in each process that imports the file.
WHERE = "in a container" if os.environ.get("MODAL_IS_REMOTE") == "1" else "locally"


@app.function()
def report(n: int) -> str:
    # A function calls a sibling function of its app (defined further down), from its container.
    total = sum(square.map(range(n)))
    return json.dumps({"sum_of_squares": total, "module_code_ran": WHERE})


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def check(value: int) -> int | ValueError:
    # Returning an exception object is a value like any other: the caller gets it back.
    return value if value >= 0 else ValueError(f"{value} is negative")


@app.function()
def which_modal() -> str:
    # Libraries written for Modal do `import modal`: in a container, that is nano-modal
    # (and so it is for the processes the function starts).
    import subprocess
    import sys

    import modal as imported

    child = subprocess.run(
        [sys.executable, "-c", "import modal; print(modal.__name__)"], capture_output=True, text=True
    )
    return f"{imported.__name__}, in a child process {child.stdout.strip()}"


if __name__ == "__main__":
    with modal.enable_output(), app.run():
        print(report.remote(4))
        outcome = check.remote(-1)
        print(f"returned, not raised: {type(outcome).__name__}({outcome})")
        print(f"import modal in a container: {which_modal.remote()}")
        try:
            modal.Function.from_name("no-such-app", "f").remote()
        except modal.Error as exc:  # every nano-modal error derives from modal.Error
            print(f"caught modal.Error: {type(exc).__name__}")
