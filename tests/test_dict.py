"""Dict: the mapping API from the client and from containers, atomicity under contention, bad input."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest

import nano_modal
from nano_modal.exception import InvalidError, NotFoundError, SerializationError


def fresh(prefix: str = "d") -> nano_modal.Dict:
    return nano_modal.Dict.from_name(f"{prefix}-{uuid.uuid4().hex[:10]}", create_if_missing=True)


def test_mapping_api(cluster: object) -> None:
    d = fresh()
    d["a"] = 1
    d[("tuple", 2)] = {"nested": [1, 2, 3]}
    assert d["a"] == 1
    assert d[("tuple", 2)] == {"nested": [1, 2, 3]}
    assert d.get("missing") is None
    assert d.get("missing", "fallback") == "fallback"
    assert "a" in d and d.contains("a") and "missing" not in d
    assert len(d) == 2 and d.len() == 2
    assert d.put("a", 99, skip_if_exists=True) is False  # kept
    assert d["a"] == 1
    assert d.put("b", 2, skip_if_exists=True) is True
    assert d.put("a", 3) is True
    d.update({"c": 3}, e=5)
    # Insertion order, and an update keeps a key's place (as a Python dict does).
    assert list(d.keys()) == ["a", ("tuple", 2), "b", "c", "e"]
    assert list(d.values()) == [3, {"nested": [1, 2, 3]}, 2, 3, 5]
    assert dict(d.items())["c"] == 3
    assert list(d) == list(d.keys())
    assert d.pop("c") == 3
    assert d.pop("c", "gone") == "gone"
    del d["e"]
    assert "e" not in d
    d.clear()
    assert len(d) == 0 and list(d.items()) == []


def test_iteration_pages_through_large_dicts(cluster: object) -> None:
    d = fresh()
    d.update({i: i * i for i in range(2500)})  # more than one page (1,000 per page)
    keys = list(d.keys())
    assert len(keys) == 2500 and keys[:3] == [0, 1, 2]
    assert dict(d.items()) == {i: i * i for i in range(2500)}


def test_async_twins(cluster: object) -> None:
    d = fresh()

    async def main() -> list[Any]:
        await d.put.aio("x", 1)
        await d.__setitem__.aio("y", 2)
        return [await d.get.aio("x"), await d.len.aio(), [k async for k in d.keys.aio()], await d.pop.aio("y")]

    assert asyncio.run(main()) == [1, 2, ["x", "y"], 2]


def test_ephemeral(cluster: object) -> None:
    with nano_modal.Dict.ephemeral({"seed": 1}) as d:
        d["more"] = 2
        assert dict(d.items()) == {"seed": 1, "more": 2}
        object_id = d.object_id
    with pytest.raises(NotFoundError):
        nano_modal.Dict.from_id(object_id).get("seed")


def test_objects_list_and_delete(cluster: object) -> None:
    name = f"listed-{uuid.uuid4().hex[:8]}"
    nano_modal.Dict.objects.create(name)
    with pytest.raises(nano_modal.exception.AlreadyExistsError):
        nano_modal.Dict.objects.create(name)
    nano_modal.Dict.objects.create(name, allow_existing=True)
    assert name in [d.name for d in nano_modal.Dict.objects.list()]
    nano_modal.Dict.from_name(name)["k"] = "v"
    nano_modal.Dict.delete(name)
    assert name not in [d.name for d in nano_modal.Dict.objects.list()]
    with pytest.raises(NotFoundError, match=name):
        nano_modal.Dict.from_name(name).get("k")
    nano_modal.Dict.objects.delete(name, allow_missing=True)
    with pytest.raises(NotFoundError):
        nano_modal.Dict.objects.delete(name)


def test_environments_are_separate(cluster: object) -> None:
    name = f"env-{uuid.uuid4().hex[:8]}"
    nano_modal.Dict.from_name(name, create_if_missing=True)["k"] = "main"
    nano_modal.Dict.from_name(name, environment_name="staging", create_if_missing=True)["k"] = "staging"
    assert nano_modal.Dict.from_name(name)["k"] == "main"
    assert nano_modal.Dict.from_name(name, environment_name="staging")["k"] == "staging"


def test_threads_share_a_handle(cluster: object) -> None:
    """One lazily-hydrated handle used from many threads at once resolves once and loses nothing."""
    d = nano_modal.Dict.from_name(f"threads-{uuid.uuid4().hex[:8]}", create_if_missing=True)

    def work(i: int) -> None:
        for j in range(20):
            d[(i, j)] = j

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(d) == 160


# ---------------------------------------------------------------- from inside functions


def test_dict_as_argument_and_as_global(objects_app: Any) -> None:
    d = fresh()
    out = objects_app.dict_roundtrip.remote(d, "from-container", {"v": 1})
    assert out == {"read": {"v": 1}, "len": 1, "contains": True, "missing": "default"}
    assert d["from-container"] == {"v": 1}  # the client sees what the container wrote
    with nano_modal.Dict.ephemeral() as eph:
        assert objects_app.dict_roundtrip.remote(eph, 1, 2)["read"] == 2
        assert eph[1] == 2
    objects_app.global_dict["answer"] = 42
    assert objects_app.read_global.remote("answer") == 42


def test_concurrent_writers_are_atomic(objects_app: Any) -> None:
    """8 inputs over at most 4 containers race for the same keys: each key is claimed once,
    each token popped once, and every per-worker counter reaches exactly its count."""
    d = fresh("contend")
    n_claims, n_tokens, updates, workers = 50, 200, 50, 8
    results = list(
        objects_app.dict_contend.map([d] * workers, range(workers), [n_claims] * workers, [updates] * workers)
    )
    won = [k for r in results for k in r["won"]]
    assert sorted(won) == list(range(n_claims))  # no key claimed twice, none missed
    for k in range(n_claims):
        assert d[f"claim-{k}"] in range(workers)
    assert all(d[f"counter-{w}"] == updates for w in range(workers))
    assert len({r["container"] for r in results}) > 1  # really several containers

    d.update({f"token-{t}": t for t in range(n_tokens)})
    takes = objects_app.dict_pop_tokens.map([d] * workers, range(workers), [n_tokens] * workers)
    popped = [t for got in takes for t in got]
    assert sorted(popped) == list(range(n_tokens))  # each token popped exactly once
    assert not any(f"token-{t}" in d for t in range(5))


# ---------------------------------------------------------------- bad input


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")


def test_unpicklable_keys_and_values(cluster: object) -> None:
    d = fresh()
    d["keep"] = "safe"
    with pytest.raises(SerializationError, match=r"key of Dict .*cannot be pickled"):
        d[Unpicklable()] = 1
    with pytest.raises(SerializationError, match=r"value of Dict .*cannot be pickled"):
        d["k"] = threading.Lock()
    with pytest.raises(SerializationError, match="Unpicklable"):
        d.update({"ok": 1, "bad": Unpicklable()})
    assert dict(d.items()) == {"keep": "safe"}  # nothing partial was written


def test_too_large_values(cluster: object) -> None:
    d = fresh()
    d["keep"] = 1
    with pytest.raises(InvalidError, match="takes at most"):
        d["big"] = b"x" * (3 * 1024 * 1024)
    with pytest.raises(InvalidError, match="takes at most"):
        d["k" * 70_000] = 1
    assert dict(d.items()) == {"keep": 1}


def test_missing_keys(cluster: object) -> None:
    d = fresh()
    with pytest.raises(KeyError):
        d["nope"]
    with pytest.raises(KeyError):
        d.pop("nope")
    with pytest.raises(KeyError):
        del d["nope"]


def test_invalid_names_and_missing_objects(cluster: object) -> None:
    for bad in ("", "has space", "slash/name", "x" * 65, "ünïcode"):
        with pytest.raises(InvalidError, match="name"):
            nano_modal.Dict.from_name(bad)
    missing = nano_modal.Dict.from_name(f"never-created-{uuid.uuid4().hex[:8]}")
    with pytest.raises(NotFoundError, match="create_if_missing"):
        missing["k"] = 1
    with pytest.raises(InvalidError):
        nano_modal.Dict.from_name("ok", environment_name="bad env").get("k")
