"""Rows written by the thousand (a reminder pass's notices, e-mails and natural keys) with their JSON and
timestamps prepared once, not once per row.

Inserted through the ORM's tables, each row's JSON column is serialised and each timestamp converted by
SQLAlchemy on the way in, row by row (binding was about half of a pass's writing under the profiler). Here
the same table is seen through columns of the same SQL types whose values arrive prepared: the JSON
already serialised as the dialect would (a notice shared by its recipients is serialised once), a
timestamp converted once for the whole batch by the column's own type. What reaches the database is the
same bytes as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, MetaData, String, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.extensions import db


class _Prepared(TypeDecorator):
    """A column's own SQL type (so PostgreSQL casts as it does for the column), its value bound as given."""

    impl = JSON  # replaced per column by load_dialect_impl
    cache_ok = True

    def __init__(self, of: TypeEngine):
        super().__init__()
        self.of = of

    def load_dialect_impl(self, dialect):
        return self.of.dialect_impl(dialect)

    def bind_processor(self, dialect):
        return None


@cache
def _table(name: str) -> Table:
    """`name` as a table whose JSON and timestamp columns take prepared values (no Python defaults: the
    caller gives every column it writes)."""
    source = db.metadata.tables[name]
    return Table(
        name,
        MetaData(),
        *[
            Column(column.name, _Prepared(column.type) if _prepared(column.type) else column.type, key=column.key)
            for column in source.columns
        ],
    )


def _cast_of(type_: TypeEngine, dialect) -> str:
    """The SQL type a column's value is cast to on the way in (an array of it for a varying column).
    Strings unbounded: a value too long for its column fails the INSERT, as it did, instead of being cut
    short by the cast."""
    return "VARCHAR" if isinstance(type_, String) else type_.compile(dialect)


def _prepared(type_: TypeEngine) -> bool:
    return isinstance(type_, JSON) or type(type_).__name__ == "UTCDateTime"


@dataclass(frozen=True)
class JSONText:
    """A JSON column's value serialised already (Writer.json_object), which `Writer.row` takes as it is."""

    text: str


