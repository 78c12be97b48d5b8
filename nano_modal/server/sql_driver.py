"""The store's hot writes as statements built once and run straight on the DBAPI connection.

A `.map` writes every input twice (accepted, finished) and every output once; a warm `.remote()`
writes a call with its input and an output. Through SQLAlchemy's execution each of those rows
pays for parameter processing (`construct_params`, bind processors, the compiled cache lookup):
17 % of the server's time in a map, more than SQLite's own insert (docs/BENCHMARKS.md, "`.map`
at 30k/s"). Here each statement is compiled once per dialect, rows become positional tuples
through one `attrgetter` (C code, no per-row dict), and the driver runs them:

- SQLite (`sqlite3`): `executemany`, in-process, so one statement per row costs ~1-4 µs;
- PostgreSQL (psycopg): one statement per batch however many rows it has, its rows sent as one
  array per column (`unnest`), so the server parses and plans it once per batch and the SQL text
  never changes with the batch's size; finished inputs are one `= ANY(array)` update.

Only these few statements live here; everything else stays on SQLAlchemy Core (sql_store.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler

from .sql_schema import calls, inputs, outputs
from .store import CallRow, InputRow, OutputRow

# The positional parameter order of each row type: its dataclass fields, as the columns are named.
_CALL_FIELDS = tuple(f.name for f in fields(CallRow))
_INPUT_FIELDS = tuple(f.name for f in fields(InputRow))
_OUTPUT_FIELDS = tuple(f.name for f in fields(OutputRow))

# PostgreSQL array type of each column, for `unnest` (its rows arrive as one array per column).
_PG_ARRAY_TYPES = {
    sa.String: "text[]",
    sa.Text: "text[]",
    sa.LargeBinary: "bytea[]",
    sa.BigInteger: "bigint[]",
    sa.Integer: "integer[]",
    sa.Boolean: "boolean[]",
    sa.Float: "double precision[]",
}


def _pg_array_type(column: sa.Column[Any]) -> str:
    for kind, name in _PG_ARRAY_TYPES.items():  # BigInteger before Integer: it is a subclass
        if isinstance(column.type, kind):
            return name
    raise TypeError(f"no PostgreSQL array type for column {column}")


Params = Sequence[Any]
Statement = tuple[str, list[Params]]  # SQL and the parameters it runs for (one execution each)


@dataclass(frozen=True)
class DriverWrites:
    """The hot statements of one dialect; each method returns what one transaction runs."""

    insert_call: str
    insert_inputs: str
    count_inputs: str
    insert_outputs: str
    finish_inputs: str
    # A list of rows -> the parameter lists of their statement (one entry per execution).
    _call_params: Callable[[CallRow], Params]
    _input_params: Callable[[list[InputRow]], list[Params]]
    _output_params: Callable[[list[OutputRow]], list[Params]]
    _finished_params: Callable[[list[str]], list[Params]]

    def create_call(self, call: CallRow, rows: list[InputRow]) -> list[Statement]:
        return [(self.insert_call, [self._call_params(call)]), (self.insert_inputs, self._input_params(rows))]

    def add_inputs(self, call_id: str, rows: list[InputRow], num_inputs: int, inputs_complete: bool) -> list[Statement]:
        return [
            (self.insert_inputs, self._input_params(rows)),
            (self.count_inputs, [(num_inputs, inputs_complete, call_id)]),
        ]

    def add_outputs(self, rows: list[OutputRow]) -> list[Statement]:
        finished = [r.input_id for r in rows if r.final]
        return [(self.insert_outputs, self._output_params(rows)), (self.finish_inputs, self._finished_params(finished))]


def _positional(statement: sa.ClauseElement, dialect: sa.Dialect) -> tuple[str, tuple[str, ...]]:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None, "a positional paramstyle"
    return str(compiled), tuple(compiled.positiontup)


def _update_count() -> sa.Update:
    return (
        calls.update()
        .where(calls.c.call_id == sa.bindparam("b_call_id"))
        .values(num_inputs=sa.bindparam("b_num_inputs"), inputs_complete=sa.bindparam("b_inputs_complete"))
    )


def sqlite_writes() -> DriverWrites:
    dialect = sqlite.dialect(paramstyle="qmark")
    insert_call, call_order = _positional(calls.insert().values({n: sa.bindparam(n) for n in _CALL_FIELDS}), dialect)
    input_values: dict[str, Any] = {n: sa.bindparam(n) for n in _INPUT_FIELDS}
    insert_inputs, input_order = _positional(inputs.insert().values(**input_values, finished=sa.false()), dialect)
    out_values: dict[str, Any] = {n: sa.bindparam(n) for n in _OUTPUT_FIELDS}
    insert_outputs, output_order = _positional(outputs.insert().values(out_values), dialect)
    count_inputs, count_order = _positional(_update_count(), dialect)
    assert count_order == ("b_num_inputs", "b_inputs_complete", "b_call_id"), count_order
    finish = inputs.update().where(inputs.c.input_id == sa.bindparam("b_input_id"))
    empty_blob: sa.ColumnClause[Any] = sa.literal_column("X''")  # the payload of a finished input is not needed again
    finish_inputs, finish_order = _positional(finish.values(finished=sa.true(), args=empty_blob), dialect)
    assert finish_order == ("b_input_id",), finish_order
    input_tuple, output_tuple = attrgetter(*input_order), attrgetter(*output_order)
    return DriverWrites(
        insert_call,
        insert_inputs,
        count_inputs,
        insert_outputs,
        finish_inputs,
        _call_params=attrgetter(*call_order),
        _input_params=lambda rows: list(map(input_tuple, rows)),
        _output_params=lambda rows: list(map(output_tuple, rows)),
        _finished_params=lambda ids: [(i,) for i in ids],
    )


def _pg_unnest_insert(table: sa.Table, names: tuple[str, ...], constants: dict[str, str] | None = None) -> str:
    """INSERT of a batch sent as one array per column (`names`, in this order): one statement,
    the same SQL text for any number of rows. `constants`: other columns' SQL values, alike for all."""
    arrays = ", ".join(f"%s::{_pg_array_type(table.c[n])}" for n in names)
    constants = constants or {}
    columns = ", ".join(f'"{n}"' for n in (*names, *constants))
    values = "".join(f", {value}" for value in constants.values())
    return f"INSERT INTO {table.name} ({columns}) SELECT *{values} FROM unnest({arrays})"


