# -*- coding: utf-8 -*-
"""Build the test guest's initramfs: busybox-static, the virtio network modules of the
cloud kernel unpacked in /opt/guest/root, and guest-init.sh as /init.

usage: python3 mkguest.py INIT_SCRIPT OUTPUT.gz
"""
from __future__ import annotations

import glob
import lzma
import os
import shutil
import subprocess
import sys
import tempfile

MODULES = ("virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net")


def main(init_script, output):
    root = tempfile.mkdtemp(prefix="hn-initrd-")
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "lib", "modules"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    with open(init_script) as src, open(os.path.join(root, "init"), "w") as dst:
        # /bin/sh is only a busybox link once /init has run `busybox --install`
        dst.write("#!/bin/busybox sh\n" + src.read())
    os.chmod(os.path.join(root, "init"), 0o755)
    found = []
    for name in MODULES:
        # built-in ones have no file; busybox insmod reads only uncompressed modules
        for path in glob.glob("/opt/guest/root/**/modules/*/kernel/**/%s.ko*" % name, recursive=True):
            data = open(path, "rb").read()
            if path.endswith(".xz"):
                data = lzma.decompress(data)
            with open(os.path.join(root, "lib", "modules", name + ".ko"), "wb") as handle:
                handle.write(data)
            found.append(name)
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                          capture_output=True, check=True).stdout
    with open(output, "wb") as handle:
        handle.write(subprocess.run(["gzip", "-9"], input=cpio, capture_output=True, check=True).stdout)
    shutil.rmtree(root)
    print("initramfs %s: %d bytes, modules %s" % (output, os.path.getsize(output), " ".join(found)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
