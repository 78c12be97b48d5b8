"""`Secret`: environment variables for functions, stored encrypted on the server.

```python
@app.function(secrets=[nano_modal.Secret.from_name("db-credentials")])
def query():
    password = os.environ["DB_PASSWORD"]
```

Values are never printed: not by repr, not in errors, not by the CLI. A secret made with
`from_dict`, `from_dotenv` or `from_local_environ` is sent to the server when its app
starts (encrypted there like any other) and is only ever referred to by id afterwards.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ._object import ObjectManager, _Object, check_object_name, environment
from ._utils.aio import twin
from .client import Client
from .exception import AlreadyExistsError, InvalidError
from .proto import api_pb2


def _check_env(env: Mapping[str, str | None], where: str) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise InvalidError(f"{where}: {key!r} is not a valid environment variable name")
        if value is None:
            continue  # Modal's rule: None means "leave this variable out"
        if not isinstance(value, str):
            raise InvalidError(f"{where}: the value of {key} must be a string, not {type(value).__name__}")
        clean[key] = value
    return clean


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines; `export`, comments, blank lines and single or double quotes as in a shell."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidError(f".env line {number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()  # trailing comment
        env[key] = value
    return env


class Secret(_Object):
    _kind: ClassVar[api_pb2.ObjectKind] = api_pb2.OBJECT_KIND_SECRET
    _type_name: ClassVar[str] = "Secret"
    objects: ClassVar[SecretManager]

    def __init__(
        self,
        name: str | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        object_id: str | None = None,
        env: dict[str, str] | None = None,
        required_keys: list[str] | None = None,
    ) -> None:
        super().__init__(name, environment_name, create_if_missing, object_id)
        self.__env = env  # name-mangled: values are held only until they reach the server
        self._required_keys = list(required_keys or [])

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, required_keys: list[str] | None = None) -> Secret:
        """A secret created with `nano-modal secret create` (or `Secret.objects.create`)."""
        check_object_name(name, "Secret")
        return Secret(name, environment_name, required_keys=required_keys)

    @staticmethod
    def from_dict(env_dict: Mapping[str, str | None] | None = None) -> Secret:
        """A secret defined in code (values of None are left out)."""
        return Secret(env=_check_env(env_dict or {}, "Secret.from_dict"))

    @staticmethod
    def from_local_environ(env_keys: list[str]) -> Secret:
        """A secret holding these variables of this process's environment."""
        missing = [k for k in env_keys if k not in os.environ]
        if missing:
            raise InvalidError(f"Secret.from_local_environ: not set in this environment: {', '.join(missing)}")
        return Secret(env={k: os.environ[k] for k in env_keys})

    @staticmethod
    def from_dotenv(path: str | Path | None = None, *, filename: str = ".env") -> Secret:
        """A secret from a .env file: in `path` (a directory, or a file's directory, e.g. `__file__`),
        else the nearest `filename` in the current directory or one of its parents."""
        if path is not None:
            base = Path(path)
            candidate = (base.parent if base.is_file() else base) / filename
        else:
            here = Path.cwd()
            candidate = next((d / filename for d in (here, *here.parents) if (d / filename).is_file()), here / filename)
        if not candidate.is_file():
            raise InvalidError(f"Secret.from_dotenv: no {filename} file at {candidate}")
        return Secret(env=_check_env(parse_dotenv(candidate.read_text()), str(candidate)))

    @staticmethod
    def delete(name: str, *, environment_name: str | None = None, allow_missing: bool = False) -> None:
        """Delete a named secret (same as `Secret.objects.delete`)."""
        Secret.objects.delete(name, environment_name=environment_name, allow_missing=allow_missing)

    @twin
    async def update(self, env_dict: Mapping[str, str]) -> None:
        """Add variables to this named secret, or change them (like dict.update); the others stay.
        Containers started afterwards see the new values."""
        if not self._name:
            raise InvalidError("Secret.update: only a named secret (Secret.from_name) can be updated")
        env = _check_env(env_dict, f"secret {self._name!r}")
        client = await Client.get()
        request = api_pb2.SecretCreateRequest(
            name=self._name, environment_name=environment(self._environment_name), env=env, merge=True
        )
        await client.stub.SecretCreate(request)

    # ------------------------------------------------------------------ hydration

    async def _load(self, client: Client) -> str:
        if self.__env is not None:
            response = await client.stub.SecretCreate(
                api_pb2.SecretCreateRequest(env=self.__env, environment_name=environment(self._environment_name))
            )
            self.__env = None  # the server holds it now
            return str(response.secret_id)
        if not self._name:
            return await super()._load(client)
        request = api_pb2.ObjectGetOrCreateRequest(
            kind=self._kind,
            name=self._name,
            environment_name=environment(self._environment_name),
            required_keys=self._required_keys,
        )
        return str((await client.stub.ObjectGetOrCreate(request)).object_id)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.__env is not None and self._object_id is None:
            # Pickles end up in the state store (function arguments, by-value functions): never the values.
            raise pickle.PicklingError(
                "a Secret made in code cannot be pickled before it reaches the server: "
                "give it to @app.function(secrets=[...]) or call .hydrate() first"
            )
        return super().__reduce__()


class SecretManager(ObjectManager[Secret]):
    @twin
    async def create(
        self,
        name: str,
        env_dict: Mapping[str, str],
        *,
        environment_name: str | None = None,
        allow_existing: bool = False,
        overwrite: bool = False,
    ) -> None:
        """Create a named secret. If it exists: AlreadyExistsError, or nothing with allow_existing,
        or its variables replaced with overwrite (`nano-modal secret create --force`)."""
        check_object_name(name, "Secret")
        env = _check_env(env_dict, f"secret {name!r}")
        client = await Client.get()
        request = api_pb2.SecretCreateRequest(
            name=name, environment_name=environment(environment_name), env=env, overwrite=overwrite
        )
        try:
            await client.stub.SecretCreate(request)
        except AlreadyExistsError:
            if not allow_existing:
                raise AlreadyExistsError(f"Secret {name!r} already exists (use overwrite=True to replace it)") from None


Secret.objects = SecretManager(Secret)


def validate_secrets(secrets: Iterable[Any], function_name: str) -> None:
    for secret in secrets:
        if not isinstance(secret, Secret):
            raise InvalidError(
                f"{function_name}: secrets must be nano_modal.Secret objects, not {type(secret).__name__}"
            )


async def resolve_secrets(secrets: Iterable[Any]) -> list[str]:
    """The secret ids a FunctionDefinition carries (sending in-code secrets to the server)."""
    ids = []
    for secret in secrets:
        _, secret_id = await secret._resolve()
        ids.append(secret_id)
    return ids