class Writer:
    """Prepares the values of rows for one table's bulk INSERT: `row(values)` turns a row as the ORM's
    table takes it into the same row with its JSON and timestamps prepared."""

    def __init__(self, name: str):
        dialect = db.engine.dialect
        self.table = _table(name)
        source = db.metadata.tables[name]
        self._json = {c.key for c in source.columns if isinstance(c.type, JSON)}
        self._stamps = {c.key: c.type.bind_processor(dialect) for c in source.columns if _prepared(c.type)}
        self._stamps = {key: process for key, process in self._stamps.items() if key not in self._json}
        self._dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        self._done: dict[tuple[str, int], tuple[Any, str]] = {}  # (column, id(value)) -> (value, its text)

    def insert(self, rows: list[dict], *, skip_conflicts: bool = False, returning: tuple[str, ...] = ()) -> list:
        """Write `rows` (each made by `row`, all with the same columns) in one statement; with
        `skip_conflicts`, a row that meets a unique key is left out (ON CONFLICT DO NOTHING); the
        `returning` columns of the rows written, as tuples."""
        if not rows:
            return []
        if db.engine.dialect.name == "postgresql":
            return self._unnested(rows, skip_conflicts, returning)
        statement = sqlite.insert(self.table)
        if skip_conflicts:
            statement = statement.on_conflict_do_nothing()
        if returning:
            return db.session.execute(statement.returning(*(self.table.c[name] for name in returning)), rows).all()
        db.session.execute(statement, rows)
        return []

    def _unnested(self, rows: list[dict], skip_conflicts: bool, returning: tuple[str, ...]) -> list:
        """PostgreSQL: one INSERT of the rows `selected` gives."""
        selection, values = self.selected(rows)
        sql = f"INSERT INTO {self.table.name} ({', '.join(rows[0])}) {selection}"
        if skip_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        result = db.session.connection().exec_driver_sql(sql, values)
        return [tuple(row) for row in result] if returning else []

    def selected(self, rows: list[dict], prefix: str = "", numbers: list[int] | None = None) -> tuple[str, dict]:
        """PostgreSQL: a SELECT of `rows` (each made by `row`, all with the same columns) under their column
        names, and its parameters (named `prefix` + column); with `numbers`, each row's number besides, as
        the column `number`. The rows travel as one array per column, unnested by the server. A multi-row
        VALUES is thousands of placeholders, which psycopg parses again for every batch (so long a statement
        is not cached), and an executemany is one statement per row. The arrays go in binary (`%b`): in
        text, psycopg escapes each quote of each JSON value with a regular expression, slower than the rest.
        A column with the same value on every row (the batch's moment, an e-mail's status, its bodies
        not written yet) is sent once, as one value the SELECT repeats: dumping its array element by
        element was a third of the arrays' cost."""
        source, dialect = db.metadata.tables[self.table.name], db.engine.dialect
        names = list(rows[0])
        columns = {name: [row[name] for row in rows] for name in names}
        same = {name for name, values in columns.items() if values.count(values[0]) == len(values)}
        varying = [name for name in names if name not in same] or names[:1]  # unnest counts the rows
        arrays = [f"%({prefix}{name})b::{_cast_of(source.c[name].type, dialect)}[]" for name in varying]
        selected = [
            name if name in varying else f"%({prefix}{name})s::{_cast_of(source.c[name].type, dialect)} AS {name}"
            for name in names
        ]
        values = {prefix + name: columns[name] if name in varying else columns[name][0] for name in names}
        if numbers is not None:
            arrays.append(f"%({prefix}number)b::INTEGER[]")
            varying, selected = [*varying, "number"], [*selected, "number"]
            values[prefix + "number"] = numbers
        return f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS given ({', '.join(varying)})", values

    def row(self, values: dict) -> dict:
        prepared = dict(values)
        for key in self._json & prepared.keys():
            value = prepared[key]
            prepared[key] = value.text if isinstance(value, JSONText) else self.serialised(key, value)
        for key, process in self._stamps.items():
            if key in prepared and prepared[key] is not None:
                prepared[key] = self._converted(key, prepared[key], process)
        return prepared

    def json_object(self, key: str, members: dict[str, Any], serialised: dict[str, str]) -> JSONText:
        """The JSON object of `members` (for column `key`), its first members' texts given already
        (`serialised`: a notice's params, written for its in-app row, go into its e-mail's too) instead of
        serialised again: the text the serialiser writes for the whole object."""
        leading = list(members)[: len(serialised)] == list(serialised)
        if self._dumps is not json.dumps or not leading:  # another serialiser may space or escape otherwise
            return JSONText(self.serialised(key, members))
        head = ", ".join(f"{json.dumps(name)}: {text}" for name, text in serialised.items())
        rest = json.dumps({name: value for name, value in members.items() if name not in serialised})
        return JSONText("{" + head + ("}" if rest == "{}" else ", " + rest[1:]))

    def serialised(self, key: str, value) -> str:
        """The JSON text of `value` for column `key`, made once per object."""
        # The same object (a notice's params, shared by its recipients) is serialised once; the value is
        # kept with its text, so its id is not reused meanwhile.
        done = self._done.get((key, id(value)))
        if done is None or done[0] is not value:
            done = self._done[(key, id(value))] = (value, self._dumps(value))
        return done[1]

    def _converted(self, key: str, value, process):
        done = self._done.get((key, id(value)))
        if done is None or done[0] is not value:
            done = self._done[(key, id(value))] = (value, process(value) if process else value)
        return done[1]


def insert_keyed(
    keys: Writer, key_rows: list[dict], unique: tuple[str, ...], dependents: list[tuple[Writer, list]]
) -> int:
    """PostgreSQL, in one statement: insert `key_rows` (made by `keys.row`, distinct), those whose key
    `unique` is there already left out (ON CONFLICT DO NOTHING), and into each dependent table the rows of
    the key rows inserted; `dependents` holds (its Writer, [(the index of a key row in key_rows, a row made
    by the Writer's `row`)]), in the order they are written. Returns how many key rows were inserted.
    One statement instead of an INSERT … RETURNING whose keys the caller then filters its rows by, and an
    INSERT per dependent table: one round trip, where a pass's writer waited on each for the other thread
    to let go of the interpreter, and no keys sent back to be compared in Python."""
    given, values = keys.selected(key_rows, "k_", list(range(len(key_rows))))
    columns = ", ".join(key_rows[0])
    sql = (
        f"WITH given AS ({given}), "
        f"recorded AS (INSERT INTO {keys.table.name} ({columns}) SELECT {columns} FROM given ORDER BY number "
        f"ON CONFLICT DO NOTHING RETURNING {', '.join(unique)}), "
        f"new AS (SELECT number FROM given JOIN recorded USING ({', '.join(unique)}))"
    )
    for index, (writer, rows) in enumerate(dependents):
        if not rows:
            continue
        selection, more = writer.selected([row for _, row in rows], f"d{index}_", [number for number, _ in rows])
        columns = ", ".join(rows[0][1])
        sql += (
            f", written_{index} AS (INSERT INTO {writer.table.name} ({columns}) SELECT {columns} "
            f"FROM ({selection}) AS given WHERE number IN (SELECT number FROM new) ORDER BY number)"
        )
        values |= more
    return db.session.connection().exec_driver_sql(f"{sql} SELECT count(*) FROM recorded", values).scalar_one()
