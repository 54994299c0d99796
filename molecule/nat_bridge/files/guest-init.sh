# /init of the test guest (busybox; mkguest.py adds the #!/bin/busybox shebang, since
# /bin/sh exists only after `busybox --install`). Settings come from the kernel command line:
#   hn.ip=ADDR/LEN hn.gw=GATEWAY | hn.ip=dhcp [hn.name=HOSTNAME]
#   hn.wan=URL [hn.wan6=URL] [hn.hairpin=URL] [hn.lookup=NAME ...] [hn.serve=1] [hn.stay=1]
# A URL's host may be a name: the guest resolves it with the DNS server DHCP gave it.
# It reports on the serial console, one line per check, prefixed "HN-":
#   HN-LEASE (dhcp: address, router, DNS, domain, lease, seconds since boot), HN-UP,
#   HN-DNS <name> <address>, HN-NAT <answer of the wan URL>, HN-HAIRPIN <answer>,
#   HN-SLAAC <the IPv6 address the kernel configured from router advertisements, or none>,
#   HN-NAT6 <answer of the wan6 URL (an IPv6 literal: http://[ADDR]:PORT/)>,
#   HN-READY, HN-DONE
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  [ -f "/lib/modules/$m.ko" ] && insmod "/lib/modules/$m.ko" 2>/dev/null
done
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^hn\.$1=//p"; }
IP=$(arg ip) GW=$(arg gw) WAN=$(arg wan) HAIRPIN=$(arg hairpin) NAME=$(arg name)

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
if [ "$IP" = dhcp ]; then
  mkdir -p /etc
  cat > /bin/hn-dhcp <<'SCRIPT'
#!/bin/sh
# udhcpc's script: the lease goes on eth0, the router is the default route, the DNS
# servers and the domain go into /etc/resolv.conf
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}"
    : > /etc/resolv.conf
    for s in $dns; do echo "nameserver $s" >> /etc/resolv.conf; done
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    echo "HN-LEASE $ip router ${router%% *} dns ${dns:-none} domain ${domain:-none} lease $lease after $(cut -d' ' -f1 /proc/uptime) s"
    ;;
esac
SCRIPT
  chmod 755 /bin/hn-dhcp
  udhcpc -i eth0 -s /bin/hn-dhcp -q -f -n -t 30 -T 1 ${NAME:+-x hostname:$NAME} 2>/dev/null || echo "HN-LEASE none"
  IP=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
else
  ip addr add "$IP" dev eth0
  ip route add default via "$GW"
fi
echo "HN-UP ${IP%/*} $(cat /sys/class/net/eth0/address)"

resolve() {
  # a name through the resolver of /etc/resolv.conf (busybox nslookup); an address as it is
  case "$1" in
    *:*) echo "$1" ;;
    *[!0-9.]*) nslookup "$1" 2>/dev/null | awk '/^Name:/ {found = 1} found && /^Address/ {print $NF; exit}' ;;
    *) echo "$1" ;;
  esac
}
for n in $(arg lookup); do
  echo "HN-DNS $n $(resolve "$n" | grep . || echo none)"
done

fetch() {
  # HTTP/1.0 GET over nc, printing the body (busybox 1.35's static wget segfaults here).
  # The first attempt may race neighbour resolution: retry for a few seconds.
  rest=${1#http://} && hostport=${rest%%/*} && path=/${rest#*/} && host=${hostport%:*} && port=${hostport##*:}
  host=${host#[} && host=${host%]}
  addr=$(resolve "$host")
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    out=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" | nc -w 3 "$addr" "$port" 2>/dev/null \
          | sed '1,/^\r*$/d')
    [ -n "$out" ] && { echo "$out"; return 0; }
    sleep 1
  done
  echo "no answer"
}

if [ "$(arg serve)" = 1 ]; then
  mkdir -p /www/cgi-bin
  # REMOTE_ADDR is [::ffff:a.b.c.d] on a dual-stack socket: print a.b.c.d
  cat > /www/cgi-bin/who <<CGI
#!/bin/sh
a=\$(echo "\$REMOTE_ADDR" | sed -e 's/^\\[::ffff://' -e 's/\\]\$//')
printf 'Content-Type: text/plain\\r\\n\\r\\nguest ${IP%/*} saw %s\\n' "\$a"
CGI
  chmod 755 /www/cgi-bin/who
  httpd -p 80 -h /www
fi
[ -n "$WAN" ] && echo "HN-NAT $(fetch "$WAN")"
WAN6=$(arg wan6)
if [ -n "$WAN6" ]; then
  # the kernel configures the address from the network's router advertisements (SLAAC)
  i=0 && SLAAC=
  while [ -z "$SLAAC" ] && [ $i -lt 200 ]; do
    SLAAC=$(ip -6 -o addr show dev eth0 scope global | grep -v tentative | awk '{print $4}' | head -n1)
    [ -z "$SLAAC" ] && usleep 100000
    i=$((i + 1))
  done
  echo "HN-SLAAC ${SLAAC:-none}"
  echo "HN-NAT6 $(fetch "$WAN6")"
fi
[ -n "$HAIRPIN" ] && echo "HN-HAIRPIN $(fetch "$HAIRPIN")"
echo "HN-READY"
if [ "$(arg stay)" = 1 ]; then
  while :; do sleep 3600; done
fi
echo "HN-DONE"
poweroff -f
