#!/usr/bin/env bash
# make demo: build and install the collection, then run playbooks/nat_bridge.yml against a
# sandbox hypervisor. The sandbox is three network namespaces: the hypervisor, a guest
# (a namespace on the bridge, standing in for a VM) and an "internet" host on the
# hypervisor's uplink. The guest takes its address by DHCP and resolves its name through
# the gateway, net_info shows the hypervisor as route -n / brctl show / iptables would, and
# the diagnose role names a fault the demo injects. Nothing in this machine's own network
# namespace changes, the files the role writes go to the sandbox directory, and the role
# removes its network again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
id=$$
hv=hn-demo-hv-$id guest=hn-demo-gu-$id inet=hn-demo-in-$id
work=$PWD/.tmp/demo
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # the network's dnsmasq, should the demo stop before the role removed it
  local pidfile=/run/hypervisor-networking/dnsmasq/br0.pid
  if [ -s "$pidfile" ] && [ "$(ip netns identify "$(cat "$pidfile")" 2>/dev/null)" = "$hv" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
  for ns in "$hv" "$guest" "$inet"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

say "Building and installing the collection from its tarball"
rm -rf "$work" && mkdir -p "$work/collections" "$work/etc/sysctl.d"
ansible-galaxy collection build --output-path "$work" --force >/dev/null
ANSIBLE_COLLECTIONS_PATH=$work/collections ansible-galaxy collection install -p "$work/collections" \
  "$work"/hypervisor-networking-*.tar.gz >/dev/null
echo "installed into $work/collections"

say "Sandbox: $hv (the hypervisor), $guest (a guest), $inet (the internet)"
for ns in "$hv" "$guest" "$inet"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
# uplink: hypervisor up0 203.0.113.1 <-> internet eth0 203.0.113.2 (TEST-NET-3), default route out of up0
ip -n "$hv" link add up0 type veth peer name eth0 netns "$inet"
ip -n "$hv" addr add 203.0.113.1/24 dev up0 && ip -n "$hv" link set up0 up
ip -n "$inet" addr add 203.0.113.2/24 dev eth0 && ip -n "$inet" link set eth0 up
ip -n "$hv" route add default via 203.0.113.2
# the guest's NIC: eth0 in the guest (the MAC its fixed DHCP lease is for), vnet0 on the
# hypervisor (the role puts it in br0); its address comes by DHCP after the role ran
ip -n "$hv" link add vnet0 type veth peer name eth0 netns "$guest"
ip -n "$hv" link set vnet0 up
ip -n "$guest" link set eth0 address 52:54:00:de:00:10 && ip -n "$guest" link set eth0 up
# started with ip netns exec directly (not through a function) so $! is the server itself
ip netns exec "$inet" python3 demo/http_echo.py 80 "hello from the internet host" >/dev/null 2>&1 & pids+=($!)
ip netns exec "$guest" python3 demo/http_echo.py 80 "hello from the guest 192.168.100.10" >/dev/null 2>&1 & pids+=($!)
printf '[hypervisors]\nsandbox-hv ansible_connection=local ansible_python_interpreter=/usr/bin/python3 ansible_become=false\n' \
  > "$work/inventory"
echo "guest 52:54:00:de:00:10 (no address yet), internet host 203.0.113.2, hypervisor uplink up0 203.0.113.1"

playbook() {
  in_ns "$hv" env ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_STDOUT_CALLBACK=default \
    ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false ansible-playbook -i "$work/inventory" "$@"
}
run_playbook() {
  playbook hypervisor.networking.nat_bridge \
    -e @demo/nat_bridge.vars.yml -e nat_bridge_qemu_acl_file="$work/etc/qemu/bridge.conf" \
    -e nat_bridge_sysctl_file="$work/etc/sysctl.d/90-hypervisor-networking.conf" "$@"
}
say "ansible-playbook hypervisor.networking.nat_bridge against the sandbox hypervisor (first run)"
# the whole log goes to a file; the screen gets the tasks that changed something
if ! run_playbook > "$work/run1.log" 2>&1; then
  cat "$work/run1.log"; echo "=> the playbook failed" >&2; exit 1
fi
awk '/^TASK \[/ {t=$0; sub(/^TASK \[[^]]*: /, "", t); sub(/\] \**$/, "", t)} /^changed:/ {print "changed: " t}' "$work/run1.log"
grep -E 'sandbox-hv +:' "$work/run1.log"
say "The same run again: nothing to change"
run_playbook > "$work/run2.log" 2>&1 || { cat "$work/run2.log"; exit 1; }
grep -E 'sandbox-hv +:' "$work/run2.log"
grep -qE 'sandbox-hv +:.* changed=0 ' "$work/run2.log" || { echo "=> the second run changed something" >&2; exit 1; }

fetch() { in_ns "$1" python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "$2"; }
say "The guest asks for an address by DHCP (the network's dnsmasq on the gateway)"
lease=$(in_ns "$guest" python3 tests/integration/dhcp_client.py lease eth0)
echo "$lease"
python3 -c 'import json, sys; l = json.loads(sys.argv[1]); sys.exit(not (l["address"] == "192.168.100.10" and l["router"] == ["192.168.100.1"]))' "$lease" \
  || { echo "=> no lease for the guest's MAC" >&2; exit 1; }
echo "=> the guest got its fixed lease 192.168.100.10, with 192.168.100.1 as router and resolver."
say "The guest resolves its name through the gateway's DNS"
answer=$(in_ns "$guest" python3 tests/integration/dhcp_client.py query 192.168.100.1 web.demo.test)
echo "web.demo.test -> $answer"
[ "$answer" = '["192.168.100.10"]' ] || { echo "=> the name did not resolve" >&2; exit 1; }
echo "=> the network's DNS answers the names of its DHCP hosts."
say "The guest fetches http://203.0.113.2/ from the internet host, through NAT"
answer=$(fetch "$guest" http://203.0.113.2/)
echo "server said: \"$answer\""
case $answer in
  *"came from 203.0.113.1") echo "=> the guest reached the internet; the server saw the hypervisor's address 203.0.113.1, not 192.168.100.10: masquerade works." ;;
  *) echo "=> unexpected source address" >&2; exit 1 ;;
