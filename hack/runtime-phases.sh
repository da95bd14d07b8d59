#!/bin/bash
# runtime-phases.sh N BUNDLE RUNTIME [ARGS...]: where the time of
# `RUNTIME ARGS --root STATE run --bundle BUNDLE ID` goes. Records exec,
# fork, exit, mount, mkdir, unshare, clone3, pivot_root and wait4 events
# system-wide with `perf record -a` over N runs and prints, per event of
# the runtime's processes, its median time in milliseconds after the
# runtime's exec. Diagnostics for docs/ARCHITECTURE.md ("Where the time of
# a container start goes"); the figures of record come from bench/.
#
#   hack/runtime-phases.sh 30 /tmp/bundle crun
#   hack/runtime-phases.sh 30 /tmp/bundle bin/berth runtime
set -euo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 N BUNDLE RUNTIME [ARGS...]" >&2
	exit 2
fi
n=$1 bundle=$2
shift 2
command -v perf >/dev/null || { echo "$0: needs perf (apt install linux-perf)" >&2; exit 1; }
runtime=$(command -v "$1") || { echo "$0: $1: not found" >&2; exit 1; }
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
events='sched:sched_process_exec,sched:sched_process_exit,sched:sched_process_fork'
for s in pivot_root mount mkdirat unshare clone3 wait4 exit_group; do
	events+=",syscalls:sys_enter_$s"
done
perf record -q -a -o "$tmp/perf.data" -e "$events" -- \
	sh -c 'n=$1 bundle=$2 root=$3; shift 3; for i in $(seq "$n"); do "$@" --root "$root" run --bundle "$bundle" "phase$$-$i" >/dev/null || exit 1; done' \
	sh "$n" "$bundle" "$tmp/state" "$runtime" "$@" >/dev/null 2>&1
perf script -i "$tmp/perf.data" -F comm,tid,time,event,trace 2>/dev/null >"$tmp/events.txt"
python3 - "$tmp/events.txt" "$(basename "$runtime")" <<'PY'
import collections, re, statistics, sys

rows = []
for line in open(sys.argv[1]):
    m = re.match(r'\s*(\S.*?)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)', line)
    if m:
        rows.append((m.group(1), int(m.group(2)), float(m.group(3)) * 1000, m.group(4).split(':')[1], m.group(5)))
binary = sys.argv[2]
runs, cur = [], None
for comm, tid, t, ev, trace in rows:
    if comm.startswith('perf') or comm == 'sh':
        continue
    if cur is None:
        if ev == 'sched_process_exec' and trace.split()[0].endswith('/' + binary):
            cur = {'start': t, 'pid': tid, 'events': []}
        continue
    if ev == 'sched_process_exec':
        ev += ' ' + trace.split()[0]
    who = comm + ('' if tid == cur['pid'] else ' (other)')
    cur['events'].append((t - cur['start'], who, ev))
    if ev == 'sched_process_exit' and tid == cur['pid']:
        runs.append(cur)
        cur = None
# The k-th occurrence of each (process, event); mounts and mkdirs only first and last.
times = collections.defaultdict(list)
for r in runs:
    seen, last = collections.Counter(), {}
    for t, who, ev in r['events']:
        key = (who, ev)
        seen[key] += 1
        if ev in ('sys_enter_mount', 'sys_enter_mkdirat'):
            if seen[key] == 1:
                times[(who, ev, 'first')].append(t)
            last[key] = t
        else:
            times[(who, ev, seen[key])].append(t)
    for (who, ev), t in last.items():
        times[(who, ev, 'last')].append(t)
print('%d runs of %s' % (len(runs), binary))
for key, v in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
    if len(v) >= len(runs) // 2 and not (key[1] == 'sched_process_fork' and key[2] != 1):
        print('%7.2f ms  %-22s %s %s' % (statistics.median(v), key[0], key[1], key[2]))
PY
