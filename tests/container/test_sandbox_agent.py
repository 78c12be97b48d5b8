"""The sandbox agent on its own: a real agent process and the worker's side of its socket."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from nano_modal.container.sandbox_agent import SOCKET_ENV, encode_down, encode_up, to_json
from nano_modal.worker.sandbox_relay import AGENT_ARGS, read_frame

TRICKY = ["plain", 'quote " and \\ backslash', "control \x00\x1f\n\t", "non-ASCII é ✓ 😀", "lone \udcff"]


async def _frames(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while (frame := await read_frame(reader)) is not None:
        frames.append(frame)
    return frames


def test_what_the_agent_sends_is_json_the_worker_reads() -> None:
    for text in TRICKY:
        fields = {"exec_id": text, "fd": 2, "eof": True, "exited": False, "error": None}
        assert asyncio.run(_frames(encode_up(fields, b"\x00data"))) == [(fields, b"\x00data")]
    value = {"names": TRICKY, "errno": -3, "nested": [[], {}]}
    assert json.loads(to_json(value).encode("utf-8", "backslashreplace")) == value
    with pytest.raises(TypeError):
        to_json(1.5)


def test_the_worker_drops_oversized_or_malformed_frames() -> None:
    huge = (2**31).to_bytes(4, "big") + (0).to_bytes(4, "big")
    assert asyncio.run(_frames(huge)) == []
    not_a_dict = len(b"[1]").to_bytes(4, "big") + (0).to_bytes(4, "big") + b"[1]"
    assert asyncio.run(_frames(not_a_dict)) == []


async def _run_agent(tmp_path: Path) -> tuple[list[tuple[dict[str, object], bytes]], int, str]:
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set_result((reader, writer))

    socket = tmp_path / "agent.sock"
    server = await asyncio.start_unix_server(accept, path=str(socket))
    env = {**os.environ, SOCKET_ENV: str(socket), "NANO_MODAL_CONTAINER_ID": "main"}
    # -X importtime lists every module the agent loads (on stderr): the test checks that list.
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", *AGENT_ARGS, env=env, stderr=asyncio.subprocess.PIPE
    )
    reader, writer = await asyncio.wait_for(connected, 30)
    script = "read line; echo out:$line; echo err >&2; exit 3"
    writer.write(encode_down({"exec_id": "x1", "start": True, "argv": ["sh", "-c", script]}))
    writer.write(encode_down({"exec_id": "x1"}, b"typed\n"))
    writer.write(encode_down({"exec_id": "x2", "start": True, "argv": ["no-such-command-anywhere"]}))
    writer.write(encode_down({"exec_id": "x3", "start": True, "builtin": "ls", "argv": [str(tmp_path)]}))
    frames = []
    while len([fields for fields, _ in frames if fields.get("exited")]) < 3:
        frame = await asyncio.wait_for(read_frame(reader), 30)
        assert frame is not None
        frames.append(frame)
    # Then the entrypoint (its id is the container's): it ends the agent, here by its timeout.
    writer.write(encode_down({"exec_id": "main", "start": True, "argv": ["sleep", "60"], "timeout": 0.2}))
    while (frame := await asyncio.wait_for(read_frame(reader), 30)) is not None:
        frames.append(frame)
    server.close()
    assert agent.stderr is not None
    imports = (await agent.stderr.read()).decode()
    return frames, await agent.wait(), imports


def test_an_agent_runs_commands_builtins_and_its_entrypoint(tmp_path: Path) -> None:
    frames, code, imports = asyncio.run(_run_agent(tmp_path))

    def output(exec_id: str, fd: int) -> bytes:
        return b"".join(data for fields, data in frames if fields["exec_id"] == exec_id and fields.get("fd") == fd)

    def field(exec_id: str, key: str) -> list[object]:
        return [fields[key] for fields, _ in frames if fields["exec_id"] == exec_id and key in fields]

    assert (output("x1", 1), output("x1", 2), field("x1", "exit_code")) == (b"out:typed\n", b"err\n", [3])
    assert field("x2", "exit_code") == [127] and "no-such-command-anywhere" in str(field("x2", "error"))
    assert json.loads(output("x3", 1)) == ["agent.sock"]
    # The entrypoint ran out of time (124): the agent exits with its code, the sandbox with it.
    assert field("main", "exit_code") == [124] and code == 124
    # What it loads at start is built into Python: no asyncio, json, subprocess or threading.
    loaded = {line.split("|")[-1].strip() for line in imports.splitlines() if line.startswith("import time:")}
    assert {"_socket", "sandbox_agent"} <= loaded  # imported, not run as a script: its bytecode is cached
    assert not loaded & {"asyncio", "json", "subprocess", "threading", "typing", "enum"}, loaded
