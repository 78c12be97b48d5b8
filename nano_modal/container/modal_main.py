"""Modal's container entrypoint, run in this process with two signals wired in: SIGUSR2 starts
nano-modal's sandbox agent, SIGTERM stops it gracefully (modal_stop.py: its exit hooks run).

The worker sends SIGUSR2 to a container's first process for `modal container exec` (and
`nano-modal container exec`): nano-modal's own entrypoint starts the agent on it
(entrypoint.py). Modal's entrypoint does not handle it, so SIGUSR2 would end the container;
modal_entrypoint.py runs this module in its place, which sets the handler and runs Modal's
entrypoint as `__main__` in the same process.
"""

from __future__ import annotations

import signal

from .entrypoint import start_agent_on_signal
from .modal_stop import run_modal_entrypoint

if __name__ == "__main__":
    signal.signal(signal.SIGUSR2, start_agent_on_signal)
    run_modal_entrypoint()
