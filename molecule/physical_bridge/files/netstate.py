# -*- coding: utf-8 -*-
"""The host's identity on the LAN as JSON: the global addresses and MAC of the interface
that holds the default route, and the configured routes with their device.
usage: netstate.py OUTPUT.json
       netstate.py --wait EXPECTED.json TIMEOUT   (prints the seconds until the state
                                                   equals EXPECTED; exit 1 at TIMEOUT)"""
from __future__ import annotations

import json
import subprocess
import sys
import time


def ip(*argv):
    return json.loads(subprocess.run(["ip", "-j"] + list(argv), capture_output=True, text=True, check=True).stdout)


def state():
    routes = [r for r in ip("route", "show") + ip("-6", "route", "show") if r.get("protocol") not in ("kernel",)
              and not r["dst"].startswith("fe80")]
    dev = [r["dev"] for r in routes if r["dst"] == "default"][0]
    link = ip("addr", "show", "dev", dev)[0]
    return {"dev": dev, "mac": link["address"],
            "addresses": sorted("%s/%d" % (a["local"], a["prefixlen"]) for a in link["addr_info"]
                                if a.get("scope") == "global"),
            "routes": sorted([r["dst"], r.get("gateway"), r["dev"], r.get("metric")] for r in routes)}


def wait(expected_file, timeout):
    with open(expected_file) as handle:
        expected = json.load(handle)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if state() == expected:
                print("%.1f" % (time.monotonic() - start))
                return 0
        except (IndexError, subprocess.CalledProcessError):
            pass  # mid-change: no default route for a moment
        time.sleep(0.1)
    print("not back after %s s: %s" % (timeout, json.dumps(state())))
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "--wait":
        sys.exit(wait(sys.argv[2], float(sys.argv[3])))
    with open(sys.argv[1], "w") as out:
        json.dump(state(), out, indent=1)
