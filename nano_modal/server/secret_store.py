"""Secrets: environment variables encrypted at rest with a key only the server holds.

The key (Fernet: AES-128-CBC + HMAC-SHA256) is generated at the server's first start into
`<state dir>/secret_key`, mode 0600. Values leave the server only inside the environment
of the containers whose functions ask for the secret: never in listings, logs or errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from .. import config
from ..proto import api_pb2
from .control import Invalid, NotFound
from .objects import AlreadyExists, ObjectRegistry, check_environment, check_name
from .store import Store

SECRET = api_pb2.OBJECT_KIND_SECRET
_ENV_NAME = re.compile(r"^[^=\0]+$")


def load_or_create_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    # O_EXCL + 0600 from the start: the key is never readable by others, even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


class Secrets:
    def __init__(self, store: Store, registry: ObjectRegistry, key: bytes) -> None:
        self.store = store
        self.registry = registry
        self.fernet = Fernet(key)
        self.key = key

    @staticmethod
    def _check_env(env: dict[str, str]) -> None:
        for name, value in env.items():
            if not _ENV_NAME.match(name):
                raise Invalid(f"invalid environment variable name {name!r} in a secret")
            if "\0" in value:
                raise Invalid(f"the value of {name} contains a NUL byte")  # never echo the value

    def create(
        self,
        name: str,
        environment_name: str,
        env: dict[str, str],
        overwrite: bool,
        merge: bool = False,
        workspace: str = config.DEFAULT_WORKSPACE,
    ) -> str:
        self._check_env(env)
        environment = check_environment(environment_name)
        if merge:  # Secret.update: the named secret's variables, with these added or changed
            existing = self.store.find_object(SECRET, environment, name, workspace) if name else None
            if existing is None:
                raise NotFound(f"secret {name!r} not found in environment {environment!r}")
            env, overwrite = {**self.variables(existing.object_id), **env}, True
        sealed = self.fernet.encrypt(json.dumps(env, sort_keys=True).encode())
        if not name:
            # Secret.from_dict: anonymous, and the same variables give the same id, so that
            # running an app again does not pile up copies. The id is keyed by the server's
            # secret: it says nothing about the values to anyone without the key.
            plain = json.dumps(env, sort_keys=True).encode()
            # Keyed by the workspace too: the same variables in two workspaces are two secrets
            # (the default workspace's ids are those from before workspaces existed).
            scope = b"" if workspace == config.DEFAULT_WORKSPACE else f"{workspace}\0".encode()
            digest = hmac.new(self.key, scope + plain, hashlib.sha256).hexdigest()
            secret_id = f"st-{digest[:24]}"
            if self.store.get_object(secret_id) is None:
                self.registry.create_named(SECRET, None, environment, workspace, object_id=secret_id)
                self.store.secret_set(secret_id, sealed, self.registry.get(secret_id, SECRET).created_at)
            return secret_id
        check_name(SECRET, name)
        row = self.store.find_object(SECRET, environment, name, workspace)
        if row is not None and not overwrite:
            raise AlreadyExists(f"secret {name!r} already exists in environment {environment!r} (use --force)")
        if row is None:
            row = self.registry.create_named(SECRET, name, environment, workspace)
        self.store.secret_set(row.object_id, sealed, time.time())
        return row.object_id

    def variables(self, secret_id: str) -> dict[str, str]:
        row = self.registry.get(secret_id, SECRET)
        sealed = self.store.secret_get(row.object_id)
        if sealed is None:
            return {}
        try:
            env: dict[str, str] = json.loads(self.fernet.decrypt(sealed))
        except InvalidToken:
            # Never fall back to anything: the key file was replaced or the row was tampered with.
            raise Invalid(f"secret {row.name or secret_id} cannot be decrypted with this server's key") from None
        return env

    def check_required(self, secret_id: str, required: list[str]) -> None:
        missing = sorted(set(required) - set(self.variables(secret_id)))
        if missing:
            row = self.registry.get(secret_id, SECRET)
            raise NotFound(f"secret {row.name!r} is missing required keys: {', '.join(missing)}")

    def env_for(self, secret_ids: list[str]) -> dict[str, str]:
        """The variables of several secrets, later ones winning (the order the function listed them)."""
        env: dict[str, str] = {}
        for secret_id in secret_ids:
            env.update(self.variables(secret_id))
        return env


def secret_key_path(state_dir: Path) -> Path:
    return state_dir / "secret_key"
