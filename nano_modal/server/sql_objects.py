"""The Store's object operations (Dict, Queue, Secret, Volume) on SQLAlchemy Core.

A part of `SqlStore` (sql_store.py), which supplies the engine; every method is one
transaction, retried on a lost connection like the rest of the store.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from .sql_schema import dict_entries, objects, queue_items, queue_partitions, secret_values, volume_files
from .store import ObjectRow, VolumeFileRow
from .store_retry import retry_transient

_IN_CHUNK = 500  # values per IN (...) list: well under every database's parameter limit


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


# The hot object operations' statements, built once: building a Core statement per call
# costs ~160 µs of CPU (cache-key generation), more than SQLite's own work for a small write.
# Parameters are "b_<column>": plain column names are reserved in INSERT/UPDATE statements.
_b = sa.bindparam
_ENTRY = (dict_entries.c.dict_id == _b("b_dict_id"), dict_entries.c.key_hash == _b("b_key_hash"))
_DICT_GET = sa.select(dict_entries.c.value).where(*_ENTRY)
_DICT_HAS = sa.select(dict_entries.c.entry_id).where(*_ENTRY)
_DICT_UPDATE = dict_entries.update().where(*_ENTRY).values(value=_b("b_value"))
_DICT_DELETE = dict_entries.delete().where(*_ENTRY)
_PARTITION = (queue_partitions.c.queue_id == _b("b_queue_id"), queue_partitions.c.partition == _b("b_partition"))
_QUEUE_TOUCH = queue_partitions.update().where(*_PARTITION).values(expires_at=_b("b_expires_at"))
_QUEUE_HEAD = (
    sa.select(queue_items.c.item_id, queue_items.c.value)
    .where(queue_items.c.queue_id == _b("b_queue_id"), queue_items.c.partition == _b("b_partition"))
    .order_by(queue_items.c.item_id)
    .limit(_b("b_n"))
)
_QUEUE_DELETE_THROUGH = queue_items.delete().where(
    queue_items.c.queue_id == _b("b_queue_id"),
    queue_items.c.partition == _b("b_partition"),
    queue_items.c.item_id <= _b("b_last"),
)


@retry_transient
class SqlObjects:
    engine: sa.Engine

    def create_object(self, row: ObjectRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(objects.insert().values(**vars(row)))

    def get_object(self, object_id: str) -> ObjectRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(objects.select().where(objects.c.object_id == object_id)).mappings().first()
        return ObjectRow(**row) if row else None

    def find_object(self, kind: int, environment: str, name: str, workspace: str) -> ObjectRow | None:
        query = objects.select().where(
            objects.c.kind == kind,
            objects.c.workspace == workspace,
            objects.c.environment == environment,
            objects.c.name == name,
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return ObjectRow(**row) if row else None

    def list_objects(self, kind: int, environment: str | None, workspace: str) -> list[ObjectRow]:
        query = objects.select().where(
            objects.c.kind == kind, objects.c.name.is_not(None), objects.c.workspace == workspace
        )
        if environment is not None:
            query = query.where(objects.c.environment == environment)
        with self.engine.connect() as conn:
            return [ObjectRow(**row) for row in conn.execute(query.order_by(objects.c.created_at)).mappings()]

    def ephemeral_objects(self) -> list[ObjectRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(objects.select().where(objects.c.ephemeral == sa.true())).mappings().all()
        return [ObjectRow(**row) for row in rows]

    def rename_object(self, object_id: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(objects.update().where(objects.c.object_id == object_id).values(name=name))

    def delete_object(self, object_id: str) -> list[str]:
        with self.engine.begin() as conn:
            blobs = conn.execute(
                sa.select(volume_files.c.blob_id).where(volume_files.c.volume_id == object_id).distinct()
            ).scalars()
            blob_ids = list(blobs)
            conn.execute(volume_files.delete().where(volume_files.c.volume_id == object_id))
            conn.execute(dict_entries.delete().where(dict_entries.c.dict_id == object_id))
            conn.execute(queue_items.delete().where(queue_items.c.queue_id == object_id))
            conn.execute(queue_partitions.delete().where(queue_partitions.c.queue_id == object_id))
            conn.execute(secret_values.delete().where(secret_values.c.secret_id == object_id))
            conn.execute(objects.delete().where(objects.c.object_id == object_id))
        return blob_ids

    # --- dicts

    def dict_get(self, dict_id: str, key_hash: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(_DICT_GET, {"b_dict_id": dict_id, "b_key_hash": key_hash}).scalar()
        return bytes(value) if value is not None else None

    def dict_put(self, dict_id: str, entries: list[tuple[str, bytes, bytes]], if_not_exists: bool) -> bool:
        created = False
        with self.engine.begin() as conn:
            for key_hash, key, value in entries:
                where = {"b_dict_id": dict_id, "b_key_hash": key_hash, "b_value": value}
                if if_not_exists:
                    if conn.execute(_DICT_HAS, where).first() is not None:
                        continue
                # An update keeps the key's place in the iteration order, as a Python dict does.
                elif conn.execute(_DICT_UPDATE, where).rowcount:
                    continue
                conn.execute(
                    dict_entries.insert(), {"dict_id": dict_id, "key_hash": key_hash, "key": key, "value": value}
                )
                created = True
        return created

    def dict_pop(self, dict_id: str, key_hash: str) -> bytes | None:
        where = {"b_dict_id": dict_id, "b_key_hash": key_hash}
        with self.engine.begin() as conn:
            value = conn.execute(_DICT_GET, where).scalar()
            if value is None:
                return None
            conn.execute(_DICT_DELETE, where)
        return bytes(value)

    def dict_len(self, dict_id: str) -> int:
        query = sa.select(sa.func.count()).where(dict_entries.c.dict_id == dict_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def dict_page(self, dict_id: str, after: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        query = (
            sa.select(dict_entries.c.entry_id, dict_entries.c.key, dict_entries.c.value)
            .where(dict_entries.c.dict_id == dict_id, dict_entries.c.entry_id > after)
            .order_by(dict_entries.c.entry_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in conn.execute(query)]

    def dict_clear(self, dict_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(dict_entries.delete().where(dict_entries.c.dict_id == dict_id))

    # --- queues

    def queue_put(self, queue_id: str, partition: str, values: list[bytes], expires_at: float) -> None:
        if not values:
            return
        where = {"b_queue_id": queue_id, "b_partition": partition, "b_expires_at": expires_at}
        with self.engine.begin() as conn:
            conn.execute(
                queue_items.insert(), [{"queue_id": queue_id, "partition": partition, "value": v} for v in values]
            )
            if not conn.execute(_QUEUE_TOUCH, where).rowcount:
                row = {"queue_id": queue_id, "partition": partition, "expires_at": expires_at}
                conn.execute(queue_partitions.insert(), row)

    def queue_expired(self, now: float) -> list[tuple[str, str]]:
        with self.engine.begin() as conn:
            due = [
                (str(r[0]), str(r[1]))
                for r in conn.execute(
                    sa.select(queue_partitions.c.queue_id, queue_partitions.c.partition).where(
                        queue_partitions.c.expires_at <= now
                    )
                )
            ]
            for queue_id, partition in due:
                conn.execute(
                    queue_items.delete().where(queue_items.c.queue_id == queue_id, queue_items.c.partition == partition)
                )
                conn.execute(
                    queue_partitions.delete().where(
                        queue_partitions.c.queue_id == queue_id, queue_partitions.c.partition == partition
                    )
                )
        return due

    def queue_take(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        head = {"b_queue_id": queue_id, "b_partition": partition, "b_n": n}
        with self.engine.begin() as conn:
            rows = conn.execute(_QUEUE_HEAD, head).all()
            if rows:  # the head is contiguous in item order: one range delete takes it
                conn.execute(_QUEUE_DELETE_THROUGH, {**head, "b_last": rows[-1][0]})
        return [bytes(r[1]) for r in rows]

    def queue_peek(self, queue_id: str, partition: str, after_item_id: int, limit: int) -> list[tuple[int, bytes]]:
        query = (
            sa.select(queue_items.c.item_id, queue_items.c.value)
            .where(
                queue_items.c.queue_id == queue_id,
                queue_items.c.partition == partition,
                queue_items.c.item_id > after_item_id,
            )
            .order_by(queue_items.c.item_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), bytes(r[1])) for r in conn.execute(query)]

    def queue_counts(self, queue_id: str) -> dict[str, int]:
        query = (
            sa.select(queue_items.c.partition, sa.func.count())
            .where(queue_items.c.queue_id == queue_id)
            .group_by(queue_items.c.partition)
        )
        with self.engine.connect() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(query)}

    def queue_clear(self, queue_id: str, partition: str | None) -> None:
        delete = queue_items.delete().where(queue_items.c.queue_id == queue_id)
        forget = queue_partitions.delete().where(queue_partitions.c.queue_id == queue_id)
        if partition is not None:
            delete = delete.where(queue_items.c.partition == partition)
            forget = forget.where(queue_partitions.c.partition == partition)
        with self.engine.begin() as conn:
            conn.execute(delete)
            conn.execute(forget)

    # --- secrets

    def secret_set(self, secret_id: str, ciphertext: bytes, updated_at: float) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                secret_values.update()
                .where(secret_values.c.secret_id == secret_id)
                .values(ciphertext=ciphertext, updated_at=updated_at)
            ).rowcount
            if not updated:
                conn.execute(
                    secret_values.insert().values(secret_id=secret_id, ciphertext=ciphertext, updated_at=updated_at)
                )
            conn.execute(objects.update().where(objects.c.object_id == secret_id).values(updated_at=updated_at))

    def secret_get(self, secret_id: str) -> bytes | None:
        query = sa.select(secret_values.c.ciphertext).where(secret_values.c.secret_id == secret_id)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return bytes(value) if value is not None else None

    # --- volumes

    def volume_manifest(self, volume_id: str) -> tuple[int, list[VolumeFileRow]]:
        with self.engine.connect() as conn:
            version = conn.execute(sa.select(objects.c.version).where(objects.c.object_id == volume_id)).scalar()
            rows = conn.execute(
                sa.select(
                    volume_files.c.path,
                    volume_files.c.blob_id,
                    volume_files.c.size,
                    volume_files.c.mode,
                    volume_files.c.mtime,
                )
                .where(volume_files.c.volume_id == volume_id)
                .order_by(volume_files.c.path)
            ).mappings()
            files = [VolumeFileRow(**row) for row in rows]
        return int(version or 0), files

    def volume_apply(self, volume_id: str, puts: list[VolumeFileRow], deletes: list[str]) -> tuple[int, list[str]]:
        touched = list(dict.fromkeys([f.path for f in puts] + deletes))
        new_blobs = {f.blob_id for f in puts}
        released: set[str] = set()
        with self.engine.begin() as conn:
            for paths in _chunks(touched):
                where = (volume_files.c.volume_id == volume_id, volume_files.c.path.in_(paths))
                released.update(conn.execute(sa.select(volume_files.c.blob_id).where(*where)).scalars())
                conn.execute(volume_files.delete().where(*where))
            if puts:
                conn.execute(volume_files.insert(), [{"volume_id": volume_id, **vars(f)} for f in puts])
            conn.execute(
                objects.update()
                .where(objects.c.object_id == volume_id)
                .values(version=objects.c.version + 1, updated_at=time.time())
            )
            version = conn.execute(sa.select(objects.c.version).where(objects.c.object_id == volume_id)).scalar_one()
        return int(version), sorted(released - new_blobs)

    def referenced_blobs(self, blob_ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(blob_ids):
                query = sa.select(volume_files.c.blob_id).where(volume_files.c.blob_id.in_(chunk)).distinct()
                found.update(conn.execute(query).scalars())
        return found
