"""The worker agent: registers with the server, runs containers through a runtime."""

import os
import sys

from ..container._site import GRPC_FORK_SUPPORT_ENV

# gRPC's fork support (on in grpcio's wheels) runs its handlers in every child the worker forks:
# runsc's launcher, `unshare` as a container's range, any subprocess started with a preexec_fn
# or another user. Beside the worker's busy gRPC threads about 1 such child in 60 died of SIGSEGV
# or SIGABRT before its exec (`runsc`: a sandbox whose agent never dialed in, a container that
# never started). The worker's children exec at once and never use gRPC, so it is off here.
# gRPC reads the variable once, when first imported: GRPC_FORKS_SAFELY says whether that came
# after this line (worker.main starts the worker afresh when it did not, e.g. under the CLI).
GRPC_FORKS_SAFELY = "grpc" not in sys.modules or os.environ.get(GRPC_FORK_SUPPORT_ENV) == "false"
os.environ[GRPC_FORK_SUPPORT_ENV] = "false"
