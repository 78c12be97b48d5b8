"""One app name, deployed in two workspaces: for tests/security/test_workspace_web.py. Each
deployment answers with the owner its deployer named (NM_TEST_OWNER, read at deploy time)."""

from __future__ import annotations

import os

import nano_modal

app = nano_modal.App("storefront")
owner = nano_modal.Secret.from_dict({"OWNER": os.environ.get("NM_TEST_OWNER", "")})


@app.function(secrets=[owner])
@nano_modal.fastapi_endpoint()
def whoami() -> str:
    return os.environ["OWNER"]


@app.function(secrets=[owner])
@nano_modal.fastapi_endpoint(requires_proxy_auth=True)
def private() -> str:
    return f"private of {os.environ['OWNER']}"
