# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _dhcp, _network
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError

GW = ["192.168.100.1/24"]


def dhcp(**kwargs):
    value = {"range": None, "lease_time": "1h", "hosts": [], "dns": True, "domain": None}
    value.update(kwargs)
    return value


def host(mac, address, name=None):
    return {"mac": mac, "address": address, "name": name}


@pytest.mark.parametrize("value, option, needle", [
    (dhcp(range="10.0.0.10-10.0.0.20"), "dhcp.range", "outside the bridge's subnet 192.168.100.0/24"),
    (dhcp(range="192.168.100.20-192.168.100.10"), "dhcp.range", "comes after"),
    (dhcp(range="192.168.100.0-192.168.100.10"), "dhcp.range", "network or broadcast"),
    (dhcp(range="192.168.100.200-192.168.100.255"), "dhcp.range", "network or broadcast"),
    (dhcp(range="192.168.100.10"), "dhcp.range", "two IPv4 addresses"),
    (dhcp(range="192.168.100.x-192.168.100.20"), "dhcp.range", "two IPv4 addresses"),
    (dhcp(lease_time="1 hour"), "dhcp.lease_time", "unit"),
    (dhcp(lease_time="90"), "dhcp.lease_time", "120 s"),
    (dhcp(lease_time="1m"), "dhcp.lease_time", "120 s"),
    (dhcp(domain="bad_domain"), "dhcp.domain", "labels"),
    (dhcp(domain="lab\n.example"), "dhcp.domain", "labels"),  # two lines in dnsmasq's file
    (dhcp(domain="lab\n"), "dhcp.domain", "labels"),
    (dhcp(lease_time="1h\n"), "dhcp.lease_time", "unit"),
    (dhcp(hosts=[host("52:54:00:00:00:0g", "192.168.100.5")]), "dhcp.hosts[0].mac", "MAC"),
    (dhcp(hosts=[host("01:00:5e:00:00:01", "192.168.100.5")]), "dhcp.hosts[0].mac", "multicast"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.101.5")]), "dhcp.hosts[0].address", "outside"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.100.1")]), "dhcp.hosts[0].address", "gateway"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.100.256")]), "dhcp.hosts[0].address", "IPv4"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.100.5"), host("52-54-00-00-00-01", "192.168.100.6")]),
     "dhcp.hosts[1].mac", "also given by dhcp.hosts[0]"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.100.5"), host("52:54:00:00:00:02", "192.168.100.5")]),
     "dhcp.hosts[1].address", "also given"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.100.5", "vm"), host("52:54:00:00:00:02", "192.168.100.6", "VM")]),
     "dhcp.hosts[1].name", "also given"),
    (dhcp(hosts=[host("52:54:00:00:00:01", "192.168.100.5", "-vm")]), "dhcp.hosts[0].name", "host name"),
    (dhcp(dns=False), "dhcp", "nothing to serve"),
])
def test_bad_dhcp_names_the_option(value, option, needle):
    with pytest.raises(ValidationError) as err:
        _dhcp.Dhcp(value, GW)
    assert err.value.option == option and needle in err.value.msg, err.value.msg


def test_the_range_may_not_hold_the_gateway():
    with pytest.raises(ValidationError) as err:
        _dhcp.Dhcp(dhcp(range="192.168.100.2-192.168.100.100"), ["192.168.100.50/24"])
    assert "holds the gateway's own address 192.168.100.50" in err.value.msg


