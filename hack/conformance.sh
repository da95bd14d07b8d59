#!/usr/bin/env bash
# Run the OCI runtime-tools validation suite (58 test files) against
# `berth runtime` and print one summary line.
#
#   hack/conformance.sh BERTH_BINARY [OUTDIR]
#
# It writes a wrapper that execs `BERTH_BINARY runtime "$@"` and hands it to
# the shared ../shared/tools/oci-validation/run.sh (relative to the repository
# root; /work/shared/tools/oci-validation/run.sh as a fallback), which builds
# the suite (first time: a few minutes, through the Go module proxy) and runs
# every test file with a per-test timeout. Results: OUTDIR/files.txt (one line
# per test file), OUTDIR/<test>.tap and OUTDIR/<test>.stderr, OUTDIR/summary.txt.
# OUTDIR defaults to _out/conformance in the repository.
#
# Output: the suite's per-file lines on stderr, then on stdout
#   conformance: N passed, M failed (of 58)
# and the failed test files with their reasons. Files that runc 1.1.5 or
# crun 1.8.1 pass on this machine (PEER_PASSED below, see docs/conformance.md)
# and berth fails are listed as regressions.
#
# Exit status: 0 when every PEER_PASSED file passes (or STRICT=0), 1 when one
# of them fails, 2 when the suite could not run. TESTS="a b" runs a subset
# (see run.sh for its other knobs: TEST_TIMEOUT, RT_TOOLS_DIR, REBUILD).
set -u -o pipefail

usage() { echo "usage: $0 BERTH_BINARY [OUTDIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
berth=$(readlink -f -- "$1" 2>/dev/null || true)
[ -n "$berth" ] && [ -f "$berth" ] && [ -x "$berth" ] || { echo "conformance: berth binary not found or not executable: $1" >&2; exit 2; }
outdir=${2:-$repo/_out/conformance}

runsh=""
for cand in "$repo/../shared/tools/oci-validation/run.sh" /work/shared/tools/oci-validation/run.sh; do
    if [ -f "$cand" ]; then runsh=$(readlink -f -- "$cand"); break; fi
done
[ -n "$runsh" ] || { echo "conformance: oci-validation/run.sh not found (looked in $repo/../shared/tools and /work/shared/tools)" >&2; exit 2; }

# Files that runc 1.1.5 or crun 1.8.1 pass on this machine (measured with
# run.sh; see docs/conformance.md). berth must pass all of them. RACY files
# pass or fail from run to run for a runtime that implements them (the
# suite races the container process, see docs/conformance.md): reported,
# but not counted as regressions.
RACY="pidfile poststart killsig"
PEER_PASSED="config_updates_without_affect create default delete_only_create_resources
delete_resources hostname kill kill_no_effect killsig linux_cgroups_cpus
linux_cgroups_devices linux_cgroups_hugetlb linux_cgroups_pids
linux_cgroups_relative_cpus linux_cgroups_relative_devices
linux_cgroups_relative_hugetlb linux_cgroups_relative_pids linux_devices
linux_masked_paths linux_mount_label linux_ns_itype linux_ns_nopath linux_ns_path
linux_ns_path_type linux_readonly_paths linux_seccomp linux_sysctl
linux_uid_mappings mounts poststart_fail poststop prestart_fail process
process_oom_score_adj process_rlimits_fail process_user root_readonly_true state"

# The suite reads hugetlb limits in a v1 hugetlb hierarchy. On a hybrid
# host whose hugetlb controller sits on the unified (v2) mount no runtime
# can pass those two files (runc and crun fail them too), so they are
# required only where /sys/fs/cgroup/hugetlb is a v1 hugetlb mount.
if ! awk '$2 == "/sys/fs/cgroup/hugetlb" && $3 == "cgroup" {f=1} END {exit !f}' /proc/self/mounts; then
    PEER_PASSED=$(printf '%s\n' $PEER_PASSED | grep -v hugetlb | tr '\n' ' ')
    echo "conformance: no v1 hugetlb hierarchy here; the hugetlb files are not required" >&2
fi

# The wrapper lives in its own directory and is named berth-runtime, so that
# run.sh (which resolves symlinks and names results after the binary) runs it.
wrapdir=$(mktemp -d /tmp/berth-conformance.XXXXXX) || exit 2
trap 'rm -rf -- "$wrapdir"' EXIT
chmod 0755 "$wrapdir"
wrapper=$wrapdir/berth-runtime
printf '#!/bin/sh\nexec %q runtime "$@"\n' "$berth" > "$wrapper"
chmod 0755 "$wrapper"

mkdir -p -- "$outdir" || exit 2
rm -f -- "$outdir/files.txt" "$outdir/summary.txt"
bash "$runsh" "$wrapper" "$outdir" >&2
rc=$?
files=$outdir/files.txt
if [ ! -s "$files" ]; then
    echo "conformance: the suite did not run (run.sh exit $rc); see the output above" >&2
    exit 2
fi

passed=$(awk -F'\t' '$1 == "PASS"' "$files" | wc -l)
failed=$(awk -F'\t' '$1 == "FAIL"' "$files" | wc -l)
echo "conformance: $passed passed, $failed failed (of 58)"
if [ "$failed" -gt 0 ]; then
    echo "failed test files:"
    awk -F'\t' '$1 == "FAIL" { printf "  %s (%s)\n", $2, $8 }' "$files"
fi
regressions="" racy=""
for t in $RACY; do
    if awk -F'\t' -v t="$t" '$2 == t && $1 == "FAIL" {f=1} END {exit !f}' "$files"; then
        racy="$racy $t"
    fi
done
[ -z "$racy" ] || echo "failed, racy in the suite (they pass or fail from run to run):$racy"
for t in $PEER_PASSED; do
    case " $RACY " in *" $t "*) continue ;; esac
    if awk -F'\t' -v t="$t" '$2 == t && $1 == "FAIL" {f=1} END {exit !f}' "$files"; then
        regressions="$regressions $t"
    fi
done
if [ -n "$regressions" ]; then
    echo "failed although runc or crun passes them here:$regressions"
    [ "${STRICT:-1}" = 0 ] || exit 1
fi
[ "$rc" = 0 ] || { echo "conformance: run.sh exited $rc" >&2; exit 2; }
exit 0
