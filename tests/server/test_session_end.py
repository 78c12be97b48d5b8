"""A `@sessioned()` Server's session ends when its container scales down (idle past its
idle_timeout, or terminated): from that moment the gateway refuses its token. Events in,
routing decisions out; no worker, no container process."""

from __future__ import annotations

import asyncio

import pytest

from nano_modal._session_token import make_token, session_params
from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane, NotFound
from nano_modal.server.web_sessions import session_function

SECRET = "a-session-secret"


def test_a_session_whose_container_scales_down_is_refused_before_the_exit(control: ControlPlane) -> None:
    """Until the worker reported the exit, requests still reached the session: each was queued,
    and a container started anew for it."""
    app_id = control.create_app("sessions", ephemeral=True)
    server_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="Sticky"))
    session = api_pb2.FunctionDefinition(
        name="Sticky", parent_function_id=server_id, bound_params=session_params(SECRET), scaledown_window=0.01
    )
    session_id = control.create_function(app_id, session)
    container = control.place_container(control.functions[session_id])
    assert container is not None
    control.container_hello(container)
    header = "Bearer " + make_token(session_id, SECRET)
    server = control.functions[server_id]
    assert session_function(control, server, header) == session_id

    async def scale_down() -> None:
        container.idle_since -= 1.0  # idle past its (terminated session's) window
        assert await control.take_inputs(container, 1, 1.0) is None  # it exits next

    asyncio.run(scale_down())
    assert container.live  # its exit is not reported yet
    with pytest.raises(NotFound, match="has ended"):
        session_function(control, server, header)


def test_a_sessions_idle_container_is_never_evicted_for_another_function(control: ControlPlane) -> None:
    """A worker short of room stops the longest-idle container of another function; a session's
    (min_containers 0 once started) was one, and the session ended with a 404 while in use
    (test_a_terminated_session_ends under load: the other session's was evicted)."""
    app_id = control.create_app("sessions", ephemeral=True)
    server_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="Sticky"))
    session = api_pb2.FunctionDefinition(
        name="Sticky", parent_function_id=server_id, bound_params=session_params(SECRET), scaledown_window=300
    )
    session.web.sessioned = True
    session_id = control.create_function(app_id, session)
    container = control.place_container(control.functions[session_id])
    assert container is not None
    control.container_hello(container)
    container.waiting = True  # parked in its fetch, idle
    other_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="other"))
    assert not control.evict_idle_container(needed_by=control.functions[other_id])
    assert container.live