def test_render_splits_what_a_reload_reads_from_what_a_restart_reads():
    want = _dhcp.Dhcp(dhcp(range="192.168.100.100-192.168.100.199", domain="Lab.Test.",
                           hosts=[host("52:54:00:AA:00:10", "192.168.100.10", "VM1"),
                                  host("52:54:00:aa:00:11", "192.168.100.11")]), GW)
    files = _dhcp.render("br0", want, True)
    conf = files["/etc/hypervisor-networking/dnsmasq/br0.conf"].splitlines()
    assert conf[0].startswith("# Managed by the hypervisor.networking collection")
    assert conf[2:] == [
        "interface=br0", "except-interface=lo", "bind-dynamic",
        "pid-file=/run/hypervisor-networking/dnsmasq/br0.pid",
        "dhcp-leasefile=/var/lib/hypervisor-networking/dnsmasq/br0.leases",
        "dhcp-hostsfile=/etc/hypervisor-networking/dnsmasq/br0.hosts",
        "addn-hosts=/etc/hypervisor-networking/dnsmasq/br0.names",
        "no-hosts", "domain-needed", "domain=lab.test", "local=/lab.test/", "dhcp-authoritative",
        "dhcp-range=192.168.100.100,192.168.100.199,255.255.255.0,1h", "dhcp-lease-max=254"]
    assert files["/etc/hypervisor-networking/dnsmasq/br0.hosts"].splitlines()[2:] == [
        "52:54:00:aa:00:10,192.168.100.10,vm1,1h", "52:54:00:aa:00:11,192.168.100.11,1h"]
    assert files["/etc/hypervisor-networking/dnsmasq/br0.names"].splitlines()[2:] == [
        "192.168.100.10 vm1.lab.test vm1"]
    # one more fixed lease changes only what a reload reads
    more = _dhcp.Dhcp(dhcp(range="192.168.100.100-192.168.100.199", domain="lab.test",
                           hosts=[host("52:54:00:aa:00:10", "192.168.100.10", "vm1"),
                                  host("52:54:00:aa:00:11", "192.168.100.11"),
                                  host("52:54:00:aa:00:12", "192.168.100.12", "vm3")]), GW)
    assert _dhcp.render("br0", more, True)["/etc/hypervisor-networking/dnsmasq/br0.conf"] == \
        files["/etc/hypervisor-networking/dnsmasq/br0.conf"]


def test_render_static_only_dns_off_and_runtime_paths():
    want = _dhcp.Dhcp(dhcp(dns=False, lease_time="infinite",
                           hosts=[host("52:54:00:00:00:10", "10.0.0.10")]), GW + ["10.0.0.1/16"])
    conf = _dhcp.render("br1", want, False)["/run/hypervisor-networking/dnsmasq/br1.conf"].splitlines()
    assert "port=0" in conf and "dhcp-leasefile=/run/hypervisor-networking/dnsmasq/br1.leases" in conf
    assert "dhcp-range=10.0.0.0,static,255.255.0.0,infinite" in conf
    assert not [line for line in conf if line.startswith(("domain=", "local="))]
    # DNS only: no DHCP at all
    dns_only = _dhcp.render("br1", _dhcp.Dhcp(dhcp(), GW), False)["/run/hypervisor-networking/dnsmasq/br1.conf"]
    assert "dhcp-range" not in dns_only and "dhcp-authoritative" not in dns_only


def test_unit_names_the_instance_files():
    text = _dhcp.unit_text("/usr/sbin/dnsmasq")
    assert "ExecStart=/usr/sbin/dnsmasq --conf-file=/etc/hypervisor-networking/dnsmasq/%i.conf" in text
    assert "PIDFile=/run/hypervisor-networking/dnsmasq/%i.pid" in text and "Type=forking" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text and "WantedBy=multi-user.target" in text


@pytest.mark.parametrize("args, needle", [
    ({"mode": "bridged", "dhcp": {"range": "192.168.1.100-192.168.1.110"}}, "dhcp="),
    ({"dhcp": {"range": "10.0.0.1-10.0.0.9"}}, "nat_bridge_dhcp.range="),
    ({"dhcp": {"hosts": [{"mac": "x", "address": "192.168.100.5"}]}}, "nat_bridge_dhcp.hosts[0].mac="),
    ({"dhcp": {"hosts": [{"address": "192.168.100.5"}]}}, "nat_bridge_dhcp"),
    ({"dhcp": {"range": "192.168.100.100-192.168.100.199", "hosts": [{"mac": "52:54:00:00:00:10",
                                                                     "address": "192.168.100.10"}]}}, ""),
])
def test_controller_check_names_the_role_variable(args, needle):
    base = {"name": "br0", "addresses": ["192.168.100.1/24"], "option_names": {"dhcp": "nat_bridge_dhcp"}}
    if args.get("mode") == "bridged":
        base.pop("addresses")
    message = _network.check(dict(base, **args))
    assert (needle in message) if needle else message == "", message


GW6 = GW + ["fd00:100::1/64"]


