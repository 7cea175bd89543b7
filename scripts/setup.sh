#!/usr/bin/env bash
# One-time (idempotent, quick when done) set-up of a fresh Debian 12 machine as root:
# system packages, a running Docker engine, and the npm workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# golang-go and busybox-static: unmodified programs the kernel's corpus test runs
# (packages/kernel-rs/test/linux-corpus.test.ts); gdb: `tarscli os gdb`.
PACKAGES=(
  qemu-system-x86 qemu-utils ovmf
  grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools dosfstools
  docker.io iptables debootstrap busybox-static golang-go gdb
  libvirt-daemon-system libvirt-clients
  build-essential binutils ca-certificates curl xz-utils clang zlib1g-dev jq diffoscope-minimal lld
)

# CUDA: nvcc comes from Debian's non-free component (about 2.4 GB); TARS_SKIP_CUDA=1 skips it.
if [ "${TARS_SKIP_CUDA:-0}" != "1" ]; then
  PACKAGES+=(nvidia-cuda-toolkit)
  if ! grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "setup: enabling Debian's contrib/non-free components (for nvidia-cuda-toolkit)" >&2
    cat > /etc/apt/sources.list.d/tars-non-free.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -f /var/lib/apt/lists/lock
    apt-get update -qq
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A Docker engine: start dockerd when none answers.
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd" >&2
  mkdir -p /var/log
  (dockerd >/var/log/tars-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/tars-dockerd.log" >&2; tail -20 /var/log/tars-dockerd.log >&2; exit 1; }
fi

# libvirt (`os deploy --to libvirt`): no systemd here, so start virtlogd and libvirtd when
# qemu:///system does not answer. /dev/kvm gets what Debian's udev rule gives it (root:kvm 0660)
# where no udev ran: libvirt checks KVM access as its QEMU user (libvirt-qemu, group kvm), and
# without it discards its QEMU capability cache on every call (each `virsh define` re-probed
# QEMU for ~40 s). Domains themselves run TCG (<domain type='qemu'>).
if [ -c /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" = root ] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 660 /dev/kvm || echo "setup: could not give /dev/kvm to group kvm (libvirt will be slow to define domains)" >&2
fi
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  echo "setup: starting virtlogd and libvirtd" >&2
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  for _ in $(seq 1 60); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.5
  done
  virsh -c qemu:///system version >/dev/null 2>&1 || { echo "setup: libvirtd did not answer on qemu:///system" >&2; exit 1; }
fi

# npm workspace (lockfile-exact).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
