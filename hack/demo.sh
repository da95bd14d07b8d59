#!/usr/bin/env bash
# Build-and-run demo, offline: containers through the engine (the CLI
# starts `berth daemon` when none answers), then berth's OCI runtime alone.
set -euo pipefail
BERTH=$(readlink -f "${1:-bin/berth}")
# The daemon imports a busybox image from the host's busybox-static on its
# first start: have it before the first command starts the daemon.
if ! [ -x /bin/busybox ] || file -L /bin/busybox 2>/dev/null | grep -q dynamic; then
    apt-get install -y -qq busybox-static >/dev/null
fi
# The built-in hello image: a small static program embedded in berth.
"$BERTH" run --rm hello
"$BERTH" run --rm busybox sh -c 'echo "hello from berth run busybox: $(hostname), $(uname -r)"'
# The runtime alone, with runc's command line, on an OCI bundle.
dir=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
go run ./hack/mkbundle "$dir" /bin/sh -c 'echo "hello from berth runtime run: pid $$"'
cd "$dir"
"$BERTH" runtime --root /run/berth/demo run demo-$$
