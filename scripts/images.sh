#!/usr/bin/env bash
# Build the test images (Debian 12 bookworm, Debian 13 trixie) with debootstrap and
# `podman import`: no registry is reachable. On each base image, `podman build` adds
#   <suite>-qemu-rN         QEMU, busybox and the suite's cloud kernel (a real guest under TCG),
#                           and the modules' bindings (python3-apt)
#   <suite>-qemu-legacy-rN  the same with the iptables alternative set to iptables-legacy
#   bookworm-peers-rN       systemd as PID 1 with the real peers: docker.io (20.10) and
#                           libvirt-daemon-system (9.0), both disabled: a scenario starts
#                           them before or after this collection's run
#   bookworm-ifupdown2-rN   systemd as PID 1 with ifupdown2 (Proxmox VE's ifupdown) instead of
#                           ifupdown, its /etc/network/interfaces sourcing interfaces.d
#   bookworm-nm-rN          systemd as PID 1 with NetworkManager (1.42) and dnsmasq-base
#   bookworm-dhcp-rN        systemd as PID 1 with ifupdown + isc-dhcp-client and networkd,
#                           and dnsmasq-base (a DHCP uplink's LAN)
#   bookworm-frr-rN         systemd as PID 1 with ifupdown and networkd, FRR 8.4 (+ frr-reload.py)
#                           and dnsmasq-base (hypervisors of a fabric)
#   <suite>-boot-rN         the qemu image with systemd as PID 1 and udev (networkd waits for it), ifupdown (+ bridge-utils)
#                           and systemd-networkd (either enabled by a scenario), and on
#                           bookworm docker.io enabled: a reboot is a container restart
# An image that exists is reused; bump IMAGE_REV / QEMU_REV when the package lists
# change so stale images are not reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/tests/podman/containers.conf}
IMAGE_REV=1
QEMU_REV=2
INCLUDE=python3,iproute2,iptables,nftables,procps,python3-pyroute2,python3-nftables,iputils-ping
suites=${*:-bookworm trixie}

mirror() {
  # The Debian mirror apt already uses (deb822 .sources first, then one-line lists).
  local uri
  uri=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -E '/debian/?$' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
          | grep -E '/debian/?$' | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

reused() {
  # reused TAG: true (and says so) when the image exists already
  podman image exists "$1" && echo "images: $1 exists, reused"
}

build() {
  local suite=$1 tag="localhost/hn-test:$1-r$IMAGE_REV" root
  reused "$tag" && return 0
  root=$(mktemp -d /var/tmp/hn-rootfs-$suite.XXXXXX)
  echo "images: debootstrap $suite from $(mirror)"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$root" "$(mirror)" > "$root.log" 2>&1; then
    tail -n 30 "$root.log"; rm -rf "$root" "$root.log"; return 1
  fi
  # plain-HTTP apt inside containers works; keep the same mirror for later installs
  echo "deb $(mirror) $suite main" > "$root/etc/apt/sources.list"
  tar -C "$root" -c . | podman import -q --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null
  rm -rf "$root" "$root.log"
  echo "images: built $tag"
}

derive() {
  # derive SUITE NAME CONTAINERFILE-TEXT: podman build FROM a local image, never pulling
  local tag="localhost/hn-test:$1-$2" dir
  reused "$tag" && return 0
  dir=$(mktemp -d)
  printf '%s\n' "$3" > "$dir/Containerfile"
  if ! podman build -q --pull=never -t "$tag" "$dir" > "$dir/log" 2>&1; then
    tail -n 30 "$dir/log"; rm -rf "$dir"; return 1
  fi
  rm -rf "$dir"
  echo "images: built $tag"
}

# the guest kernel is the suite's cloud kernel (small, virtio as modules), unpacked in
# /opt/guest; molecule's prepare builds the initramfs from it
QEMU_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      qemu-system-x86 busybox-static cpio kmod python3-apt >/dev/null \
 && kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk "/Depends: linux-image-[0-9]/ {print \$2; exit}") \
 && cd /tmp && apt-get download -qq "$kpkg" && mkdir -p /opt/guest \
 && dpkg-deb -x /tmp/linux-image-*.deb /opt/guest/root && rm /tmp/linux-image-*.deb \
 && cp /opt/guest/root/boot/vmlinuz-* /opt/guest/vmlinuz && rm -rf /opt/guest/root/boot'
