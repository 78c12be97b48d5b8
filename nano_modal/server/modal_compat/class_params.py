"""A Modal class's parameters in a web request's query string.

A method of a parameterized `@app.cls()` served as a web endpoint takes the class's
`modal.parameter()`s from the URL's query (`.../Executor.execute_block/?workspace_id=acme`),
as on Modal: each set of values is an instance of the class with its own containers, the same
one `Cls.from_name(...)(workspace_id="acme")` binds (the same bytes: Modal's proto
`ClassParameterSet` in the schema's order, defaults applied, as the client serializes them).
And the other way: a bound instance's `get_web_url()` is the endpoint's URL with its
parameters as that query. The server only builds and parses protobuf messages here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..control import Invalid

_TRUE = ("1", "true", "yes", "on")  # what a query's value may say for a bool parameter
_FALSE = ("0", "false", "no", "off")


def _base_type(pb: Any, spec: Any) -> int:
    """The parameter's type (`full_type` since modal 1.0; `type` before)."""
    if spec.HasField("full_type") and spec.full_type.base_type:
        return int(spec.full_type.base_type)
    return int(spec.type)


def _value(pb: Any, spec: Any, text: str) -> Any:
    """The parameter `spec` with the query's `text` as its value, typed as the class declares it."""
    kind = _base_type(pb, spec)
    if kind == pb.PARAM_TYPE_STRING:
        return pb.ClassParameterValue(name=spec.name, type=kind, string_value=text)
    if kind == pb.PARAM_TYPE_INT:
        try:
            return pb.ClassParameterValue(name=spec.name, type=kind, int_value=int(text))
        except ValueError:
            raise Invalid(f"the class parameter {spec.name!r} is an int, not {text!r}") from None
    if kind == pb.PARAM_TYPE_BOOL:
        if text.lower() not in _TRUE + _FALSE:
            raise Invalid(f"the class parameter {spec.name!r} is a bool (true or false), not {text!r}")
        return pb.ClassParameterValue(name=spec.name, type=kind, bool_value=text.lower() in _TRUE)
    raise Invalid(f"the class parameter {spec.name!r} cannot be given in a URL's query (only str, int and bool)")


def _default(pb: Any, spec: Any) -> Any:
    field = spec.WhichOneof("default_oneof")  # e.g. "string_default"
    if field is None:
        raise Invalid(f"the class parameter {spec.name!r} declares a default but has none")
    value = pb.ClassParameterValue(name=spec.name, type=_base_type(pb, spec))
    setattr(value, field.replace("_default", "_value"), getattr(spec, field))
    return value


def query_parameters(pb: Any, function: Any, query: Mapping[str, str]) -> bytes | None:
    """The serialized parameters a request to a method of `function` (Modal's `Function` of a
    class's service function) names in its query; None when the class has no parameters
    (then every request goes to the class itself). Raises Invalid naming a missing or
    malformed one. Other query keys are the endpoint's own and are left to it."""
    info = function.class_parameter_info
    if info.format != pb.ClassParameterInfo.PARAM_SERIALIZATION_FORMAT_PROTO or not info.schema:
        return None
    values = []
    for spec in info.schema:
        if spec.name in query:
            values.append(_value(pb, spec, query[spec.name]))
        elif spec.has_default:
            values.append(_default(pb, spec))
        else:
            raise Invalid(f"missing the class parameter {spec.name!r}: add ?{spec.name}=... to the URL")
    return bytes(pb.ClassParameterSet(parameters=values).SerializeToString(deterministic=True))


def parameter_query(pb: Any, serialized_params: bytes) -> str:
    """A bound instance's parameters as a URL query ("" if none, or not in Modal's proto format)."""
    try:
        parameters = pb.ClassParameterSet.FromString(serialized_params).parameters
    except Exception:  # pickled parameters (Modal's legacy format): no query to make
        return ""
    pairs = []
    for parameter in parameters:
        field = parameter.WhichOneof("value_oneof")
        value = getattr(parameter, field) if field else ""
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, bytes):  # not expressible in a query: get_web_url() stays the plain URL
            return ""
        pairs.append((parameter.name, str(value)))
    return urlencode(pairs)
