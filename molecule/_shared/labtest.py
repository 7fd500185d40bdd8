"""Helpers shared by the scenarios' testinfra tests (on PYTHONPATH through the
verifier settings in .config/molecule/config.yml)."""

import socket


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
