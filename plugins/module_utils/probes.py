# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health probes and the gate that evaluates them (used by the health_gate module).

A probe is one attempt of one check. It returns a ProbeResult; it never raises
for what it observes (timeouts, refused connections, bad status), only
GateInputError for a check that is malformed. Gate runs every check each
interval until all of them have passed `consecutive` times in a row (and held
for the soak window), the deadline passes, or a fatal condition ends it early.
Clock and sleep are injectable, so the units run the gate without waiting.
"""

import errno
import json
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

import http.client as httplib

CHECK_TYPES = ("http", "tcp", "haproxy", "alb")
HAPROXY_STATES = ("UP", "DOWN", "MAINT", "DRAIN", "NOLB", "ANY")  # ANY: whatever the state (with max_sessions)
ALB_STATES = ("initial", "healthy", "unhealthy", "unused", "draining", "unavailable")
TARGET_GROUP_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$")
HISTORY_KEEP = 20


class GateInputError(Exception):
    """A check definition that cannot be evaluated."""


class ProbeResult:
    def __init__(self, ok, status=None, latency=None, error=None, refused=False):
        self.ok = ok
        self.status = status
        self.latency = latency
        self.error = error
        self.refused = refused

    def as_dict(self, at):
        entry = {"at": round(at, 3), "ok": self.ok, "status": self.status}
        if self.latency is not None:
            entry["latency_ms"] = round(self.latency * 1000, 2)
        if self.error:
            entry["error"] = self.error
        return entry


def _lookup(data, path):
    """Follow a dotted path (list indexes allowed) through decoded JSON."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def _refused(exc):
    return isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED


# --- validation ------------------------------------------------------------

def normalise_check(check, index):
    """Validate one check and fill its defaults; raise GateInputError with a clear message."""
    if not isinstance(check, dict):
        raise GateInputError("check #%d must be a dict, got %r" % (index, check))
    kind = check.get("type")
    name = check.get("name") or "%s-%d" % (kind, index)
    if kind not in CHECK_TYPES:
        raise GateInputError("check '%s' has unknown type %r (expected one of: %s)" % (name, kind, ", ".join(CHECK_TYPES)))
    out = dict(check, name=name)
    timeout = out.setdefault("timeout", 5)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise GateInputError("check '%s': timeout must be a positive number of seconds" % name)
    if kind == "http":
        url = out.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
            raise GateInputError("check '%s': url %r is not an http:// or https:// URL" % (name, url))
        try:
            parts.port  # pylint: disable=pointless-statement
        except ValueError:
            raise GateInputError("check '%s': url %r has a malformed port" % (name, url))
        status = out.setdefault("status", [200])
        status = [status] if isinstance(status, int) else status
        if not isinstance(status, list) or not all(isinstance(s, int) and 100 <= s <= 599 for s in status):
            raise GateInputError("check '%s': status must be an HTTP status code or a list of them" % name)
        out["status"] = status
        if out.get("body_regex") is not None:
            try:
                re.compile(out["body_regex"])
            except re.error as exc:
                raise GateInputError("check '%s': body_regex is not a valid regular expression: %s" % (name, exc))
        if out.get("json_value") is not None and not out.get("json_path"):
            raise GateInputError("check '%s': json_value needs json_path" % name)
        budget = out.get("latency_ms")
        if budget is not None and (not isinstance(budget, (int, float)) or budget <= 0):
            raise GateInputError("check '%s': latency_ms must be a positive number" % name)
        out.setdefault("method", "GET")
        out.setdefault("validate_certs", True)
        out.setdefault("headers", {})
    elif kind == "tcp":
        port = out.get("port")
        if not out.get("host") or not isinstance(port, int) or not 1 <= port <= 65535:
            raise GateInputError("check '%s': tcp needs host and a port from 1 to 65535" % name)
    elif kind == "haproxy":
        if not out.get("socket"):
            raise GateInputError("check '%s': haproxy needs socket (the path of HAProxy's admin socket)" % name)
        if not out.get("backend") or not out.get("server"):
            raise GateInputError("check '%s': haproxy needs backend and server" % name)
        state = str(out.setdefault("state", "UP")).upper()
        if state not in HAPROXY_STATES:
            raise GateInputError("check '%s': state %r is not one of %s" % (name, state, ", ".join(HAPROXY_STATES)))
        out["state"] = state
        sessions = out.get("max_sessions")
        if sessions is not None and (isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 0):
            raise GateInputError("check '%s': max_sessions must be a whole number of 0 or more" % name)
    elif kind == "alb":
        arn = out.get("target_group_arn")
        if not isinstance(arn, str) or not TARGET_GROUP_ARN_RE.match(arn):
            raise GateInputError("check '%s': target_group_arn %r is not a target group ARN "
                                 "(arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>)" % (name, arn))
        if not out.get("target_id"):
            raise GateInputError("check '%s': alb needs target_id (an instance ID or IP address)" % name)
        state = out.setdefault("state", "healthy")
        if state not in ALB_STATES:
            raise GateInputError("check '%s': state %r is not one of %s" % (name, state, ", ".join(ALB_STATES)))
    return out


