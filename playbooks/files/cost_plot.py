# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Draw the cost per group of a cost_report result as a bar chart (PNG).

    cost_plot.py REPORT.json OUT.png

REPORT.json is what playbooks/cost_report.yml writes (the module's result);
its cost.groups are drawn largest first, each bar labelled with its amount.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1]) as handle:
        report = json.load(handle)
    cost = report.get("cost") or {}
    groups = cost.get("groups") or []
    labels = [g["key"] for g in groups] or ["(no cost data)"]
    amounts = [g["amount"] for g in groups] or [0]
    group_by = cost.get("group_by") or {}
    fig, axis = plt.subplots(figsize=(max(6, 1.2 * len(labels)), 4.5))
    bars = axis.bar(labels, amounts, color="#3b6ea5")
    axis.bar_label(bars, labels=["%.2f" % a for a in amounts], padding=2)
    axis.set_ylabel("%s (%s)" % (cost.get("metric", "cost"), cost.get("unit", "USD")))
    axis.set_title("Cost by %s %s, %s to %s (exclusive)" % (
        (group_by.get("type") or "total").lower(), group_by.get("key", ""), cost.get("start", "?"),
        cost.get("end", "?")))
    plt.setp(axis.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(argv[2], dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