def _columns_of(rows: list[Any], getter: Callable[[Any], tuple[Any, ...]]) -> list[Params]:
    """Rows -> one execution whose parameters are the rows' columns, a list each (none: no rows)."""
    return [[list(column) for column in zip(*map(getter, rows), strict=True)]] if rows else []


def postgres_writes() -> DriverWrites:
    dialect = postgresql.psycopg.dialect(paramstyle="format")  # type: ignore[no-untyped-call]
    insert_call, call_order = _positional(calls.insert().values({n: sa.bindparam(n) for n in _CALL_FIELDS}), dialect)
    count_inputs, count_order = _positional(_update_count(), dialect)
    assert count_order == ("b_num_inputs", "b_inputs_complete", "b_call_id"), count_order
    input_tuple, output_tuple = attrgetter(*_INPUT_FIELDS), attrgetter(*_OUTPUT_FIELDS)
    return DriverWrites(
        insert_call,
        _pg_unnest_insert(inputs, _INPUT_FIELDS, {"finished": "false"}),
        count_inputs,
        _pg_unnest_insert(outputs, _OUTPUT_FIELDS),
        "UPDATE inputs SET finished = true, args = '' WHERE input_id = ANY(%s::text[])",
        _call_params=attrgetter(*call_order),
        _input_params=lambda rows: _columns_of(rows, input_tuple),
        _output_params=lambda rows: _columns_of(rows, output_tuple),
        _finished_params=lambda ids: [(ids,)] if ids else [],
    )
