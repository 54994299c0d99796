#!/bin/sh
# Start the peers as an operator would: Docker with a container publishing port 8088 (its
# image imported from a busybox rootfs: no registry), libvirt's default network with the
# namespace guest `lg` on virbr0. Idempotent.
set -eu
systemctl start docker.service libvirtd.service
virsh -q net-info default | grep -q 'Active: *yes' || virsh -q net-start default >/dev/null
ip link set lgv master virbr0 up
# a port just attached to a new virbr0 forwards after a moment: wait for libvirt's guest
for _ in $(seq 50); do
  ping -c 1 -W 1 192.168.122.10 >/dev/null 2>&1 && break
  sleep 0.2
done
docker image inspect hn/busybox:1 >/dev/null 2>&1 || docker import /opt/web.tar hn/busybox:1 >/dev/null
docker container inspect web >/dev/null 2>&1 \
  || docker run -d --name web --restart always -p 8088:80 hn/busybox:1 /bin/httpd -f -p 80 -h /www >/dev/null
for _ in $(seq 50); do
  docker exec web cat /www/index.html >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "docker container web did not start" >&2
exit 1
