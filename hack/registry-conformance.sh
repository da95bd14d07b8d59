#!/usr/bin/env bash
# Run the OCI distribution-spec conformance suite against
# `berth registry serve` (or, with TARGET=docker-registry, against Debian's
# docker-registry, CNCF distribution 2.8, for comparison) and print one
# summary line.
#
#   hack/registry-conformance.sh BERTH_BINARY [OUTDIR]
#
# The suite is the Go module github.com/opencontainers/distribution-spec/conformance
# from the Go module proxy; its test binary is built with `go test -c` in a
# temporary module (cached in OUTDIR/bin; REBUILD=1 rebuilds). Two versions
# are on the proxy and both run (see docs/conformance.md):
#   - 97274622c111 (2026), configured by OCI_REGISTRY, OCI_TLS, OCI_REPO1,
#     OCI_REPO2, OCI_VERSION: runs with the "1.1" profile, the "dev" profile,
#     and the 1.1 profile again over HTTPS with htpasswd basic auth;
#   - f2182352d4cc (2023, the ginkgo suite of the v1.1.0 release), configured
#     by OCI_ROOT_URL, OCI_NAMESPACE, OCI_CROSSMOUNT_NAMESPACE, OCI_TEST_*.
# Each run gets a fresh registry root on a free 127.0.0.1 port. Results go
# to OUTDIR/<run>/ (junit.xml, report.html, the suite's output, the
# registry's log); OUTDIR defaults to _out/registry-conformance.
#
# Exit status: 0 when every test that runs passes (the profiles' own
# disabled tests and the ginkgo suite's alternative branches aside), 1 when
# a test fails or is skipped because the registry lacks something, 2 when
# the suite could not be built or the registry could not be started.
set -u -o pipefail

NEW_VERSION=v0.0.0-20260831232431-97274622c111
OLD_VERSION=v0.0.0-20231101194043-f2182352d4cc
MODULE=github.com/opencontainers/distribution-spec/conformance
# Tests of the ginkgo suite that are alternatives of each other: one of each
# pair is skipped by design (a preloaded tag or a push; a mount answered 201
# or 202; automatic cross-mount on or off; push enabled or not).
OLD_BRANCH_SKIPS="Pull Setup Get tag name from environment
Cross-mounting of nonexistent blob should yield session id
automatic content discovery disabled should return a 202
Populate registry with test tags (no push)"

usage() { echo "usage: $0 BERTH_BINARY [OUTDIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
target=${TARGET:-berth}
berth=$(readlink -f -- "$1" 2>/dev/null || true)
case $target in
berth) [ -n "$berth" ] && [ -x "$berth" ] || { echo "registry-conformance: berth binary not found: $1" >&2; exit 2; } ;;
docker-registry) command -v docker-registry >/dev/null || { echo "registry-conformance: docker-registry is not installed" >&2; exit 2; } ;;
*) echo "registry-conformance: TARGET must be berth or docker-registry" >&2; exit 2 ;;
esac
outdir=${2:-$repo/_out/registry-conformance}
mkdir -p -- "$outdir/bin" || exit 2
outdir=$(cd -- "$outdir" && pwd)
work=$(mktemp -d /tmp/registry-conformance.XXXXXX) || exit 2
regpid=""
cleanup() {
    [ -z "$regpid" ] || { kill "$regpid" 2>/dev/null; wait "$regpid" 2>/dev/null; }
    rm -rf -- "$work"
}
trap cleanup EXIT

