#!/usr/bin/env bash
# Install the Debian packages the test pipeline and the demo need (root, Debian 12).
# The last line is what nat_bridge_install_deps installs: the demo runs the role in a
# namespace without network, where that task can only confirm them.
# Skips apt entirely when everything is already installed.
set -euo pipefail
pkgs=(podman runc catatonit debootstrap python3-venv python3-dev gcc iptables nftables
      python3-nftables iproute2 iputils-ping bridge-utils net-tools rsync git make uidmap
      ndisc6 isc-dhcp-client frr frr-pythontools chromium python3-pil
      python3-apt python3-pyroute2 dnsmasq-base)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "host-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "host-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# FRR's daemons run in the tests' namespaces with private paths: the package's own service
# must not start in the host's namespace (a policy-rc.d of our own for the install, only
# where there is none), and stays disabled
policy=""
if [[ " ${missing[*]} " == *" frr "* && ! -e /usr/sbin/policy-rc.d ]]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
fi
trap '[ -z "$policy" ] || rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -n "$policy" ] && command -v systemctl >/dev/null; then
  systemctl disable frr.service >/dev/null 2>&1 || true
fi
