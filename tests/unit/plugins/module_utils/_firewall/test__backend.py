# -*- coding: utf-8 -*-
from __future__ import annotations

import os

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _backend, _xtables


@pytest.mark.parametrize("chain,expected", [
    # Debian's alternatives: iptables -> /etc/alternatives/iptables -> iptables-X -> xtables-X-multi
    (["iptables", "alt-iptables", "iptables-legacy", "xtables-legacy-multi"], True),
    (["iptables", "alt-iptables", "iptables-nft", "xtables-nft-multi"], False),
    # a distribution that ships iptables-legacy as a plain binary
    (["iptables", "iptables-legacy"], True),
    (["iptables"], False),
])
def test_alternative_is_legacy_follows_the_link_chain(tmp_path, chain, expected):
    target = tmp_path / chain[-1]
    target.write_text("binary")
    for link, dest in reversed(list(zip(chain, chain[1:]))):
        os.symlink(str(tmp_path / dest), str(tmp_path / link))
    assert _backend.alternative_is_legacy(str(tmp_path / chain[0])) is expected


def test_alternative_is_legacy_without_iptables(monkeypatch):
    monkeypatch.setattr(_xtables.shutil, "which", lambda name: None)
    assert _backend.alternative_is_legacy() is False
