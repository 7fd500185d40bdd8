"""Helpers shared by the scenarios' testinfra tests (on PYTHONPATH through the
verifier settings in .config/molecule/config.yml)."""

import os
import socket

import pytest
import testinfra

# The controller's lab key. Given to testinfra explicitly: it does not template
# the lab's group_vars, where the inventory names the key.
KEY = os.path.join(os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform"), "lab", "id_ed25519")


def lab_host(host, name):
    """Another host of the scenario's inventory, reached like the testinfra host."""
    return host.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory,
                         ssh_identity_file=KEY)


def reachable(address, port, timeout=3):
    """Whether a TCP connection from the controller to address:port succeeds."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def tcp_probe(client, address, port):
    """'open', 'refused' or 'timeout' for a TCP connect made from a lab host (testinfra host)."""
    script = (
        "import socket\n"
        "s = socket.socket()\n"
        "s.settimeout(3)\n"
        "try:\n"
        "    s.connect((%r, %d)); print('open')\n"
        "except ConnectionRefusedError:\n"
        "    print('refused')\n"
        "except OSError:\n"
        "    print('timeout')\n" % (address, port))
    return client.check_output("python3 -c %s", script)


def firewall_admits_only(allowed, denied, address, port):
    """From the lab hosts' side: the allowed client (a testinfra host) connects to
    address:port, and the denied one times out there, the host firewall's drop,
    while its ssh on port 22 answers (so the path itself works)."""
    assert tcp_probe(allowed, address, port) == "open"
    assert tcp_probe(denied, address, 22) == "open"
    assert tcp_probe(denied, address, port) == "timeout"


def _inventory_host(name):
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


# The two clients of the scenarios around one service host (postgresql, redis):
# client1 is in the app group, client2 is not. Import them into a test module.
@pytest.fixture(scope="module")
def client1():
    return _inventory_host("client1")


@pytest.fixture(scope="module")
def client2():
    return _inventory_host("client2")
