"""Sandboxes from a plain script, as Modal's guide starts them:

    python examples/sandbox_script.py

No `nano-modal run` and no `with app.run()`: `App.lookup(name, create_if_missing=True)`
finds the deployed app of that name, or deploys an empty one, and sandboxes belong to it.
"""

import nano_modal as modal
from nano_modal.exception import NotFoundError

app = modal.App.lookup("sandbox-script", create_if_missing=True)

sb = modal.Sandbox.create(app=app)
p = sb.exec("python3", "-c", "print('hello')", timeout=3)
print(p.stdout.read().strip())

p = sb.exec("bash", "-c", "for i in 1 2 3; do echo line $i; done", timeout=5)
for line in p.stdout:
    print(line, end="")  # lines keep their newline
sb.terminate()

print("same app when looked up again:", modal.App.lookup("sandbox-script").app_id == app.app_id)
try:
    modal.App.lookup("no-such-app")
except NotFoundError as exc:
    print("missing:", exc)
