"""Functions the Dict, Queue, Secret and Volume tests run in containers.

Importable, so its functions ship by module. Objects reach the functions three ways: as
arguments (pickled by id), as module globals looked up by name, and as mounts/secrets
declared on the decorator. Names and the mount path come from the environment of the
process that starts the app (the test), so each test session uses its own.
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path
from typing import Any

import nano_modal

app = nano_modal.App("objects-tests")

# The client's environment does not reach containers: functions get the mount path as an argument.
MOUNT = os.environ.get("NM_TEST_VOLUME_MOUNT", "/tmp/nano-modal-test-volume")
VOLUME_NAME = os.environ.get("NM_TEST_VOLUME", "objects-test-volume")
SECRET_NAME = os.environ.get("NM_TEST_SECRET", "objects-test-secret")
GLOBAL_DICT_NAME = "objects-test-global-dict"

vol = nano_modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)
named_secret = nano_modal.Secret.from_name(SECRET_NAME)
inline_secret = nano_modal.Secret.from_dict({"INLINE_TOKEN": "inline-value", "SHARED": "from-inline"})
global_dict = nano_modal.Dict.from_name(GLOBAL_DICT_NAME, create_if_missing=True)  # a captured global


# ---------------------------------------------------------------- dicts


@app.function()
def dict_roundtrip(d: nano_modal.Dict, key: Any, value: Any) -> dict[str, Any]:
    """Write, read back and report what a container sees of a Dict passed as an argument."""
    d[key] = value
    return {"read": d[key], "len": d.len(), "contains": key in d, "missing": d.get("no-such-key", "default")}


@app.function()
def read_global(key: str) -> Any:
    return global_dict.get(key)


@app.function(max_containers=4)
def dict_contend(d: nano_modal.Dict, worker: int, n_claims: int, updates: int) -> dict[str, Any]:
    """Race the other workers to claim keys with put(skip_if_exists=True), and bump a counter of
    its own `updates` times."""
    rng = random.Random(worker)
    claims = list(range(n_claims))
    rng.shuffle(claims)
    won = [k for k in claims if d.put(f"claim-{k}", worker, skip_if_exists=True)]
    counter = f"counter-{worker}"
    for _ in range(updates):
        d[counter] = d.get(counter, 0) + 1
    return {"won": won, "container": os.environ.get("NANO_MODAL_CONTAINER_ID")}


@app.function(max_containers=4)
def dict_pop_tokens(d: nano_modal.Dict, worker: int, n_tokens: int) -> list[int]:
    """Pop every token it can; a token another worker took first is a KeyError, not a duplicate."""
    rng = random.Random(worker)
    order = list(range(n_tokens))
    rng.shuffle(order)
    got = []
    for t in order:
        with contextlib.suppress(KeyError):  # another worker took it first
            got.append(d.pop(f"token-{t}"))
    return got


# ---------------------------------------------------------------- secrets


@app.function(secrets=[named_secret, inline_secret])
def read_env(names: list[str]) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in names}


# ---------------------------------------------------------------- volumes


@app.function(volumes={MOUNT: vol})
def volume_write(mount: str, rel: str, content: str, commit: bool = True) -> list[str]:
    path = Path(mount) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    if commit:
        vol.commit()
    return sorted(str(p.relative_to(mount)) for p in Path(mount).rglob("*") if p.is_file())


@app.function(volumes={MOUNT: vol})
def volume_read(mount: str, rel: str, reload: bool = True) -> str | None:
    if reload:
        vol.reload()
    path = Path(mount) / rel
    return path.read_text() if path.exists() else None


@app.function(volumes={MOUNT: vol})
def volume_delete_local(mount: str, rel: str) -> None:
    (Path(mount) / rel).unlink()
    vol.commit()


@app.function(volumes={MOUNT: vol}, scaledown_window=2)
def volume_write_uncommitted(mount: str, rel: str, content: str) -> None:
    """No commit: the container commits when it exits (after 2 s idle)."""
    path = Path(mount) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


@app.function(volumes={MOUNT + "-ro": vol.read_only()})
def volume_read_only_attempts(mount: str, rel: str) -> dict[str, str]:
    """Every way of writing to a read-only mount must fail with a clear error."""
    out: dict[str, str] = {"content": (Path(mount + "-ro") / rel).read_text()}
    for name, attempt in (
        ("commit", lambda: vol.read_only().commit()),
        ("remove_file", lambda: vol.remove_file(rel)),
        ("batch_upload", lambda: vol.read_only().batch_upload()),
    ):
        try:
            attempt()
            out[name] = "no error"
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out

