#!/usr/bin/env bash
# The project's test command: installs what the tests need, checks style and types, runs the suite;
# then installs the built wheel the way a user would and runs examples from it.
# `.ci/run` calls exactly this; so does the README.
#
# Everything runs from fresh virtual environments made by `python3 -m venv` (symlinked, the
# default), as users install it: the machine's own Python hid bugs that only venvs have
# (containers that lost the venv's packages). $PYTHON picks another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
python=${PYTHON:-python3}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/nano-modal-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
pip_quiet=(--quiet --disable-pip-version-check)

echo "== venv ($($python --version)) in $scratch/venv"
$python -m venv "$scratch/venv"
# modal-compat: the tests of Modal's own client against nano-modal (tests/modal_compat) need
# `modal` beside the server and workers they start from this venv, as such a deployment would.
"$scratch/venv/bin/pip" install "${pip_quiet[@]}" -e ".[dev,modal-compat]"

# Real parts the tests start, from Debian: the isolating runtimes (bubblewrap, gVisor's runsc)
# PostgreSQL (the store's second implementation) and Redis (server --queue). Installed only when missing.
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v runsc >/dev/null || need+=(runsc)
command -v slirp4netns >/dev/null || need+=(slirp4netns)  # containers' outbound NAT where nft is missing (worker/network.py)
command -v nft >/dev/null || need+=(nftables)  # containers' outbound NAT in the kernel (worker/kernel_nat.py)
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

# gVisor's network needs a newer runsc than Debian 12's: Debian 13's, into ~/.cache/nano-modal/runsc.
bash scripts/install_runsc.sh || echo "could not install a newer runsc: gVisor containers get no outbound network"

# The venv's programs first: ruff, mypy, pytest, nano-modal, and the `python` tests start.
export PATH="$scratch/venv/bin:$PATH"
unset PYTHONPATH
echo "== ruff"
ruff check nano_modal tests bench examples
ruff format --check nano_modal
echo "== mypy"
mypy nano_modal
echo "== pytest"
python -m pytest -p no:cacheprovider "$@" | tee "$scratch/pytest.txt"

# A user's install: the wheel (not editable) in another fresh venv, README command 1 and a
# sandbox run from outside the checkout, under bwrap, which the run must say it used.
suite_seconds=$SECONDS
echo "== wheel install"
python -m pip wheel "${pip_quiet[@]}" --no-deps --wheel-dir "$scratch/dist" "$checkout"
$python -m venv "$scratch/user"
"$scratch/user/bin/pip" install "${pip_quiet[@]}" "$scratch/dist"/nano_modal-*.whl
mkdir "$scratch/outside"
cp examples/hello_world.py examples/sandbox.py "$scratch/outside/"
cd "$scratch/outside"
for example in hello_world.py sandbox.py; do
    echo "== nano-modal run $example (wheel, bwrap)"
    NANO_MODAL_HOME="$scratch/home" NANO_MODAL_RUNTIME=bwrap NANO_MODAL_LOCAL_IDLE_EXIT=5 PATH="$scratch/user/bin:$PATH" \
        timeout 300 nano-modal run "$example" 2>&1 | tee "$scratch/out.txt"
    if ! grep -q "^runs on the local server (.*), runtime bwrap" "$scratch/out.txt"; then
        echo "FAILED: nano-modal run $example from the wheel did not run under bwrap"
        exit 1
    fi
done
echo "== all green (venv, checks and suite: ${suite_seconds} s; wheel job: $((SECONDS - suite_seconds)) s)"
tail -n 1 "$scratch/pytest.txt"  # pytest's own closing line, last, where CI reads it