# build VERSION OUT: the suite's test binary, with `go test -c`.
build() {
    local version=$1 out=$2 mod
    if [ -x "$out" ] && [ "${REBUILD:-0}" = 0 ]; then return 0; fi
    mod=$(mktemp -d "$work/build.XXXXXX") || return 1
    if ! (cd "$mod" && go mod init conformance-build &&
        go get -t "$MODULE@$version" &&
        go test -c -o "$out.tmp" "$MODULE") >"$out.log" 2>&1; then
        echo "registry-conformance: building the suite $version failed:" >&2
        tail -20 "$out.log" >&2
        return 1
    fi
    mv -f -- "$out.tmp" "$out"
}
newsuite=$outdir/bin/conformance-$NEW_VERSION.test
oldsuite=$outdir/bin/conformance-$OLD_VERSION.test
if ! build "$NEW_VERSION" "$newsuite" || ! build "$OLD_VERSION" "$oldsuite"; then
    echo "registry-conformance: the suite could not be built" >&2
    exit 2
fi
# htpasswd (bcrypt) and a self-signed certificate for the secure run.
password=conformance-$RANDOM$RANDOM
if ! (cd "$repo" && go run ./hack/registry-creds "$work" conformance "$password") >"$work/creds.log" 2>&1; then
    echo "registry-conformance: could not make test credentials:" >&2
    cat "$work/creds.log" >&2
    exit 2
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_registry RUNDIR SECURE: starts the target on a free port with a
# fresh root; sets addr and regpid.
start_registry() {
    local dir=$1 secure=$2 deadline
    addr=""
    if [ "$target" = berth ]; then
        local args=(registry serve --addr 127.0.0.1:0 --root "$dir/root")
        [ "$secure" = 0 ] || args+=(--htpasswd "$work/htpasswd" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
        "$berth" "${args[@]}" >"$dir/registry.log" 2>&1 &
        regpid=$!
        deadline=$((SECONDS + 30))
        while [ -z "$addr" ] && [ $SECONDS -lt $deadline ] && kill -0 "$regpid" 2>/dev/null; do
            addr=$(grep -o 'url=https\?://127.0.0.1:[0-9]*' "$dir/registry.log" | head -1 | sed 's|^url=https\?://||')
            [ -n "$addr" ] || sleep 0.1
        done
    else
        local port
        for _ in $(seq 50); do
            port=$((20000 + RANDOM % 40000))
            port_free "$port" && break
        done
        {
            echo "version: 0.1"
            echo "log: {level: error}"
            echo "storage:"
            echo "  filesystem: {rootdirectory: $dir/root}"
            echo "  delete: {enabled: true}"
            echo "http:"
            echo "  addr: 127.0.0.1:$port"
            [ "$secure" = 0 ] || echo "  tls: {certificate: $work/cert.pem, key: $work/key.pem}"
            [ "$secure" = 0 ] || echo "auth: {htpasswd: {realm: conformance, path: $work/htpasswd}}"
        } >"$dir/config.yml"
        docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
        regpid=$!
        deadline=$((SECONDS + 30))
        while [ $SECONDS -lt $deadline ] && kill -0 "$regpid" 2>/dev/null; do
            if ! port_free "$port"; then addr=127.0.0.1:$port; break; fi
            sleep 0.1
        done
    fi
    if [ -z "$addr" ]; then
        echo "registry-conformance: $target did not start; its log:" >&2
        cat "$dir/registry.log" >&2
        return 1
    fi
}

stop_registry() {
    [ -z "$regpid" ] || { kill "$regpid" 2>/dev/null; wait "$regpid" 2>/dev/null; }
    regpid=""
}

# attr FILE NAME: an attribute of the first <testsuite> element (0 if absent).
attr() {
    local v
    v=$(grep -o '<testsuite [^>]*>' "$1" | head -1 | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]*')
    echo "${v:-0}"
}

summary=() status=0
# run NAME SUITE(new|old) SECURE [ENV...]
run() {
    local name=$1 kind=$2 secure=$3 dir tests fail err skip dis passed note
    shift 3
    dir=$outdir/$name
    rm -rf -- "$dir"; mkdir -p -- "$dir/results"
    if ! start_registry "$dir" "$secure"; then stop_registry; return 2; fi
    local env=()
    if [ "$kind" = new ]; then
        env=(OCI_REGISTRY="$addr" OCI_TLS=disabled OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2
            OCI_RESULTS_DIR="$dir/results" "$@")
        # The suite's OCI_TLS=insecure still verifies certificates: trust
        # the test certificate instead (Go reads SSL_CERT_FILE).
        [ "$secure" = 0 ] || env+=(OCI_TLS=enabled SSL_CERT_FILE="$work/cert.pem"
            OCI_USERNAME=conformance OCI_PASSWORD="$password")
        (cd "$dir" && env "${env[@]}" "$newsuite" >"$dir/output.txt" 2>&1)
    else
        env=(OCI_ROOT_URL="http://$addr" OCI_NAMESPACE=conformance/repo1 OCI_CROSSMOUNT_NAMESPACE=conformance/repo2
            OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1
            OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0 OCI_AUTOMATIC_CROSSMOUNT=1 OCI_REPORT_DIR="$dir/results" "$@")
        (cd "$dir" && env "${env[@]}" "$oldsuite" -test.timeout 10m >"$dir/output.txt" 2>&1)
    fi
    stop_registry
    local junit=$dir/results/junit.xml
    if [ ! -s "$junit" ]; then
        echo "registry-conformance: $name: the suite wrote no results; its output:" >&2
        tail -30 "$dir/output.txt" >&2
        return 2
    fi
    tests=$(attr "$junit" tests) fail=$(attr "$junit" failures) err=$(attr "$junit" errors)
    skip=$(attr "$junit" skipped) dis=$(attr "$junit" disabled)
    passed=$((tests - fail - err - skip - dis))
    if [ "$kind" = old ]; then
        # Only the suite's alternative branches may be skipped.
        local unexpected
        unexpected=$(grep -o '<testcase name="[^"]*"[^>]*status="skipped"' "$junit" | sed 's/^<testcase name="\[It\] //; s/".*//' |
            grep -v -F "$OLD_BRANCH_SKIPS")
        if [ -n "$unexpected" ]; then
            echo "registry-conformance: $name: skipped because of the registry:" >&2
            echo "$unexpected" | sed 's/^/  /' >&2
            status=1
        fi
    else
        if [ "$skip" != 0 ]; then
            status=1
            echo "registry-conformance: $name: $skip tests skipped because the registry lacks an API:" >&2
            grep -B1 -E ': Skip$' "$dir/output.txt" | grep -E ': Skip$' | head -20 | sed 's/^/  /' >&2
        fi
    fi
    if [ "$fail" != 0 ] || [ "$err" != 0 ]; then
        status=1
        echo "registry-conformance: $name: $fail failed, $err errors:" >&2
        grep -E ': (Fail|Error)$|^ *- ' "$dir/output.txt" | head -40 | sed 's/^/  /' >&2
        grep -A3 '\[FAIL\]' "$dir/output.txt" | head -40 >&2
    fi
    note="$name $passed passed"
    [ "$fail" = 0 ] || note="$note, $fail FAILED"
    [ "$err" = 0 ] || note="$note, $err errors"
    [ "$skip" = 0 ] || { [ "$kind" = old ] && note="$note, $skip skipped (the suite's alternative branches)"; } ||
        note="$note, $skip skipped"
    [ "$dis" = 0 ] || note="$note, $dis disabled by the profile"
    note="$note (of $tests)"
    summary+=("$note")
    return 0
}

for spec in "oci-1.1 new 0 OCI_VERSION=1.1" "oci-dev new 0 OCI_VERSION=dev" \
    "oci-1.1-htpasswd-tls new 1 OCI_VERSION=1.1" "ginkgo-v1.1.0 old 0"; do
    # shellcheck disable=SC2086
    run $spec
    rc=$?
    if [ "$rc" = 2 ]; then exit 2; fi
done
line="registry-conformance: $target: $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g')"
if [ "$status" = 0 ]; then
    echo "$line: every test that runs passes"
else
    echo "$line: FAILURES (see above and $outdir)"
fi
exit "$status"
