#!/usr/bin/env bash
# Build-and-run demo: a busybox container from the host's busybox-static,
# run by berth's own OCI runtime. Works offline.
set -euo pipefail
BERTH=$(readlink -f "${1:-bin/berth}")
if ! [ -x /bin/busybox ] || file -L /bin/busybox 2>/dev/null | grep -q dynamic; then
    apt-get install -y -qq busybox-static >/dev/null
fi
dir=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
go run ./hack/mkbundle "$dir" /bin/sh -c 'echo "hello from a berth container: $(hostname), pid $$, $(uname -r)"; ls /'
cd "$dir"
"$BERTH" runtime --root /run/berth/demo run demo-$$
cd - >/dev/null
# The engine: the CLI starts the daemon if none answers; the daemon imports
# a busybox image from the host's busybox-static on first start.
"$BERTH" run --rm busybox sh -c 'echo "hello from berth run: $(hostname)"'
