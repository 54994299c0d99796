# -*- coding: utf-8 -*-
"""Write the host's networking state, less what hypervisor.networking owns and less what
moves by itself (counters, bridge timers), as JSON: usage: snapshot.py OUTPUT.json"""
from __future__ import annotations

import json
import re
import subprocess
import sys


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def links():
    result = json.loads(run("ip", "-d", "-j", "link", "show"))
    for link in result:
        data = link.get("linkinfo", {}).get("info_data")
        if isinstance(data, dict):
            for key in [k for k in data if k.endswith("_timer")]:
                del data[key]
    return result


def addrs():
    # IPv6 link-local addresses come and go with the links: the foreign ones are kept
    return json.loads(run("ip", "-j", "addr", "show"))


def main(output):
    state = {
        "links": links(),
        "addrs": addrs(),
        "routes": run("ip", "route", "show", "table", "all"),
        "nft": run("nft", "list", "ruleset"),
        "iptables_legacy": re.sub(r"\[\d+:\d+\]", "[-:-]", "\n".join(
            line for line in run("iptables-legacy-save").splitlines() if not line.startswith("#"))),
        "qemu_acl": open("/etc/qemu/bridge.conf").read(),
    }
    with open(output, "w") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
