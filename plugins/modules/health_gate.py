#!/usr/bin/python
# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: health_gate
short_description: Pass or fail a deploy step on real health checks
version_added: 0.1.0
description:
  - Runs a list of checks every I(interval) seconds until each of them has passed
    I(consecutive) times in a row and, with I(soak), kept passing for that many
    seconds more. Then the gate passes.
  - The gate fails when I(deadline) passes first, when a check fails during the soak
    window, or at once when a check's connection has been refused for longer than
    I(refused_grace) (a service that crashed does not come back by waiting).
  - It returns the evidence of every check (attempts, passes, last status and error,
    latency p50 and max, and the recent history) whether it passes or fails, and on
    failure a C(msg) with the reason. It never raises a traceback for what it observes.
  - Check types are C(http) (status, body regex, JSON field, latency budget), C(tcp)
    (connect), C(haproxy) (a server's state read over HAProxy's admin socket, on the
    host that runs HAProxy) and C(alb) (an AWS target's health in a target group).
author: UltraAI platform team (@ultraai)
options:
  checks:
    description:
      - The checks. Keys depend on C(type); unknown types and malformed checks are refused
        before anything is probed.
      - "C(http): C(url) (required), C(status) (code or list, default 200), C(body_regex),
        C(json_path) (dotted, for example C(checks.database)), C(json_value), C(latency_ms)
        (budget per request), C(method) (default GET), C(headers), C(validate_certs)
        (default true), C(timeout)."
      - "C(tcp): C(host), C(port), C(timeout)."
      - "C(haproxy): C(socket) (admin socket path), C(backend), C(server), C(state) (UP,
        DOWN, MAINT, DRAIN, NOLB, or ANY for any state; default UP), C(max_sessions) (the
        server's current sessions may be at most this many, for example 0 for a drained
        server that has finished its requests)."
      - "C(alb): C(target_group_arn), C(target_id), C(port), C(state) (default healthy)."
      - Every check may have a C(name) (default C(<type>-<index>)) and a C(timeout) in
        seconds (default 5).
    type: list
    elements: dict
    required: true
  consecutive:
    description: Passes in a row each check needs.
    type: int
    default: 3
  interval:
    description: Seconds between rounds of checks.
    type: float
    default: 2
  deadline:
    description: Seconds the checks have to pass. Must be at least one interval.
    type: float
    default: 120
  soak:
    description: Seconds every check must keep passing after the gate is reached.
    type: float
    default: 0
  refused_grace:
    description: Seconds of refused connections after which a check fails the gate at once.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    description: The checks only read, so they run the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
notes:
  - C(alb) checks need C(boto3). The other check types need only Python's standard library.
  - For C(alb) checks, the AWS connection options below (or C(module_defaults) for
    C(group/aws)) pick the region and endpoint; the other check types ignore them.
extends_documentation_fragment:
  - ultraai.platform.aws
"""

EXAMPLES = r"""
- name: Gate a host on its own health endpoint (3 passes in a row, held for 30 s)
  ultraai.platform.health_gate:
    checks:
      - name: api
        type: http
        url: "http://{{ ansible_host }}:8080/health"
        json_path: status
        json_value: ok
        latency_ms: 500
    consecutive: 3
    interval: 2
    deadline: 90
    soak: 30

- name: Wait until HAProxy has the server UP again (on the balancer)
  ultraai.platform.health_gate:
    checks:
      - type: haproxy
        socket: /run/haproxy/admin.sock
        backend: app
        server: app1
        state: UP
    consecutive: 2
    interval: 1
    deadline: 30
  delegate_to: "{{ groups['balancers'][0] }}"

- name: Wait for an instance to be healthy in the ALB target group
  ultraai.platform.health_gate:
    checks:
      - type: alb
        target_group_arn: "{{ app_target_group_arn }}"
        target_id: "{{ instance_id }}"
    consecutive: 2
    deadline: 300
    interval: 10
  delegate_to: localhost

- name: Check that a port answers
  ultraai.platform.health_gate:
    checks:
      - {type: tcp, host: 10.77.0.20, port: 5432}
    consecutive: 1
    deadline: 10
"""

RETURN = r"""
passed:
  description: Whether the gate passed.
  returned: always
  type: bool
elapsed:
  description: Seconds the gate took.
  returned: always
  type: float
reason:
  description: Why the gate failed (also in C(msg)); null when it passed.
  returned: always
  type: str
checks:
  description: Evidence per check.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check.
      type: str
    type:
      description: Check type.
      type: str
    attempts:
      description: Probes made.
      type: int
    passes:
      description: Probes that passed.
      type: int
    failures:
      description: Probes that failed.
      type: int
    streak:
      description: Passes in a row at the end.
      type: int
    last_status:
      description: Last observed status (HTTP code, HAProxy state, target state).
      type: raw
    last_error:
      description: Why the last probe failed, or null.
      type: str
    latency_p50_ms:
      description: Median latency of the probes that got an answer.
      type: float
    latency_max_ms:
      description: Highest latency of the probes that got an answer.
      type: float
    history:
      description: The last 20 probes (time since start, ok, status, latency, error).
      type: list
      elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ultraai.platform.plugins.module_utils.aws import (
    AWSSetupError,
    aws_argument_spec,
    client_from_params,
)
from ansible_collections.ultraai.platform.plugins.module_utils.probes import (
    Gate,
    GateInputError,
    probe_alb,
    probe_haproxy,
    probe_http,
    probe_tcp,
    validate_gate,
)


def alb_client(module):
    try:
        return client_from_params(module.params, "elbv2")
    except AWSSetupError as exc:
        module.fail_json(msg="health_gate: alb checks: %s" % exc)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True),
            consecutive=dict(type="int", default=3),
            interval=dict(type="float", default=2),
            deadline=dict(type="float", default=120),
            soak=dict(type="float", default=0),
            refused_grace=dict(type="float", default=30),
            **aws_argument_spec()
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        checks = validate_gate(p["checks"], p["consecutive"], p["interval"], p["deadline"], p["soak"],
                               p["refused_grace"])
    except GateInputError as exc:
        module.fail_json(msg="health_gate: %s" % exc)

    if any(c["type"] == "haproxy" and not os.path.exists(c["socket"]) for c in checks):
        missing = [c["socket"] for c in checks if c["type"] == "haproxy" and not os.path.exists(c["socket"])]
        module.fail_json(msg="health_gate: HAProxy socket %s does not exist on this host "
                             "(run the gate where HAProxy runs)" % ", ".join(missing))
    client = alb_client(module) if any(c["type"] == "alb" for c in checks) else None
    probes = {"http": probe_http, "tcp": probe_tcp, "haproxy": probe_haproxy,
              "alb": lambda check: probe_alb(check, client)}

    gate = Gate(checks, lambda check: probes[check["type"]](check), consecutive=p["consecutive"],
                interval=p["interval"], deadline=p["deadline"], soak=p["soak"], refused_grace=p["refused_grace"])
    passed, reason, elapsed = gate.run()
    result = dict(changed=False, passed=passed, reason=reason, elapsed=round(elapsed, 2), checks=gate.evidence())
    if not passed:
        module.fail_json(msg="health gate failed: %s" % reason, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
