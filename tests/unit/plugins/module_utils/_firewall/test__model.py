# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _ipt
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import Masquerade, set_name


def test_from_params_normalises():
    rule = Masquerade.from_params({"name": "br0", "source": "192.168.100.0/24", "out_interface": "eth0",
                                   "exclude_destinations": ["10.1.0.0/16", "10.0.0.0/8", "224.0.0.0/24"],
                                   "forward": True})
    assert rule.exclude == ["10.0.0.0/8", "224.0.0.0/24"]  # overlap merged, sorted
    assert rule.as_dict()["out_interface"] == "eth0"


@pytest.mark.parametrize("value", ["", "has-hyphen", "x" * 21, "_lead", "sp ace", None])
def test_set_name_rejects(value):
    with pytest.raises(ValidationError, match="name="):
        set_name("name", value)


@pytest.mark.parametrize("source,needle", [("192.168.100.1/24", "host bits"), ("fd00::/64", "only IPv4"),
                                           ("nonsense", "not a valid")])
def test_source_rejects(source, needle):
    with pytest.raises(ValidationError, match=needle):
        Masquerade.from_params({"name": "a", "source": source})


def test_ipt_chain_names_fit_28_chars():
    assert _ipt.chain_name("masq", "x" * 20, "post") == "HN-PM-" + "x" * 20
    assert len(_ipt.chain_name("dnat", "x" * 20, "fwd")) <= 28


def test_ipt_rule_text():
    key = ("192.168.100.0/255.255.255.0", "0.0.0.0/0.0.0.0", None, "eth0", "ip", (), "MASQUERADE", ())
    assert _ipt.rule_text(key) == "-s 192.168.100.0/24 -o eth0 -j MASQUERADE"
    key = ("0.0.0.0/0.0.0.0", "10.0.0.0/255.0.0.0", "eth0", None, "ip",
           (("conntrack", (("ctstate", ("RELATED,ESTABLISHED",)),)),), "ACCEPT", ())
    assert _ipt.rule_text(key) == "-d 10.0.0.0/8 -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"


def test_ipt_masquerade_chains_return_before_masquerade():
    chains = _ipt.masquerade_chains(Masquerade("a", "10.0.0.0/8", None, ["10.0.0.0/8"], False))
    assert [s["target"] for s in chains["post"]] == ["RETURN", "MASQUERADE"] and "fwd" not in chains
