# -*- coding: utf-8 -*-
"""The host's identity on the LAN as JSON: the global addresses and MAC of the interface
that holds the default route, and the configured routes with their device.
usage: netstate.py OUTPUT.json"""
from __future__ import annotations

import json
import subprocess
import sys


def ip(*argv):
    return json.loads(subprocess.run(["ip", "-j"] + list(argv), capture_output=True, text=True, check=True).stdout)


routes = [r for r in ip("route", "show") + ip("-6", "route", "show") if r.get("protocol") not in ("kernel",)
          and not r["dst"].startswith("fe80")]
dev = [r["dev"] for r in routes if r["dst"] == "default"][0]
link = ip("addr", "show", "dev", dev)[0]
state = {"dev": dev, "mac": link["address"],
         "addresses": sorted("%s/%d" % (a["local"], a["prefixlen"]) for a in link["addr_info"]
                             if a.get("scope") == "global"),
         "routes": sorted([r["dst"], r.get("gateway"), r["dev"], r.get("metric")] for r in routes)}
with open(sys.argv[1], "w") as handle:
    json.dump(state, handle, indent=1)
