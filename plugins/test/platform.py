# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja tests the roles share for their input checks: ``ip_address`` (an IPv4 or
IPv6 address, or a network in CIDR form) and ``release_version`` (the version
format the release modules accept)."""

import ipaddress

from ansible_collections.ultraai.platform.plugins.module_utils.releases import VERSION_RE


def ip_address(value):
    """True for an address such as 10.0.0.5 or fd00::1, or a network such as
    10.0.0.0/24 (host bits may be set: 10.0.0.5/32, 10.0.0.5/24)."""
    if not isinstance(value, str) or not value or value != value.strip():
        return False
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def release_version(value):
    """True for MAJOR.MINOR.PATCH with an optional suffix (1.4.2, 1.4.2-rc1)."""
    return isinstance(value, str) and VERSION_RE.match(value) is not None


class TestModule(object):
    def tests(self):
        return {"ip_address": ip_address, "release_version": release_version}
