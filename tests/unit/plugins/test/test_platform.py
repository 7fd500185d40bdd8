"""The Jinja tests the roles check their input with."""

import pytest

from ansible_collections.ultraai.platform.plugins.test.platform import TestModule, ip_address, release_version


@pytest.mark.parametrize("value", ["10.0.0.5", "0.0.0.0", "10.0.0.0/24", "10.0.0.5/32", "0.0.0.0/0",
                                   "::1", "fd00::1", "fd00::/64", "::ffff:10.0.0.1"])
def test_ip_address_accepts(value):
    assert ip_address(value)


@pytest.mark.parametrize("value", ["", " 10.0.0.5", "10.0.0.5 ", "db.example.com", "10.0.0", "999.1.1.1",
                                   "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.5/24/1", "all", None, 10, ["10.0.0.5"]])
def test_ip_address_refuses(value):
    assert not ip_address(value)


@pytest.mark.parametrize("value", ["1.0.0", "1.4.2-rc1", "10.20.30+build.7", "1.1.1-crash"])
def test_release_version_accepts(value):
    assert release_version(value)


@pytest.mark.parametrize("value", ["", "1.0", "v1.0.0", "1.0.0/../x", "1.0.0 ", None, 1.0])
def test_release_version_refuses(value):
    assert not release_version(value)


def test_the_tests_are_registered():
    assert TestModule().tests() == {"ip_address": ip_address, "release_version": release_version}