@pytest.mark.parametrize("ra, dns, line", [
    ("slaac", True, "dhcp-range=fd00:100::,ra-names,64,1h"),
    ("slaac", False, "dhcp-range=fd00:100::,ra-only,64,1h"),
    ("stateless", True, "dhcp-range=fd00:100::,ra-stateless,ra-names,64,1h"),
])
def test_router_advertisements_per_ipv6_ra(ra, dns, line):
    conf = _dhcp.render("br0", _dhcp.Dhcp(dhcp(dns=dns), GW6, ra), False)["/run/hypervisor-networking/dnsmasq/br0.conf"]
    lines = conf.splitlines()
    assert "enable-ra" in lines and "ra-param=br0,mtu:br0,60,1800" in lines and line in lines
    assert ("port=0" in lines) is not dns  # no DNS: no resolver in the advertisements either


def test_advertisements_alone_and_none_without_an_ipv6_gateway():
    alone = _dhcp.Dhcp(_dhcp.RA_ONLY, GW6, "slaac")
    conf = _dhcp.render("br0", alone, False)["/run/hypervisor-networking/dnsmasq/br0.conf"].splitlines()
    assert "port=0" in conf and "enable-ra" in conf and not [l for l in conf if l.startswith("dhcp-range=192")]
    assert _dhcp.Dhcp(dhcp(), GW, "slaac").ra == "none"
    with pytest.raises(ValidationError, match="nothing to serve"):
        _dhcp.Dhcp(_dhcp.RA_ONLY, GW, "slaac")


def test_stateful_dhcpv6_range_and_fixed_addresses():
    value = dhcp(range6="fd00:100::100-fd00:100::1ff", domain="lab.test",
                 hosts=[dict(host("52:54:00:aa:00:10", "192.168.100.10", "vm1"), address6="fd00:100::10")])
    want = _dhcp.Dhcp(value, GW6, "stateful")
    files = _dhcp.render("br0", want, False)
    assert "dhcp-range=fd00:100::100,fd00:100::1ff,64,1h" in \
        files["/run/hypervisor-networking/dnsmasq/br0.conf"].splitlines()
    assert files["/run/hypervisor-networking/dnsmasq/br0.hosts"].splitlines()[2:] == [
        "52:54:00:aa:00:10,192.168.100.10,[fd00:100::10],vm1,1h"]
    assert files["/run/hypervisor-networking/dnsmasq/br0.names"].splitlines()[2:] == [
        "192.168.100.10 vm1.lab.test vm1", "fd00:100::10 vm1.lab.test vm1"]
    assert want.as_dict()["range6"] == "fd00:100::100-fd00:100::1ff" and want.as_dict()["ipv6_ra"] == "stateful"


@pytest.mark.parametrize("value, ra, option, needle", [
    (dhcp(range6="fd00:100::10-fd00:100::20"), "slaac", "dhcp.range6", "ipv6_ra=stateful only"),
    (dhcp(), "stateful", "ipv6_ra", "give dhcp.range6"),
    (dhcp(range6="fd00:100::1-fd00:100::20"), "stateful", "dhcp.range6", "gateway's own address"),
    (dhcp(range6="192.168.100.10-192.168.100.20"), "stateful", "dhcp.range6", "two IPv6 addresses"),
    (dhcp(hosts=[dict(host("52:54:00:aa:00:10", "192.168.100.10"), address6="fd00:200::10")]), "stateful",
     "dhcp.hosts[0].address6", "outside the bridge's subnet"),
])
def test_bad_dhcpv6_names_the_option(value, ra, option, needle):
    with pytest.raises(ValidationError) as err:
        _dhcp.Dhcp(value, GW6, ra)
    assert err.value.option == option and needle in err.value.msg


def test_dual_stack_network_masquerades_per_family():
    want = _network.Desired(dict(_network_params(), addresses=["192.168.100.1/24", "fd00:100::1/64"],
                                 masquerade_exclude=["224.0.0.0/24", "ff00::/8"], ipv6_nat=False),
                            resolver=_network._syntax_resolver, host=False)
    v4, v6 = want.masquerades("up0")
    assert (v4.source, v4.exclude, v4.mode) == ("192.168.100.0/24", ["224.0.0.0/24"], "nat")
    assert (v6.source, v6.exclude, v6.mode, v6.bridge) == ("fd00:100::/64", [], "routed", "br0")
    assert want.dhcp.ra == "slaac" and want.dhcp.subnets6 and not want.dhcp.dns  # the advertisements alone


def _network_params():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    return ArgumentSpecValidator(_network.ARGUMENT_SPEC).validate({"name": "br0", "addresses": []}).validated_parameters
