# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A new TAP's MAC is set only once a running udev has handled the link."""

from __future__ import annotations

import threading

from ansible_collections.hypervisor.networking.plugins.module_utils import _netlink


def test_waits_for_udevs_entry_of_the_link(tmp_path, monkeypatch):
    control, data = tmp_path / "control", tmp_path / "data"
    control.write_text("")
    data.mkdir()
    monkeypatch.setattr(_netlink, "UDEV_CONTROL", str(control))
    monkeypatch.setattr(_netlink, "UDEV_DATA", str(data))
    timer = threading.Timer(0.2, lambda: (data / "n42").write_text("I:1\n"))
    timer.start()
    _netlink.udev_processed(42, timeout=30)
    assert (data / "n42").exists()  # it returned because udev was done, not before
    timer.join()


def test_without_udev_nothing_waits(tmp_path, monkeypatch):
    monkeypatch.setattr(_netlink, "UDEV_CONTROL", str(tmp_path / "absent"))

    def no_sleep(_seconds):
        raise AssertionError("waited although no udev runs")
    monkeypatch.setattr(_netlink.time, "sleep", no_sleep)
    _netlink.udev_processed(42, timeout=5)


def test_a_silent_udev_costs_the_timeout_only(tmp_path, monkeypatch):
    control = tmp_path / "control"
    control.write_text("")
    monkeypatch.setattr(_netlink, "UDEV_CONTROL", str(control))
    monkeypatch.setattr(_netlink, "UDEV_DATA", str(tmp_path))
    _netlink.udev_processed(42, timeout=0.3)  # returns: a silent udev does not hang the module
    assert not (tmp_path / "n42").exists()