esac
say "The internet host fetches http://203.0.113.1:8080/, the guest's published port"
for _try in 1 2 3 4 5; do answer=$(fetch "$inet" http://203.0.113.1:8080/ 2>/dev/null) && break; sleep 0.2; done
echo "guest said: \"$answer\""
case $answer in
  *"guest 192.168.100.10; you came from 203.0.113.2") echo "=> port 8080 on the hypervisor reaches the guest's port 80 (DNAT), and the guest sees the real client." ;;
  *) echo "=> unexpected answer" >&2; exit 1 ;;
esac

say "The hypervisor as hypervisor.networking.net_info reads it (no command run on it)"
playbook demo/look.yml -e look_out="$work/look.txt" > "$work/look.log" 2>&1 || { cat "$work/look.log"; exit 1; }
cat "$work/look.txt"
say "$work/etc/qemu/bridge.conf (the QEMU bridge helper ACL)"
cat "$work/etc/qemu/bridge.conf"

say "A fault: someone turns IPv4 forwarding off on the hypervisor; the diagnose role finds it"
in_ns "$hv" sysctl -qw net.ipv4.ip_forward=0
playbook hypervisor.networking.diagnose -e diagnose_guest=192.168.100.10 -e diagnose_port=8080 \
  -e diagnose_fail=false -e diagnose_report="$work/diagnose-report.html" > "$work/diagnose.log" 2>&1 \
  || { cat "$work/diagnose.log"; exit 1; }
# the report's verdict and steps: the debug message's lines up to its second empty line
awk '/"msg": \[/ {on=1; next} on && /^ *"",?$/ {if (++blank == 2) exit; print ""; next} on {sub(/^ *"/, ""); sub(/",?$/, ""); print}' "$work/diagnose.log"
grep -q 'forwarding: net.ipv4.ip_forward = 0' "$work/diagnose.log" || { echo "=> the fault was not named" >&2; exit 1; }
echo "=> the verdict names the broken hop; the HTML report with the picture: $work/diagnose-report.html"
say "The role's next run repairs it"
run_playbook > "$work/run3.log" 2>&1 || { cat "$work/run3.log"; exit 1; }
grep -E 'sandbox-hv +:' "$work/run3.log"
answer=$(fetch "$inet" http://203.0.113.1:8080/)
echo "guest said: \"$answer\""

say "nat_bridge_state=absent removes the network (bridge, TAP, rules, dnsmasq, ACL line)"
run_playbook -e nat_bridge_state=absent > "$work/run4.log" 2>&1 || { cat "$work/run4.log"; exit 1; }
grep -E 'sandbox-hv +:' "$work/run4.log"
say "Cleaning up the sandbox (this machine's own namespace was never touched)"