def validate_gate(checks, consecutive, interval, deadline, soak, refused_grace):
    if not checks:
        raise GateInputError("checks must hold at least one check")
    if consecutive < 1:
        raise GateInputError("consecutive must be at least 1, got %d" % consecutive)
    if interval <= 0:
        raise GateInputError("interval must be positive, got %s" % interval)
    if deadline < interval:
        raise GateInputError("deadline (%ss) is shorter than one interval (%ss): the gate could never pass"
                             % (deadline, interval))
    if soak < 0 or refused_grace < 0:
        raise GateInputError("soak and refused_grace cannot be negative")
    normalised = [normalise_check(c, i) for i, c in enumerate(checks)]
    names = [c["name"] for c in normalised]
    if len(set(names)) != len(names):
        raise GateInputError("check names must be unique: %s" % names)
    return normalised


# --- probes ----------------------------------------------------------------

def probe_http(check, clock=time.time):
    parts = urlsplit(check["url"])
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not check["validate_certs"]:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = httplib.HTTPSConnection(parts.hostname, parts.port or 443, timeout=check["timeout"], context=context)
    else:
        conn = httplib.HTTPConnection(parts.hostname, parts.port or 80, timeout=check["timeout"])
    start = clock()
    try:
        conn.request(check["method"], path, headers=dict(check["headers"], Connection="close"))
        resp = conn.getresponse()
        body = resp.read()
        latency = clock() - start
    except (OSError, httplib.HTTPException) as exc:
        return ProbeResult(False, error="%s: %s" % (exc.__class__.__name__, exc), refused=_refused(exc))
    finally:
        conn.close()
    if resp.status not in check["status"]:
        return ProbeResult(False, resp.status, latency, "status %d, expected %s" % (resp.status, check["status"]))
    text = body.decode("utf-8", "replace")
    if check.get("body_regex") and not re.search(check["body_regex"], text):
        return ProbeResult(False, resp.status, latency, "body does not match %r" % check["body_regex"])
    if check.get("json_path"):
        try:
            value = _lookup(json.loads(text), check["json_path"])
        except (ValueError, KeyError):
            return ProbeResult(False, resp.status, latency, "no JSON field %s in the body" % check["json_path"])
        if check.get("json_value") is not None and value != check["json_value"]:
            return ProbeResult(False, resp.status, latency, "%s is %r, expected %r"
                               % (check["json_path"], value, check["json_value"]))
    if check.get("latency_ms") and latency * 1000 > check["latency_ms"]:
        return ProbeResult(False, resp.status, latency, "latency %.0f ms over the budget of %s ms"
                           % (latency * 1000, check["latency_ms"]))
    return ProbeResult(True, resp.status, latency)


def probe_tcp(check, clock=time.time):
    start = clock()
    try:
        sock = socket.create_connection((check["host"], check["port"]), timeout=check["timeout"])
        sock.close()
    except OSError as exc:
        return ProbeResult(False, error="%s: %s" % (exc.__class__.__name__, exc), refused=_refused(exc))
    return ProbeResult(True, "open", clock() - start)


