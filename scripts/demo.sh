#!/usr/bin/env bash
# make demo: build and install the collection, then build the seed's bridge in a sandbox
# (network namespaces: a hypervisor and a guest). Nothing in this machine's own network
# namespace changes; the sandbox is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
id=$$
hv=hn-demo-hv-$id
guest=hn-demo-guest-$id
work=$PWD/.tmp/demo
cleanup() { ip netns del "$hv" 2>/dev/null || true; ip netns del "$guest" 2>/dev/null || true; }
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }

say "Building and installing the collection from its tarball"
rm -rf "$work" && mkdir -p "$work/collections"
ansible-galaxy collection build --output-path "$work" --force >/dev/null
ANSIBLE_COLLECTIONS_PATH=$work/collections ansible-galaxy collection install -p "$work/collections" \
  "$work"/hypervisor-networking-*.tar.gz >/dev/null
echo "installed into $work/collections"

say "Sandbox: namespace $hv (the hypervisor) and $guest (a guest VM's stand-in)"
ip netns add "$hv"
ip netns add "$guest"
ip -n "$hv" link set lo up
ip -n "$guest" link set lo up
# the guest's NIC: one end in the guest, the other (vnet0, as QEMU would name a TAP) on the host
ip -n "$hv" link add vnet0 type veth peer name eth0 netns "$guest"
ip -n "$hv" link set vnet0 up
ip -n "$guest" addr add 192.168.100.2/24 dev eth0
ip -n "$guest" link set eth0 up
ip -n "$guest" route add default via 192.168.100.1

run_playbook() {
  ip netns exec "$hv" env ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_STDOUT_CALLBACK=default \
    ANSIBLE_PYTHON_INTERPRETER="$PWD/.venv/bin/python" ansible-playbook -i localhost, "$@" demo/bridge.yml
}
say "Running demo/bridge.yml in the hypervisor namespace (first run)"
run_playbook
say "Running it again: nothing should change (changed=0)"
run_playbook | grep -E 'PLAY RECAP|localhost +:'

say "brctl show (in the hypervisor namespace)"
ip netns exec "$hv" brctl show
say "ip -br addr (in the hypervisor namespace)"
ip -n "$hv" -br addr
say "route -n (in the guest): its default gateway is the bridge"
ip netns exec "$guest" route -n
say "The guest pings its gateway 192.168.100.1 through the bridge"
if ip netns exec "$guest" ping -c 3 -W 2 192.168.100.1; then
  echo "=> the guest reached the hypervisor's bridge address: the bridge forwards real traffic."
else
  echo "=> the guest could NOT reach 192.168.100.1" >&2
  exit 1
fi
say "Cleaning up the sandbox (this machine's own namespace was never touched)"
