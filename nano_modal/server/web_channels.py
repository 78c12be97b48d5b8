"""WebSocket messages from HTTP clients on their way to the containers serving them.

A WebSocket session is one input of a web endpoint. What the container sends travels back
as the input's generator outputs, like an HTTP response; what the client sends cannot ride
on the input (it is already running), so the gateway appends it here, keyed by the call,
and the container long-polls for it (ContainerWebReceive). Sessions live in memory only:
a WebSocket does not survive a server restart anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .state import Signal


@dataclass
class WebChannel:
    messages: list[bytes] = field(default_factory=list)  # pickled ASGI messages not yet acknowledged
    base: int = 0  # how many messages were acknowledged and dropped from `messages`
    pending_bytes: int = 0  # the size of `messages`
    closed: bool = False
    changed: Signal = field(default_factory=Signal)


class WebChannels:
    def __init__(self) -> None:
        self._channels: dict[str, WebChannel] = {}

    def open(self, call_id: str) -> None:
        self._channels[call_id] = WebChannel()

    def put(self, call_id: str, message: bytes) -> None:
        channel = self._channels.get(call_id)
        if channel is not None and not channel.closed:
            channel.messages.append(message)
            channel.pending_bytes += len(message)
            channel.changed.fire()

    def pending_bytes(self, call_id: str) -> int:
        """Bytes of messages the container has not acknowledged yet."""
        channel = self._channels.get(call_id)
        return 0 if channel is None else channel.pending_bytes

    def close(self, call_id: str) -> None:
        """The client side is gone: a waiting container hears `closed` and the channel is dropped."""
        channel = self._channels.pop(call_id, None)
        if channel is not None:
            channel.closed = True
            channel.changed.fire()

    async def receive(self, call_id: str, after: int, timeout: float) -> tuple[list[bytes], bool]:
        """Messages after the first `after` (which are acknowledged), waiting up to `timeout` for one."""
        channel = self._channels.get(call_id)
        if channel is None:
            return [], True
        if after > channel.base:
            acknowledged = channel.messages[: after - channel.base]
            channel.pending_bytes -= sum(len(m) for m in acknowledged)
            del channel.messages[: after - channel.base]
            channel.base = after
        if not channel.messages and not channel.closed:
            await channel.changed.wait(channel.changed.event, timeout)
        return list(channel.messages[max(0, after - channel.base) :]), channel.closed
