"""Print a package's public API surface as JSON: run by the Python that has the package installed.

Standard library only, because it runs under two interpreters: the scratch venv holding the real
`modal` client and the one holding nano_modal. The surface is a flat list of keys:

    Name                 a name in the package's __all__
    Class.member         a public method or property of a public class
    callable(param)      a parameter a callable accepts (Class.method(param) for methods)
    module.Name          a public name of a submodule listed in __all__ (or named by --submodule)

Usage: python dump_surface.py PACKAGE [--submodule NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import types
import typing
from typing import Any

# Parameters a callable receives implicitly, never named by a caller.
IMPLICIT_PARAMETERS = frozenset({"self", "cls"})
NAMED_KINDS = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)


def parameter_names(fn: Any) -> list[str]:
    """The named parameters a caller can pass (not *args/**kwargs: those name nothing, except
    `**kwargs: Unpack[SomeTypedDict]` (PEP 692), which names the TypedDict's keys)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    names = [
        p.name for p in signature.parameters.values() if p.kind in NAMED_KINDS and p.name not in IMPLICIT_PARAMETERS
    ]
    for param in signature.parameters.values():
        if param.kind == inspect.Parameter.VAR_KEYWORD:
            names += typed_kwargs(fn, param.name)
    return names


def typed_kwargs(fn: Any, name: str) -> list[str]:
    try:
        hints = typing.get_type_hints(inspect.unwrap(fn), include_extras=True)
    except Exception:
        return []
    hint = hints.get(name)
    if typing.get_origin(hint) is not typing.Unpack:
        return []
    (typed_dict,) = typing.get_args(hint)
    return list(getattr(typed_dict, "__annotations__", {}))


def constructor_parameters(cls: type) -> list[str]:
    init = cls.__dict__.get("__init__")
    for klass in cls.__mro__:  # the nearest __init__ that is not object's
        if "__init__" in klass.__dict__ and klass is not object:
            init = klass.__dict__["__init__"]
            break
    return parameter_names(init) if init is not None else []


def callable_keys(owner: Any, owner_name: str) -> list[str]:
    """Keys for an object's public methods: `X.objects.list(max_objects)` for a manager object."""
    keys: list[str] = []
    for name in dir(owner):
        value = None if name.startswith("_") else getattr(owner, name, None)
        if callable(value):
            keys.append(f"{owner_name}.{name}")
            keys += [f"{owner_name}.{name}({param})" for param in parameter_names(value)]
    return keys


def annotated_attributes(cls: type) -> list[str]:
    """Public instance attributes a class declares (`object_id: str | None`): API as much as a property."""
    names: list[str] = []
    for klass in cls.__mro__:
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_") and "ClassVar" not in str(annotation):
                names.append(name)
    return names


def member_keys(cls: type, class_name: str) -> list[str]:
    keys: list[str] = [f"{class_name}.{name}" for name in annotated_attributes(cls)]
    for name in dir(cls):
        if name.startswith("_"):
            continue
        try:
            static = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        key = f"{class_name}.{name}"
        keys.append(key)
        if isinstance(static, property):
            continue
        try:
            value = getattr(cls, name)
        except Exception:
            continue
        if callable(value) and not isinstance(value, type):
            keys += [f"{key}({param})" for param in parameter_names(value)]
        elif type(value).__module__.split(".")[0] == cls.__module__.split(".")[0] and not isinstance(value, type):
            keys += callable_keys(value, key)  # a manager object such as Dict.objects
    return keys


def is_exception_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def surface(package: str, extra_submodules: list[str]) -> list[str]:
    module = importlib.import_module(package)
    keys: list[str] = []
    names = list(getattr(module, "__all__", []))
    submodules: list[tuple[str, types.ModuleType]] = []
    for name in names:
        try:
            value = getattr(module, name)
        except AttributeError:
            continue
        keys.append(name)
        if isinstance(value, types.ModuleType):
            submodules.append((name, value))
        elif is_exception_class(value):
            continue  # an exception's members are BaseException's
        elif isinstance(value, type):
            keys += [f"{name}({param})" for param in constructor_parameters(value)]
            keys += member_keys(value, name)
        elif callable(value):
            keys += [f"{name}({param})" for param in parameter_names(value)]
    for name in extra_submodules:
        if name not in names:
            submodules.append((name, importlib.import_module(f"{package}.{name}")))
    for name, submodule in submodules:
        public = getattr(submodule, "__all__", None) or [n for n in vars(submodule) if not n.startswith("_")]
        for member in public:
            value = getattr(submodule, member, None)
            # Names a submodule merely imported (typing helpers, other modules) are not its API.
            if isinstance(value, types.ModuleType) or getattr(value, "__module__", package).split(".")[0] not in (
                package,
                "synchronicity",
            ):
                continue
            keys.append(f"{name}.{member}")
    return sorted(set(keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package")
    parser.add_argument("--submodule", action="append", default=[], help="also list this submodule's public names")
    args = parser.parse_args()
    json.dump(surface(args.package, args.submodule), sys.stdout, indent=0)


if __name__ == "__main__":
    main()