PEERS_REV=1
PEERS_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus docker.io libvirt-daemon-system libvirt-clients dnsmasq-base \
      busybox-static >/dev/null \
 && systemctl disable docker.service docker.socket containerd.service libvirtd.service libvirtd.socket \
      libvirtd-ro.socket libvirtd-admin.socket virtlogd.socket virtlockd.socket >/dev/null 2>&1 \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1; true'
BOOT_REV=2
BOOT_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus udev ifupdown bridge-utils $BOOT_EXTRA >/dev/null \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1; true'
IFUPDOWN2_REV=1
IFUPDOWN2_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus udev ifupdown2 >/dev/null \
 && printf "source /etc/network/interfaces.d/*\\n\\nauto lo\\niface lo inet loopback\\n" > /etc/network/interfaces \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1; true'
NM_REV=1
# NetworkManager (the RHEL family's manager; Debian's desktops): dbus and udev, no ifupdown
# stanza for any NIC; dnsmasq-base plays the LAN's DHCP server and router in a namespace
NM_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus udev network-manager dnsmasq-base >/dev/null \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1; true'
DHCP_REV=1
# DHCP uplinks: ifupdown with isc-dhcp-client (dhclient) and systemd-networkd (either
# enabled by the scenario); dnsmasq-base plays the LAN's DHCP server and router
DHCP_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus udev ifupdown bridge-utils isc-dhcp-client dnsmasq-base >/dev/null \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1; true'
FRR_REV=3
# the fabric scenario's hypervisors: systemd as PID 1, ifupdown (and networkd), FRR with its
# reload tool, dnsmasq-base for the networks' DHCP; udev leaves eth0's MAC as podman made it
# (every container of one image has the same machine id, from which udev would derive one
# MAC for all of them)
FRR_STEPS='RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus udev ifupdown bridge-utils frr frr-pythontools dnsmasq-base >/dev/null \
 && printf "[Match]\\nOriginalName=eth0\\n\\n[Link]\\nMACAddressPolicy=none\\n" > /etc/systemd/network/00-hn-test-eth0.link \
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1; true'
LEGACY_STEPS='RUN update-alternatives --set iptables /usr/sbin/iptables-legacy \
 && update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy'

suite_images() {
  build "$1" || return 1
  derive "$1" "qemu-r$QEMU_REV" "FROM localhost/hn-test:$1-r$IMAGE_REV
$QEMU_STEPS" || return 1
  derive "$1" "qemu-legacy-r$QEMU_REV" "FROM localhost/hn-test:$1-qemu-r$QEMU_REV
$LEGACY_STEPS" || return 1
  if [ "$1" = bookworm ]; then
    derive "$1" "peers-r$PEERS_REV" "FROM localhost/hn-test:$1-r$IMAGE_REV
$PEERS_STEPS" || return 1
  fi
  if [ "$1" = bookworm ]; then
    derive "$1" "ifupdown2-r$IFUPDOWN2_REV" "FROM localhost/hn-test:$1-r$IMAGE_REV
$IFUPDOWN2_STEPS" || return 1
    derive "$1" "nm-r$NM_REV" "FROM localhost/hn-test:$1-r$IMAGE_REV
$NM_STEPS" || return 1
    derive "$1" "dhcp-r$DHCP_REV" "FROM localhost/hn-test:$1-r$IMAGE_REV
$DHCP_STEPS" || return 1
    derive "$1" "frr-r$FRR_REV" "FROM localhost/hn-test:$1-r$IMAGE_REV
$FRR_STEPS" || return 1
  fi
  local extra=""
  [ "$1" = bookworm ] && extra="docker.io"
  derive "$1" "boot-r$BOOT_REV" "FROM localhost/hn-test:$1-qemu-r$QEMU_REV
${BOOT_STEPS//\$BOOT_EXTRA/$extra}"
}

pids=()
for s in $suites; do suite_images "$s" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
