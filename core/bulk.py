"""Bulk inserts of new model objects: COPY on PostgreSQL, large bulk_create batches elsewhere.

``bulk_create`` on PostgreSQL renders every value into an INSERT statement in Python (Django's
per-value preparation, then psycopg's client-side quoting): about as slow per row as building
the object. COPY streams the same rows through psycopg's binary-module dumpers instead. Use it
for write-once rows whose primary keys the caller does not need back (COPY does not return
them; the objects keep ``pk=None``).

Values are those ``bulk_create`` would write: ``field.pre_save(obj, add=True)`` (so
``auto_now_add`` is filled in), JSON through the field's own preparation, numbers made plain
Python ``float`` / ``int`` (a numpy scalar is fine), choices as their values; every concrete
field but an automatic primary key is written, so model defaults apply as with ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any

from django.db import connections, models

#: rows per COPY statement / per bulk_create batch
BATCH = 20_000


def _converter(field: models.Field, connection) -> Callable[[Any], Any]:
    if isinstance(field, models.JSONField):
        return lambda v: field.get_db_prep_save(v, connection)
    if isinstance(field, models.FloatField):
        return lambda v: None if v is None else float(v)
    if isinstance(field, models.IntegerField):
        return lambda v: None if v is None else int(v)
    if isinstance(field, models.CharField | models.TextField):
        # a TextChoices member is written as its value (psycopg would dump an Enum's name)
        return lambda v: v.value if isinstance(v, Enum) else v
    return lambda v: v


def _columns(model: type[models.Model]) -> list[models.Field]:
    opts = model._meta
    return [
        f
        for f in opts.concrete_fields
        if not (f is opts.pk and isinstance(f, models.AutoField | models.BigAutoField))
    ]


def _reserve_pks(model: type[models.Model], n: int, connection) -> list[int]:
    """n fresh values of the model's automatic primary key sequence (PostgreSQL)."""
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [connection.ops.quote_name(table), column, n],
        )
        return [r[0] for r in cursor.fetchall()]


def bulk_insert(
    objs: Sequence[models.Model], *, using: str = "default", with_pks: bool = False
) -> int:
    """Insert new objects of one model in bulk; returns how many. See the module doc.

    ``with_pks``: the objects get their primary keys (on PostgreSQL reserved from the key's
    sequence and written by the COPY; elsewhere as bulk_create sets them)."""
    if not objs:
        return 0
    model = type(objs[0])
    if any(type(o) is not model for o in objs):
        raise TypeError(f"bulk_insert takes objects of one model ({model.__name__})")
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).bulk_create(objs, batch_size=BATCH)
        return len(objs)
    fields = _columns(model)
    if with_pks:
        for obj, pk in zip(objs, _reserve_pks(model, len(objs), connection), strict=True):
            obj.pk = pk
            obj._state.adding, obj._state.db = False, using
        fields = [model._meta.pk, *fields]
    convert = [_converter(f, connection) for f in fields]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
    with connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH):
            with cursor.copy(statement) as copy:
                for obj in objs[start : start + BATCH]:
                    copy.write_row(
                        [c(f.pre_save(obj, True)) for f, c in zip(fields, convert, strict=True)]
                    )
    return len(objs)


def copy_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str = "default",
) -> int:
    """Insert plain rows of values (one per named field, by attname: ``product_id``) without
    building a model object per row: COPY on PostgreSQL (values converted as bulk_insert does;
    fields not named get the model's default, as an object would), bulk_create of objects built
    from them elsewhere. Returns how many."""
    if not rows:
        return 0
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=BATCH
        )
        return len(rows)
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    named = [by_attname[name] for name in fields]
    rest = [f for f in _columns(model) if f.attname not in set(fields)]
    blank = model()  # the model's defaults (and auto_now_add), as bulk_insert would write them
    defaults = [f.pre_save(blank, True) for f in rest]
    convert = [_converter(f, connection) for f in (*named, *rest)]
    names = ", ".join(connection.ops.quote_name(f.column) for f in (*named, *rest))
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            with cursor.copy(statement) as copy:
                for row in rows[start : start + BATCH]:
                    values = (*row, *defaults)
                    copy.write_row([c(v) for c, v in zip(convert, values, strict=True)])
    return len(rows)


def rows_by_ids(
    model: type[models.Model],
    ids: Iterable[int],
    fields: Sequence[str],
    *,
    by: str = "id",
    using: str = "default",
) -> list[tuple]:
    """``values_list(*fields)`` of the rows whose ``by`` column is one of ``ids``, for many ids:
    on PostgreSQL one ``WHERE by = ANY(%s)`` with the ids as one array parameter (Django's
    ``__in`` renders a placeholder per id: seconds for 100k ids), elsewhere ``__in`` in chunks.
    Fields and ``by`` are attnames (``shop_id``); values come back as the driver gives them."""
    ids = list(set(ids))
    if not ids:
        return []
    connection = connections[using]
    if connection.vendor != "postgresql":
        manager = model._default_manager.using(using)
        return [
            row
            for start in range(0, len(ids), 900)
            for row in manager.filter(**{f"{by}__in": ids[start : start + 900]}).values_list(
                *fields
            )
        ]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    q = connection.ops.quote_name
    columns = ", ".join(q(by_attname[f].column) for f in fields)
    table, column = q(model._meta.db_table), q(by_attname[by].column)
    # identifiers only, from the model's own metadata (quoted); the ids are a parameter
    sql = f"SELECT {columns} FROM {table} WHERE {column} = ANY(%s)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        return [tuple(r) for r in cursor.fetchall()]