def haproxy_command(path, command, timeout):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall((command + "\n").encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def haproxy_server_row(stat_csv, backend, server):
    """The `show stat` row of backend/server as a dict, or None."""
    header = None
    for line in stat_csv.splitlines():
        if line.startswith("# "):
            header = line[2:].split(",")
            continue
        if not line.strip() or header is None:
            continue
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") == server:
            return row
    return None


def haproxy_status(row):
    """The status column of a `show stat` row, normalised (UP 1/2 -> UP)."""
    status = row.get("status", "")
    return status.split(" ")[0].upper() if status else status


def probe_haproxy(check, clock=time.time, command=haproxy_command):
    start = clock()
    try:
        out = command(check["socket"], "show stat", check["timeout"])
    except (OSError, socket.timeout) as exc:
        return ProbeResult(False, error="HAProxy socket %s: %s" % (check["socket"], exc),
                           refused=isinstance(exc, (FileNotFoundError, ConnectionRefusedError)))
    row = haproxy_server_row(out, check["backend"], check["server"])
    latency = clock() - start
    if row is None:
        return ProbeResult(False, None, latency, "no server %s/%s in HAProxy" % (check["backend"], check["server"]))
    state = haproxy_status(row)
    if check["state"] != "ANY" and state != check["state"]:
        return ProbeResult(False, state, latency, "server is %s, expected %s" % (state, check["state"]))
    limit = check.get("max_sessions")
    if limit is not None:
        sessions = row.get("scur", "")
        if not sessions.isdigit() or int(sessions) > limit:
            return ProbeResult(False, state, latency, "server has %s sessions, at most %d wanted" % (sessions or "no count of", limit))
    return ProbeResult(True, state, latency)


def probe_alb(check, client, clock=time.time):
    """client: a boto3 elbv2 client (or anything with describe_target_health)."""
    start = clock()
    target = {"Id": check["target_id"]}
    if check.get("port"):
        target["Port"] = check["port"]
    try:
        resp = client.describe_target_health(TargetGroupArn=check["target_group_arn"], Targets=[target])
    except Exception as exc:  # botocore errors have no common importable base here  # pylint: disable=broad-except
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        return ProbeResult(False, error="%s%s" % (code + ": " if code else "", exc))
    latency = clock() - start
    descriptions = resp.get("TargetHealthDescriptions", [])
    if not descriptions:
        return ProbeResult(False, None, latency, "target %s is not registered" % check["target_id"])
    health = descriptions[0].get("TargetHealth", {})
    state = health.get("State")
    if state != check["state"]:
        reason = health.get("Reason") or health.get("Description") or ""
        return ProbeResult(False, state, latency, "target is %s, expected %s%s"
                           % (state, check["state"], " (%s)" % reason if reason else ""))
    return ProbeResult(True, state, latency)


# --- the gate --------------------------------------------------------------

class CheckState:
    def __init__(self, check):
        self.check = check
        self.attempts = 0
        self.passes = 0
        self.failures = 0
        self.streak = 0
        self.refused_since = None
        self.last = None
        self.latencies = []
        self.history = []

    def record(self, result, at):
        self.attempts += 1
        self.last = result
        if result.ok:
            self.passes += 1
            self.streak += 1
        else:
            self.failures += 1
            self.streak = 0
        if result.latency is not None:
            self.latencies.append(result.latency * 1000)
        self.history.append(result.as_dict(at))
        del self.history[:-HISTORY_KEEP]

    def evidence(self):
        lat = sorted(self.latencies)
        return {
            "name": self.check["name"], "type": self.check["type"], "attempts": self.attempts,
            "passes": self.passes, "failures": self.failures, "streak": self.streak,
            "last_status": self.last.status if self.last else None,
            "last_error": self.last.error if self.last else None,
            "latency_p50_ms": round(lat[len(lat) // 2], 2) if lat else None,
            "latency_max_ms": round(lat[-1], 2) if lat else None,
            "history": self.history,
        }


class Gate:
    def __init__(self, checks, probe, consecutive=3, interval=2.0, deadline=120.0, soak=0.0,
                 refused_grace=30.0, clock=time.time, sleep=time.sleep):
        self.states = [CheckState(c) for c in checks]
        self.probe = probe
        self.consecutive = consecutive
        self.interval = interval
        self.deadline = deadline
        self.soak = soak
        self.refused_grace = refused_grace
        self.clock = clock
        self.sleep = sleep

    def run(self):
        """Return (passed, reason, elapsed_seconds)."""
        start = self.clock()
        passed_at = None
        while True:
            round_start = self.clock()
            for state in self.states:
                result = self.probe(state.check)
                now = self.clock()
                state.record(result, now - start)
                if result.refused:
                    state.refused_since = state.refused_since if state.refused_since is not None else now
                    if now - state.refused_since > self.refused_grace:
                        return False, ("check '%s': connection refused for more than %ss (%s)"
                                       % (state.check["name"], self.refused_grace, result.error)), now - start
                else:
                    state.refused_since = None
            now = self.clock()
            all_ok = all(s.streak >= self.consecutive for s in self.states)
            if passed_at is not None and not all_ok:
                bad = [s for s in self.states if s.streak == 0]
                return False, ("check '%s' failed during the soak window, %.1fs after the gate passed: %s"
                               % (bad[0].check["name"], now - passed_at, bad[0].last.error)), now - start
            if all_ok and passed_at is None:
                passed_at = now
            if passed_at is not None and now - passed_at >= self.soak:
                return True, None, now - start
            if now - start >= self.deadline:
                failing = [s for s in self.states if s.streak < self.consecutive]
                return False, ("deadline of %ss passed: %s" % (self.deadline, "; ".join(
                    "check '%s' passed %d of %d in a row (last: %s)"
                    % (s.check["name"], s.streak, self.consecutive, s.last.error or s.last.status)
                    for s in failing))), now - start
            self.sleep(max(0.0, self.interval - (self.clock() - round_start)))

    def evidence(self):
        return [s.evidence() for s in self.states]
