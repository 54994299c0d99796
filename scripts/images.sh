#!/usr/bin/env bash
# Build the test images (Debian 12 bookworm, Debian 13 trixie) with debootstrap and
# `podman import`: no registry is reachable. An image that exists is reused; bump
# IMAGE_REV when the package list changes so stale images are not reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/tests/podman/containers.conf}
IMAGE_REV=1
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

build() {
  local suite=$1 tag="localhost/hn-test:$1-r$IMAGE_REV" root
  if podman image exists "$tag"; then
    echo "images: $tag exists, reused"
    return 0
  fi
  root=$(mktemp -d /var/tmp/hn-rootfs-$suite.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  echo "images: debootstrap $suite from $(mirror)"
  debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$root" "$(mirror)" \
    > "$root.log" 2>&1 || { tail -n 30 "$root.log"; return 1; }
  # plain-HTTP apt inside containers works; keep the same mirror for later installs
  echo "deb $(mirror) $suite main" > "$root/etc/apt/sources.list"
  tar -C "$root" -c . | podman import -q --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null
  rm -f "$root.log"
  echo "images: built $tag"
}

pids=()
for s in $suites; do build "$s" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
