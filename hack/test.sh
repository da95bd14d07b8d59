#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it, on a Debian 12 machine
# as root: installs what the tests need (apt packages, Go modules), then runs
#  1. the OCI runtime-tools validation suite against `berth runtime`
#     (hack/conformance.sh; fatal only on a regression against runc/crun),
#  2. the OCI distribution-spec conformance suite against
#     `berth registry serve` (hack/registry-conformance.sh; fatal when a
#     test berth runs fails),
#  3. every Go test (`make go-test`: real containers, mounts, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export DEBIAN_FRONTEND=noninteractive GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
[ "$(id -u)" = 0 ] || { echo "the tests need root (real namespaces, mounts, cgroups)" >&2; exit 2; }
need=()
# docker-registry and skopeo are peers of the registry interop tests
# (internal/integration/engine/registry_test.go); checked on a fresh
# Debian 12 install, where the registry's service is not started.
# libseccomp-dev builds the oracle the seccomp compiler's programs are
# checked against (internal/runtime/seccomp/oracle_linux_test.go).
for p in busybox-static runc file iproute2 nftables libc6-dev gcc make docker-registry skopeo libseccomp-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
go version
make build
# Exit 1 = berth fails a file runc or crun passes here (a regression);
# exit 2 = the suite could not be built or run here (reported, not fatal).
rc=0
bash hack/conformance.sh "$PWD/bin/berth" || rc=$?
if [ "$rc" = 1 ]; then echo "conformance regression" >&2; exit 1; fi
# Exit 1 = a test berth runs fails (fatal); exit 2 = the suite could not
# be built or run here (reported, not fatal).
rc=0
bash hack/registry-conformance.sh "$PWD/bin/berth" || rc=$?
if [ "$rc" = 1 ]; then echo "registry conformance failure" >&2; exit 1; fi
if [ "$rc" = 2 ]; then echo "registry conformance suite could not run (not fatal)" >&2; fi
make go-test
