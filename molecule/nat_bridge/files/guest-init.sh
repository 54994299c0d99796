# /init of the test guest (busybox; mkguest.py adds the #!/bin/busybox shebang, since
# /bin/sh exists only after `busybox --install`). Settings come from the kernel command line:
#   hn.ip=ADDR/LEN hn.gw=GATEWAY hn.wan=URL [hn.hairpin=URL] [hn.serve=1] [hn.stay=1]
# It reports on the serial console, one line per check, prefixed "HN-":
#   HN-UP, HN-NAT <answer of the wan URL>, HN-HAIRPIN <answer>, HN-READY, HN-DONE
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  [ -f "/lib/modules/$m.ko" ] && insmod "/lib/modules/$m.ko" 2>/dev/null
done
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^hn\.$1=//p"; }
IP=$(arg ip) GW=$(arg gw) WAN=$(arg wan) HAIRPIN=$(arg hairpin)

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
ip addr add "$IP" dev eth0
ip route add default via "$GW"
echo "HN-UP ${IP%/*} $(cat /sys/class/net/eth0/address)"

fetch() {
  # HTTP/1.0 GET over nc, printing the body (busybox 1.35's static wget segfaults here).
  # The first attempt may race neighbour resolution: retry for a few seconds.
  rest=${1#http://} && hostport=${rest%%/*} && path=/${rest#*/} && host=${hostport%:*} && port=${hostport##*:}
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    out=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" | nc -w 3 "$host" "$port" 2>/dev/null \
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
[ -n "$HAIRPIN" ] && echo "HN-HAIRPIN $(fetch "$HAIRPIN")"
echo "HN-READY"
if [ "$(arg stay)" = 1 ]; then
  while :; do sleep 3600; done
fi
echo "HN-DONE"
poweroff -f
