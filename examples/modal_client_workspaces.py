"""One Modal program deployed by two teams, each in a workspace of its own, with the real
`modal` client and a token pair of that workspace.

    nano-modal workspace create team-a                    # as the server's operator
    nano-modal token create --modal --workspace team-a    # prints MODAL_SERVER_URL/TOKEN_ID/SECRET
    eval "$(nano-modal token create --modal --workspace team-a)"
    TEAM=A modal deploy examples/modal_client_workspaces.py

The same with team-b and TEAM=B: two apps called "nano-compat-ws", each team's
`modal.Function.from_name("nano-compat-ws", "who")` reaches its own (and its `hello` web
endpoint its own address), and neither sees the
other's apps, dicts, secrets or volumes, by name or by id (docs/MODAL_CLIENT.md, "Pairs of a
workspace"; tests/modal_compat/test_real_client_workspaces.py deploys this file).
"""

import os

import modal

TEAM = os.environ.get("TEAM", "A")  # at deploy time: the deployer's; in a container: the secret's

app = modal.App("nano-compat-ws")
# An anonymous secret is made in the deployer's workspace, as every object its pair makes.
team = modal.Secret.from_dict({"TEAM": TEAM})


@app.function(secrets=[team])
def who() -> str:
    return f"from {os.environ['TEAM']}"


@app.function(secrets=[team])
@modal.fastapi_endpoint()
def hello() -> dict[str, str]:
    # Its address names the workspace (`<workspace>--nano-compat-ws-hello`): the two teams'
    # endpoints of the same app and function names never share one.
    return {"team": os.environ["TEAM"]}


if TEAM == "A":

    @app.function(secrets=[team])
    def only_in_a() -> str:
        return "A's own"
