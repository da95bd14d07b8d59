#!/usr/bin/env bash
# Install and configure berth's peers for side-by-side checks and benchmarks:
# runc, crun, podman, docker (dockerd + containerd), skopeo, buildah, umoci,
# docker-registry, busybox-static, hyperfine. Idempotent: safe to run again.
#
#   hack/install-peers.sh            install, configure, start daemons
#   NO_DAEMONS=1 hack/install-peers.sh   install and configure only
#
# What this machine needs beyond apt-get install (see ../shared/GUIDE.md):
#  - crun refuses the hybrid cgroup layout (v1 controllers + a cgroup2 mount
#    holding only hugetlb) until a v1 hugetlb hierarchy is mounted;
#  - no CAP_SYS_RESOURCE, hard nofile limit 20000: podman's and dockerd's
#    default ulimits (1048576) cannot be set, so both get 20000;
#  - no systemd: containerd and dockerd are started in the background here,
#    logging to /var/log/{containerd,dockerd}.log.
set -euo pipefail

log() { printf '[install-peers] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root"; exit 2; }
export DEBIAN_FRONTEND=noninteractive

# ------------------------------------------------------------------ packages --
PKGS=(runc crun podman docker.io containerd skopeo buildah umoci docker-registry
      busybox-static hyperfine uidmap)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    # Other sessions may hold the dpkg lock: wait for it instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # Starting services is pointless here (no systemd) and would race our own
    # start below: keep maintainer scripts from starting anything.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
    rm -f "$policy"; trap - EXIT
fi

# ------------------------------------------------------- crun: v1 hugetlb ----
# On a hybrid host crun looks for every controller of /proc/self/cgroup in v1;
# without a v1 hugetlb hierarchy it fails with "cannot find cgroup hugetlb".
if [ -d /sys/fs/cgroup/unified ] && [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
    if ! awk '$9 == "cgroup" && $NF ~ /(^|,)hugetlb(,|$)/ {f=1} END {exit !f}' /proc/self/mountinfo; then
        if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
            log "hugetlb is bound to cgroup2 (controllers: $(cat /sys/fs/cgroup/unified/cgroup.controllers)); mounting a v1 hugetlb hierarchy anyway"
        fi
        mkdir -p /sys/fs/cgroup/hugetlb
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
        log "mounted v1 hugetlb hierarchy at /sys/fs/cgroup/hugetlb"
    fi
fi

# --------------------------------------------------- podman: default ulimits --
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
touch "$conf"
if ! grep -q '^[[:space:]]*default_ulimits' "$conf"; then
    line='default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]'
    if grep -q '^\[containers\]' "$conf"; then
        sed -i "/^\[containers\]/a $line" "$conf"
    else
        printf '\n[containers]\n%s\n' "$line" >> "$conf"
    fi
    log "set podman default_ulimits in $conf"
fi
# podman without systemd: cgroupfs manager, file events log.
if ! grep -q '^[[:space:]]*cgroup_manager' "$conf"; then
    if grep -q '^\[engine\]' "$conf"; then
        sed -i '/^\[engine\]/a cgroup_manager = "cgroupfs"\nevents_logger = "file"' "$conf"
    else
        printf '\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >> "$conf"
    fi
    log "set podman cgroup_manager=cgroupfs, events_logger=file in $conf"
fi

# ------------------------------------------------ docker: daemon.json ulimits --
mkdir -p /etc/docker
dj=/etc/docker/daemon.json
if [ ! -s "$dj" ]; then
    cat > "$dj" <<'JSON'
{
  "default-ulimits": {
    "nofile": { "Name": "nofile", "Hard": 20000, "Soft": 20000 }
  }
}
JSON
    log "wrote default-ulimits to $dj"
elif ! grep -q '"default-ulimits"' "$dj"; then
    # Merge into an existing daemon.json.
    command -v python3 >/dev/null || { log "$dj exists without default-ulimits and python3 is missing: add it by hand"; exit 1; }
    python3 - "$dj" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    cfg = json.load(f)
cfg["default-ulimits"] = {"nofile": {"Name": "nofile", "Hard": 20000, "Soft": 20000}}
with open(path + ".tmp", "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
import os
os.replace(path + ".tmp", path)
PY
    log "added default-ulimits to $dj"
fi

# ---------------------------------------------------------------- daemons ----
wait_for() {  # $1 = what, $2 = seconds, rest = command that succeeds when ready
    local what=$1 secs=$2 i; shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "$what did not come up within ${secs}s"; return 1
}

if [ "${NO_DAEMONS:-0}" != 1 ]; then
    if ! ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
        log "starting containerd (log: /var/log/containerd.log)"
        setsid containerd </dev/null >>/var/log/containerd.log 2>&1 &
        wait_for containerd 30 ctr --address /run/containerd/containerd.sock version
    fi
    if ! docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
        log "starting dockerd (log: /var/log/dockerd.log)"
        setsid dockerd --containerd /run/containerd/containerd.sock </dev/null >>/var/log/dockerd.log 2>&1 &
        wait_for dockerd 60 docker -H unix:///var/run/docker.sock version
    fi
fi

# ------------------------------------------------------- busybox test image --
# No registry is reachable: import a busybox image built from busybox-static
# into docker and podman (the same rootfs tar), then run it once as a check.
IMAGE=${IMAGE:-berth-bench/busybox:latest}
if [ "${NO_DAEMONS:-0}" != 1 ]; then
    need_docker=0; need_podman=0
    docker image inspect "$IMAGE" >/dev/null 2>&1 || need_docker=1
    podman image exists "$IMAGE" 2>/dev/null || need_podman=1
    if [ $need_docker = 1 ] || [ $need_podman = 1 ]; then
        tmp=$(mktemp -d)
        mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/tmp"
        chmod 1777 "$tmp/rootfs/tmp"
        cp /bin/busybox "$tmp/rootfs/bin/busybox"
        for a in $(/bin/busybox --list); do
            [ "$a" = busybox ] || ln -sf busybox "$tmp/rootfs/bin/$a"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$tmp/rootfs/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/rootfs/etc/group"
        tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
        change='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
        if [ $need_docker = 1 ]; then
            docker import -c "$change" -c 'CMD ["sh"]' "$tmp/rootfs.tar" "$IMAGE" >/dev/null
            log "imported $IMAGE into docker"
        fi
        if [ $need_podman = 1 ]; then
            podman import -q -c "$change" -c 'CMD ["sh"]' "$tmp/rootfs.tar" "$IMAGE" >/dev/null
            log "imported $IMAGE into podman"
        fi
        rm -rf "$tmp"
    fi
    docker run --rm --network none "$IMAGE" true || { log "docker run of $IMAGE failed"; exit 1; }
    podman run --rm --network none "$IMAGE" true || { log "podman run of $IMAGE failed"; exit 1; }
    log "docker and podman ran $IMAGE"
fi

log "peers: runc $(runc --version | awk 'NR==1{print $3}'), crun $(crun --version | awk 'NR==1{print $3}'), podman $(podman --version | awk '{print $3}'), docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '(daemon not running)')"
