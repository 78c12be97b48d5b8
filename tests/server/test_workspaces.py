"""Workspaces in the store and the id check, without processes: rows from before the
migration are main's, names are unique per workspace, tokens are kept as digests, and every
id field a request can carry is either checked or deliberately left out."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nano_modal.proto import api_pb2
from nano_modal.server import migrations
from nano_modal.server.errors import NotFound
from nano_modal.server.rpc_roles import ROLES, Role
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.workspaces import ID_FIELDS, Principal, Workspaces, WorkspaceScope, _ids

# Id fields that name nothing a workspace owns: content hashes (blobs, images: see
# docs/SECURITY.md, "Not done yet") and a queue's item cursor.
# Ids that name no workspace's object, or are checked where they are used: parent_input_id
# counts only if the calling container holds that input (service.py FunctionMap).
NOT_OWNED = {"blob_id", "image_id", "source_blob_id", "pickled_blob_id", "after_item_id", "parent_input_id"}


def test_rows_from_before_workspaces_are_mains_and_names_are_unique_per_workspace(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    migrations.upgrade(engine, target="0002")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO apps (app_id, name, state, ephemeral, created_at, version) "
                "VALUES ('ap-1', 'old', 'deployed', false, 1, 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO objects (object_id, kind, name, environment, ephemeral, created_at, "
                "updated_at, version) VALUES ('di-1', 1, 'd', 'main', false, 1, 1, 0)"
            )
        )
    migrations.upgrade(engine)
    store = SqlStore(db_url)
    try:
        assert store.get_app("ap-1").workspace == "main"  # type: ignore[union-attr]
        assert store.find_deployed_app("old", "main") is not None
        assert store.find_deployed_app("old", "team-b") is None
        old = store.get_object("di-1")
        assert old is not None and old.workspace == "main"
        assert store.find_object(1, "main", "d", "team-b") is None
        with engine.begin() as conn:  # the same name in another workspace: allowed; twice in one: not
            insert = "INSERT INTO objects (object_id, kind, name, environment, ephemeral, created_at, updated_at, "
            insert += "version, workspace) VALUES (:id, 1, 'd', 'main', false, 1, 1, 0, :ws)"
            conn.execute(sa.text(insert), {"id": "di-2", "ws": "team-b"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text(insert), {"id": "di-3", "ws": "main"})
    finally:
        store.close()
        engine.dispose()


def test_tokens_are_kept_as_digests_and_survive_a_restart(any_store: SqlStore) -> None:
    workspaces = Workspaces(any_store)
    with pytest.raises(NotFound):
        workspaces.new_token("team-b", invoke_only=False)
    assert workspaces.create("team-b") and not workspaces.create("team-b")
    token = workspaces.new_token("team-b", invoke_only=True)
    assert all(token not in row for row in any_store.list_tokens())
    again = Workspaces(any_store)  # a restarted server
    assert again.find(token) == Principal("team-b", invoke_only=True)
    assert again.find(token + "x") is None and again.find("") is None
    assert [name for name, _ in again.names()] == ["main", "team-b"]


def _id_fields(descriptor: object, seen: set[str]) -> set[str]:
    found: set[str] = set()
    if descriptor.full_name in seen:  # type: ignore[attr-defined]
        return found
    seen.add(descriptor.full_name)  # type: ignore[attr-defined]
    for field in descriptor.fields:  # type: ignore[attr-defined]
        if field.name.endswith(("_id", "_ids")):
            found.add(field.name)
        if field.message_type is not None:
            found |= _id_fields(field.message_type, seen)
    return found


def test_every_id_a_workspace_rpc_can_carry_is_checked() -> None:
    """A new RPC or field named *_id is checked by workspaces.py, or listed here with why not."""
    service = api_pb2.DESCRIPTOR.services_by_name["NanoModal"]
    unchecked = {}
    for method in service.methods:
        if ROLES[method.name] in (Role.OPERATOR, Role.CONTAINER):
            continue
        missing = _id_fields(method.input_type, set()) - set(ID_FIELDS) - NOT_OWNED
        if missing:
            unchecked[method.name] = sorted(missing)
    assert unchecked == {}


def test_ids_nested_in_definitions_are_found_and_payloads_are_not_walked() -> None:
    definition = api_pb2.FunctionDefinition(
        name="f", secret_ids=["st-a"], volume_mounts=[api_pb2.VolumeMount(volume_id="vo-a")]
    )
    request = api_pb2.AppDeployRequest(name="app", definitions=[definition])
    assert sorted(_ids(request, ID_FIELDS)) == [("secret", "st-a"), ("volume", "vo-a")]
    owners = {kind: (lambda i: "team-a") for kind in set(ID_FIELDS.values())}
    scope = WorkspaceScope(owners, lambda kind, i: False)
    scope.check(request, Principal("team-a"))
    with pytest.raises(NotFound, match="secret st-a not found"):
        scope.check(request, Principal("team-b"))
