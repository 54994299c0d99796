# -*- coding: utf-8 -*-
"""Run a command with the host's /etc as the lower layer of an overlay whose upper layer
is the test's directory, and an empty /run/systemd (no systemd to reload, no networkd
running), inside the private mount namespace `unshare --mount` made for it: the command
reads the host's files and writes only into the test's directory, kept from one run to
the next; nothing leaks to the host.

usage: etc_sandbox.py STATE_DIR -- COMMAND [ARG ...]
"""
from __future__ import annotations

import os
import subprocess
import sys


def main(argv):
    split = argv.index("--")
    state, command = argv[0], argv[split + 1:]
    upper, work = os.path.join(state, "upper"), os.path.join(state, "work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "hn-etc", "-o",
                    "lowerdir=/etc,upperdir=%s,workdir=%s" % (upper, work), "/etc"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "hn-run-systemd", "/run/systemd"], check=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
