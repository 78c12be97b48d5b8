#!/usr/bin/env bash
# gVisor's runsc for the gvisor runtime, where the system's is too old to give containers a
# network: Debian 12's (0.0~20221219) cannot; Debian 13's (0.0~20240729, a static binary) can.
# Its .deb (checked against the sha256 below) is unpacked into ~/.cache/nano-modal/runsc/<version>/,
# where the worker looks first (nano_modal/worker/runsc.py); the system's runsc is left alone.
# Nothing to do where the runsc on PATH is as new already, or was installed here before.
set -euo pipefail
version=0.0~20240729.0
needed=20240729  # runsc.SANDBOX_NETWORK_SINCE
deb="runsc_${version}-4+b7_amd64.deb"
sha256=3c25a5130dfac2f71237d5baad56ac86a255de87a0400f11b36a555156dc325a
url="http://deb.debian.org/debian/pool/main/g/golang-gvisor-gvisor/$deb"
target="$HOME/.cache/nano-modal/runsc/$version"

[ -x "$target/runsc" ] && exit 0
system=$( (runsc --version 2>/dev/null || true) | sed -n 's/^runsc version \(release-\|0\.0~\)\([0-9]\{8\}\).*/\2/p')
[ "${system:-0}" -ge "$needed" ] && exit 0
if [ "$(uname -m)" != x86_64 ]; then
    echo "runsc ${system:-(none)} is older than $needed and no newer build is known for $(uname -m): gVisor containers get no outbound network"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== runsc $version (Debian 13) into $target"
if ! curl -fsSL --max-time 300 -o "$work/$deb" "$url"; then
    echo "could not download $url: gVisor containers get no outbound network"
    exit 0
fi
if ! echo "$sha256  $work/$deb" | sha256sum -c --quiet -; then
    echo "$deb does not match its sha256: not installed"
    exit 1
fi
dpkg-deb -x "$work/$deb" "$work/root"
mkdir -p "$target.tmp$$"
install -m 0755 "$work/root/usr/bin/runsc" "$target.tmp$$/runsc"
mv -T "$target.tmp$$" "$target"
"$target/runsc" --version | sed -n 1p  # (head would end runsc with SIGPIPE: pipefail)
