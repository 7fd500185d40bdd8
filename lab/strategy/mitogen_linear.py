"""Mitogen's mitogen_linear strategy for the lab runs, without Mitogen's CPU pinning.

Mitogen (ansible_mitogen.affinity) pins processes by CPU count. On a machine with
two or three CPUs it keeps CPU 0 for its connection multiplexer and pins the
controller, its workers and every process they start to the other CPUs: on the
2-core suite machine that is CPU 1 alone. What the controller starts inherits the
mask, and `podman run` in the scenarios' create step started every lab container,
so all lab hosts, the controller and SSH shared one core while the other stayed
idle (cpu0 94 % idle, cpu1 100 % busy, /proc/stat over 5 s of a full suite run,
2026-12-07). The policy below is Mitogen's own no-op policy; the scheduler then
places processes on both cores. The strategy is otherwise Mitogen's own.
"""

import ansible_mitogen.affinity  # pylint: disable=import-error
import ansible_mitogen.loaders  # pylint: disable=import-error
import ansible_mitogen.strategy  # pylint: disable=import-error

ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

Base = ansible_mitogen.loaders.strategy_loader.get('linear', class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):  # pylint: disable=too-few-public-methods
    """mitogen_linear, unpinned."""
