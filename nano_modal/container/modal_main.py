"""Modal's container entrypoint, run in this process once SIGUSR2 starts nano-modal's sandbox agent.

The worker sends SIGUSR2 to a container's first process for `modal container exec` (and
`nano-modal container exec`): nano-modal's own entrypoint starts the agent on it
(entrypoint.py). Modal's entrypoint does not handle it, so SIGUSR2 would end the container;
modal_entrypoint.py runs this module in its place, which sets the handler and runs Modal's
entrypoint as `__main__` in the same process.
"""

from __future__ import annotations

import runpy
import signal

from .entrypoint import start_agent_on_signal

MODAL_ENTRYPOINT = "modal._container_entrypoint"

if __name__ == "__main__":
    signal.signal(signal.SIGUSR2, start_agent_on_signal)
    runpy.run_module(MODAL_ENTRYPOINT, run_name="__main__", alter_sys=True)
