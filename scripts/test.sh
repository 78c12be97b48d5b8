#!/usr/bin/env bash
# The project's test command: installs what the tests need, checks style and types, runs the suite.
# `.ci/run` calls exactly this; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# Real parts the tests start, from Debian: the isolating runtimes (bubblewrap, gVisor's runsc)
# PostgreSQL (the store's second implementation) and Redis (server --queue). Installed only when missing.
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v runsc >/dev/null || need+=(runsc)
command -v slirp4netns >/dev/null || need+=(slirp4netns)  # bwrap containers' outbound NAT (worker/network.py)
command -v ip >/dev/null || need+=(iproute2)  # tests/faults: workers on namespaced "hosts"
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)  # tests/redisd.py: Queue items in Redis
command -v docker-registry >/dev/null || need+=(docker-registry)  # the registry tests/worker/test_oci.py pushes to
command -v busybox >/dev/null || need+=(busybox-static)  # a real static binary inside the test images
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)  # Debian bases of images (tests/worker/test_images.py)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    echo "== apt-get install ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; }
    then
        echo "could not install ${need[*]}: the tests that need them will say so"
    fi
fi

echo "== ruff"
ruff check nano_modal tests bench examples
ruff format --check nano_modal
echo "== mypy"
mypy nano_modal
echo "== pytest"
python -m pytest -p no:cacheprovider "$@"
