#!/usr/bin/env bash
# Drive berth as the OCI runtime of real engines: dockerd (--add-runtime via
# daemon.json) and podman (--runtime). Needs the peers that
# hack/install-peers.sh installs (and its berth-bench/busybox image).
#
#   hack/engines-check.sh BERTH_BINARY
#
# Prints one line per check and "engines: N passed, M failed".
set -u -o pipefail
berth=$(readlink -f "${1:?usage: $0 BERTH_BINARY}")
repo=$(cd "$(dirname "$0")/.." && pwd)
# podman's conmon writes an "oom" file into its working directory when
# the container is OOM-killed: keep that out of the caller's directory.
work=$(mktemp -d /tmp/berth-engines.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
bash "$repo/hack/install-peers.sh" >/dev/null 2>&1 || { echo "engines: peers could not be installed" >&2; exit 2; }
wrapper=/usr/local/bin/berth-runtime
install -m 0755 "$berth" /usr/local/bin/berth
printf '#!/bin/sh\nexec /usr/local/bin/berth runtime "$@"\n' > "$wrapper"; chmod +x "$wrapper"
python3 - <<'PY'
import json
p='/etc/docker/daemon.json'
try: c=json.load(open(p))
except Exception: c={}
c.setdefault('runtimes',{})['berth']={'path':'/usr/local/bin/berth-runtime'}
json.dump(c,open(p,'w'),indent=2)
PY
kill -HUP "$(pidof dockerd)"; sleep 2
IMG=berth-bench/busybox
pass=0 fail=0
check() { # name expected-output command...
    local name=$1 want=$2; shift 2
    local got; got=$(timeout 60 "$@" 2>&1 | tr -d '\r')
    if [ "$got" = "$want" ]; then pass=$((pass+1)); echo "ok   $name"; else fail=$((fail+1)); echo "FAIL $name: got '$got' want '$want'"; fi
}
for eng in docker podman; do
    if [ $eng = docker ]; then E=(docker); RT=(--runtime berth); else E=(podman --runtime "$wrapper"); RT=(); fi
    c=berth-check-$eng
    "${E[@]}" rm -f $c >/dev/null 2>&1
    check "$eng run" "hi" "${E[@]}" run --rm "${RT[@]}" $IMG echo hi
    check "$eng exit code" "rc=3" sh -c "${E[*]} run --rm ${RT[*]} $IMG sh -c 'exit 3'; echo rc=\$?"
    check "$eng stdin" "piped" sh -c "echo piped | ${E[*]} run --rm -i ${RT[*]} $IMG cat"
    check "$eng run -d with limits" "" sh -c "${E[*]} run -d --name $c ${RT[*]} -m 64m --pids-limit 40 --cpus 0.5 $IMG sleep 1000 >/dev/null"
    check "$eng limits in cgroupfs" "67108864 40 50000" "${E[@]}" exec $c sh -c 'echo $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us)'
    check "$eng exec exit code" "rc=4" sh -c "${E[*]} exec $c sh -c 'exit 4'; echo rc=\$?"
    check "$eng pause" "paused" sh -c "${E[*]} pause $c >/dev/null && ${E[*]} inspect -f '{{.State.Status}}' $c"
    check "$eng unpause" "running" sh -c "${E[*]} unpause $c >/dev/null && ${E[*]} inspect -f '{{.State.Status}}' $c"
    check "$eng stop" "exited" sh -c "${E[*]} stop -t 1 $c >/dev/null 2>&1; ${E[*]} inspect -f '{{.State.Status}}' $c"
    check "$eng rm" "" sh -c "${E[*]} rm $c >/dev/null"
    check "$eng oom kill" "rc=137" sh -c "${E[*]} run --rm ${RT[*]} -m 16m $IMG sh -c 'x=\$(head -c 40000000 /dev/zero | tr \"\\\\0\" a)' >/dev/null 2>&1; echo rc=\$?"
    check "$eng tty" "/dev/pts/0" sh -c "script -qc '${E[*]} run --rm -t ${RT[*]} $IMG tty' /dev/null </dev/null"
done
echo "engines: $pass passed, $fail failed"
[ $fail = 0 ]
