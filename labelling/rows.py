"""Model instances from the rows of hand-written SQL (the annotator's hot path).

The values are converted as the ORM converts them on this database (JSON text parsed,
SQLite's dates read); fields not given are deferred, as `.only()` leaves them, and read
if someone asks. The conversions of a model's fields are looked up once per process:
this runs on every lease and every submit.
"""

from functools import cache
from typing import TypeVar

from django.db import connection
from django.db.models import Model
from django.db.models.expressions import Col

from core.db import on_postgresql

M = TypeVar("M", bound=Model)


# The attribute names, in field order, and each field's (name, column, converters).
_Conversions = tuple[tuple[str, ...], list[tuple[str, Col, list]]]


def _converters(model: type[Model], attnames: tuple[str, ...] | None) -> _Conversions:
    return _converters_for(model, attnames, on_postgresql())


@cache
def _converters_for(
    model: type[Model], attnames: tuple[str, ...] | None, postgresql: bool
) -> _Conversions:
    # The backend's converters depend on the database, never on one connection's state
    # (SQLite's read the time zone from the settings).
    fields = [
        field
        for field in model._meta.concrete_fields
        if attnames is None or field.attname in attnames
    ]
    out = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        out.append((field.attname, column, converters))
    return tuple(field.attname for field in fields), out


@cache
def columns_as(model: type[Model], *, table: str, prefix: str) -> str:
    """`table.column AS prefix + column` for every column of `model`, for a SELECT."""
    return ", ".join(
        f"{table}.{field.column} AS {prefix}{field.column}" for field in model._meta.concrete_fields
    )


def instance_from_row(
    model: type[M], row: dict, *, prefix: str = "", only: tuple[str, ...] | None = None
) -> M:
    """An instance of `model` from `row` (prefix + attribute name -> raw value), with
    every field, or only those named in `only`."""
    names, fields = _converters(model, only)
    values = []
    for attname, column, converters in fields:
        value = row[prefix + attname]
        for convert in converters:
            value = convert(value, column, connection)
        values.append(value)
    return model.from_db(connection.alias, names, values)
