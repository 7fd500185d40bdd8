"""Run a moto server (AWS emulation) for the tests: a real HTTP endpoint that boto3
and amazon.aws reach with endpoint_url.

    python scripts/moto_server.py start [--host 127.0.0.1] [--port 0] [--pidfile F] [--ssl-cert C --ssl-key K]
    python scripts/moto_server.py stop --pidfile F

`start` prints the endpoint URL once the server answers (port 0 picks a free one)
and, with --pidfile, leaves it running in the background. Tests import
start()/stop() from here (tests/integration/conftest.py: the moto_endpoint fixture).

With a certificate, moto itself serves plain HTTP on a loopback port and a small
TLS front (`tls-front`, in the same process group) serves HTTPS on --host/--port.
moto's own TLS ends connections without a TLS close_notify, which OpenSSL 3
clients such as pgBackRest report as "unexpected eof while reading"; the front
closes every connection properly.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import ssl


def free_port(host):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _moto_command():
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "moto.server"]


async def _pipe(reader, writer):
    """Copy until EOF, then close the other side (for TLS: with close_notify)."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError, OSError):
            pass


async def _relay(client_reader, client_writer, backend):
    try:
        backend_reader, backend_writer = await asyncio.open_connection(*backend)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(_pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer))


def tls_front(host, port, ssl_cert, ssl_key, log=None):
    """moto on a loopback port behind a TLS relay on host:port; runs until killed."""
    backend = ("127.0.0.1", free_port("127.0.0.1"))
    out = open(log, "ab") if log else subprocess.DEVNULL  # pylint: disable=consider-using-with
    subprocess.Popen(_moto_command() + ["-H", backend[0], "-p", str(backend[1])],  # pylint: disable=consider-using-with
                     stdout=out, stderr=subprocess.STDOUT)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(ssl_cert, ssl_key)

    async def serve():
        server = await asyncio.start_server(lambda r, w: _relay(r, w, backend), host, port, ssl=ctx)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def start(host="127.0.0.1", port=0, ssl_cert=None, ssl_key=None, log=None, timeout=60):
    """Start moto; return (Popen, endpoint URL) once it answers."""
    port = port or free_port(host)
    cmd = _moto_command() + ["-H", host, "-p", str(port)]
    scheme = "http"
    if ssl_cert:
        cmd = [sys.executable, os.path.abspath(__file__), "tls-front", "--host", host, "--port", str(port),
               "--ssl-cert", ssl_cert, "--ssl-key", ssl_key] + (["--log", log] if log else [])
        scheme = "https"
    out = open(log, "ab") if log else subprocess.DEVNULL  # pylint: disable=consider-using-with
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                            start_new_session=True)
    endpoint = "%s://%s:%d" % (scheme, host, port)
    ctx = ssl._create_unverified_context() if ssl_cert else None  # the caller checks the certificate itself
    end = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("moto_server exited with %s (command: %s)" % (proc.returncode, " ".join(cmd)))
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2, context=ctx) as resp:
                json.load(resp)
            return proc, endpoint
        except (OSError, ValueError, urllib.error.URLError):
            if time.time() > end:
                proc.kill()
                raise RuntimeError("moto_server did not answer on %s within %ss" % (endpoint, timeout))
            time.sleep(0.3)


def reset(endpoint):
    """Forget every resource (POST /moto-api/reset)."""
    req = urllib.request.Request(endpoint + "/moto-api/reset", data=b"", method="POST")
    ctx = ssl._create_unverified_context() if endpoint.startswith("https") else None
    with urllib.request.urlopen(req, timeout=10, context=ctx):
        pass


def stop(proc_or_pid):
    pid = proc_or_pid if isinstance(proc_or_pid, int) else proc_or_pid.pid
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for dummy in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if not isinstance(proc_or_pid, int) and proc_or_pid.poll() is not None:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "tls-front"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pidfile")
    parser.add_argument("--log")
    parser.add_argument("--ssl-cert")
    parser.add_argument("--ssl-key")
    args = parser.parse_args()
    if args.action == "tls-front":
        tls_front(args.host, args.port, args.ssl_cert, args.ssl_key, args.log)
        return 0
    if args.action == "stop":
        if not args.pidfile or not os.path.exists(args.pidfile):
            return 0
        with open(args.pidfile) as fh:
            stop(int(fh.read().split()[0]))
        os.unlink(args.pidfile)
        return 0
    if args.pidfile and os.path.exists(args.pidfile):
        with open(args.pidfile) as fh:
            pid_s, endpoint = fh.read().split()
        try:
            os.kill(int(pid_s), 0)
            print(endpoint)
            return 0
        except ProcessLookupError:
            os.unlink(args.pidfile)
    proc, endpoint = start(args.host, args.port, args.ssl_cert, args.ssl_key, args.log)
    if args.pidfile:
        with open(args.pidfile, "w") as fh:
            fh.write("%d %s\n" % (proc.pid, endpoint))
    print(endpoint)
    sys.stdout.flush()
    if not args.pidfile:
        try:
            proc.wait()
        except KeyboardInterrupt:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
