# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cost reporting: Cost Explorer totals grouped by a tag or a dimension, budget
status, fleet cost estimates and idle/oversize candidates from CloudWatch CPU.

Money is summed with ``decimal.Decimal`` so totals equal the figures AWS returns,
digit for digit; the report carries them as strings (exact) and floats.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.ultraai.platform.plugins.module_utils.cost_calls import call

HOURS_PER_MONTH = Decimal("730")
# On-demand Linux list prices in USD per hour, region us-east-1 (not checked against
# the Price List API from the development machine). They are a starting point for
# estimates: pass your own table (module option prices) for another region, OS, or rate.
DEFAULT_PRICES = {
    "t3.micro": "0.0104", "t3.small": "0.0208", "t3.medium": "0.0416", "t3.large": "0.0832",
    "t3.xlarge": "0.1664", "t3.2xlarge": "0.3328",
    "m5.large": "0.096", "m5.xlarge": "0.192", "m5.2xlarge": "0.384",
    "c5.large": "0.085", "c5.xlarge": "0.17", "c5.2xlarge": "0.34",
    "r5.large": "0.126", "r5.xlarge": "0.252", "r5.2xlarge": "0.504",
}
SIZES = ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge",
         "16xlarge", "24xlarge")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReportError(Exception):
    """Bad input or data the report cannot use; the message is one line."""


def money(value):
    """Decimal to the report's form: exact string and float."""
    return dict(amount=float(value), amount_exact=str(value))


def parse_date(text, where):
    if isinstance(text, datetime.date):
        return text if not isinstance(text, datetime.datetime) else text.date()
    if not isinstance(text, str) or not DATE_RE.match(text):
        raise ReportError("%s must be a date as YYYY-MM-DD, not %r" % (where, text))
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ReportError("%s %r is not a date: %s" % (where, text, exc))


def period(start, end, today=None):
    """(start, end) dates; the end is exclusive, as in Cost Explorer. Without them, the
    previous calendar month."""
    today = today or datetime.date.today()
    if start is None and end is None:
        end_d = today.replace(day=1)
        start_d = (end_d - datetime.timedelta(days=1)).replace(day=1)
        return start_d, end_d
    if start is None or end is None:
        raise ReportError("give both cost.start and cost.end, or neither (the previous calendar month)")
    start_d = parse_date(start, "cost.start")
    end_d = parse_date(end, "cost.end")
    if end_d < start_d:
        raise ReportError("cost.end (%s) is before cost.start (%s)" % (end_d, start_d))
    if end_d == start_d:
        raise ReportError("cost.end (%s) equals cost.start; the end is exclusive, so the period is empty" % end_d)
    return start_d, end_d


def _group_label(key, group_type):
    """Cost Explorer writes tag groups as 'Key$value' and untagged cost as 'Key$'."""
    if group_type == "TAG":
        value = key.split("$", 1)[1] if "$" in key else key
        return value or "(untagged)"
    return key or "(none)"


def cost_and_usage(ce, start, end, granularity, metric, group_by=None, cost_filter=None):
    """Totals per group over the period (summed over every time bucket) and per bucket."""
    kwargs = dict(TimePeriod={"Start": start.isoformat(), "End": end.isoformat()}, Granularity=granularity,
                  Metrics=[metric])
    group_type = None
    if group_by:
        group_type = group_by["type"].upper()
        kwargs["GroupBy"] = [{"Type": group_type, "Key": group_by["key"]}]
    if cost_filter:
        kwargs["Filter"] = cost_filter
    totals = {}
    buckets = []
    unit = None
    grand = Decimal("0")
    while True:
        resp = call("get cost and usage (ce get_cost_and_usage)", ce.get_cost_and_usage, **kwargs)
        for bucket in resp.get("ResultsByTime", []):
            row = dict(start=bucket["TimePeriod"]["Start"], end=bucket["TimePeriod"]["End"],
                       estimated=bool(bucket.get("Estimated")), groups={})
            entries = []
            if group_type:
                for group in bucket.get("Groups", []):
                    label = _group_label(group["Keys"][0] if group.get("Keys") else "", group_type)
                    entries.append((label, group.get("Metrics", {}).get(metric, {})))
            else:
                entries.append(("total", bucket.get("Total", {}).get(metric, {})))
            for label, figure in entries:
                try:
                    amount = Decimal(figure.get("Amount", "0"))
                except InvalidOperation:
                    raise ReportError("Cost Explorer returned a non-numeric amount %r" % figure.get("Amount"))
                unit = unit or figure.get("Unit")
                totals[label] = totals.get(label, Decimal("0")) + amount
                row["groups"][label] = str(amount)
                grand += amount
            buckets.append(row)
        token = resp.get("NextPageToken")
        if not token:
            break
        kwargs["NextPageToken"] = token
    groups = [dict(key=label, **money(value)) for label, value in
              sorted(totals.items(), key=lambda item: (-item[1], item[0]))]
    return dict(start=start.isoformat(), end=end.isoformat(), granularity=granularity, metric=metric,
                group_by=group_by, unit=unit or "USD", groups=groups, by_time=buckets, total=money(grand))


def budget_status(budgets, account_id, names=None):
    """Actual and forecast spend of each budget against its limit."""
    found = []
    kwargs = dict(AccountId=account_id)
    while True:
        resp = call("describe budgets (budgets describe_budgets)", budgets.describe_budgets, **kwargs)
        found.extend(resp.get("Budgets", []))
        if not resp.get("NextToken"):
            break
        kwargs["NextToken"] = resp["NextToken"]
    by_name = dict((b["BudgetName"], b) for b in found)
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ReportError("budget(s) not found in account %s: %s" % (account_id, ", ".join(missing)))
    out = []
    for name in names or sorted(by_name):
        budget = by_name[name]
        limit = Decimal(budget.get("BudgetLimit", {}).get("Amount", "0"))
        spend = budget.get("CalculatedSpend", {})
        actual = Decimal(spend.get("ActualSpend", {}).get("Amount", "0"))
        forecast = Decimal(spend.get("ForecastedSpend", {}).get("Amount", "0"))

        def pct(value, lim=limit):
            return round(float(value * 100 / lim), 1) if lim else None

        if limit and actual > limit:
            state = "over"
        elif limit and forecast > limit:
            state = "forecast_over"
        else:
            state = "ok"
        out.append(dict(name=name, type=budget.get("BudgetType"), time_unit=budget.get("TimeUnit"),
                        unit=budget.get("BudgetLimit", {}).get("Unit", "USD"), limit=money(limit),
                        actual=money(actual), forecast=money(forecast), actual_percent=pct(actual),
                        forecast_percent=pct(forecast), state=state))
    return out


def price_table(overrides):
    table = dict((k, Decimal(v)) for k, v in DEFAULT_PRICES.items())
    for itype, price in (overrides or {}).items():
        try:
            value = Decimal(str(price))
        except InvalidOperation:
            raise ReportError("prices.%s must be a number (USD per hour), not %r" % (itype, price))
        if value < 0:
            raise ReportError("prices.%s is negative" % itype)
        table[itype] = value
    return table


def estimate(fleet, overrides=None):
    """Cost of a planned fleet: sum of count x hours x hourly price."""
    table = price_table(overrides)
    lines = []
    total = Decimal("0")
    if not fleet:
        raise ReportError("estimate.fleet is empty")
    for i, item in enumerate(fleet):
        itype = item["instance_type"]
        if itype not in table:
            raise ReportError("estimate.fleet[%d]: no price for instance type %s; give one in estimate.prices"
                              % (i, itype))
        if item["count"] < 0 or item["hours"] < 0:
            raise ReportError("estimate.fleet[%d]: count and hours must not be negative" % i)
        hours = Decimal(str(item["hours"]))
        cost = table[itype] * item["count"] * hours
        total += cost
        lines.append(dict(instance_type=itype, count=item["count"], hours=float(hours),
                          hourly_price=str(table[itype]), **money(cost)))
    return dict(lines=lines, total=money(total), currency="USD")


def smaller_type(itype, table):
    """The next size down in the same family that the price table knows, or None."""
    family, dummy, size = itype.partition(".")
    if size not in SIZES:
        return None
    for candidate in reversed(SIZES[:SIZES.index(size)]):
        name = "%s.%s" % (family, candidate)
        if name in table:
            return name
    return None


def classify(cpu_average, cpu_maximum, idle_below, oversize_below):
    if cpu_average is None:
        return "no_data"
    if cpu_average < idle_below:
        return "idle"
    if cpu_maximum is not None and cpu_maximum < oversize_below:
        return "oversize"
    return "ok"


def optimization(ec2, cloudwatch, instance_ids, tag_filters, lookback_days, idle_below, oversize_below,
                 overrides=None, now=None):
    """Idle and oversize candidates from CloudWatch CPUUtilization (hourly averages and maxima)."""
    table = price_table(overrides)
    filters = [{"Name": "instance-state-name", "Values": ["running"]}]
    for key, values in sorted((tag_filters or {}).items()):
        filters.append({"Name": "tag:%s" % key, "Values": list(values)} if values else
                       {"Name": "tag-key", "Values": [key]})
    kwargs = dict(Filters=filters)
    if instance_ids:
        kwargs["InstanceIds"] = list(instance_ids)
    instances = []
    while True:
        resp = call("describe instances (ec2 describe_instances)", ec2.describe_instances, **kwargs)
        for reservation in resp.get("Reservations", []):
            instances.extend(reservation.get("Instances", []))
        if not resp.get("NextToken"):
            break
        kwargs["NextToken"] = resp["NextToken"]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=lookback_days)
    out = []
    for inst in sorted(instances, key=lambda i: i["InstanceId"]):
        iid = inst["InstanceId"]
        stats = call("read CPU of %s (cloudwatch get_metric_statistics)" % iid, cloudwatch.get_metric_statistics,
                     Namespace="AWS/EC2", MetricName="CPUUtilization",
                     Dimensions=[{"Name": "InstanceId", "Value": iid}], StartTime=start, EndTime=now,
                     Period=3600, Statistics=["Average", "Maximum"])
        points = stats.get("Datapoints", [])
        avg = round(sum(p["Average"] for p in points) / len(points), 2) if points else None
        peak = round(max(p["Maximum"] for p in points), 2) if points else None
        verdict = classify(avg, peak, idle_below, oversize_below)
        itype = inst.get("InstanceType")
        row = dict(instance_id=iid, instance_type=itype, datapoints=len(points), cpu_average=avg, cpu_maximum=peak,
                   verdict=verdict, suggestion=None, monthly_saving=None,
                   tags=dict((t["Key"], t["Value"]) for t in inst.get("Tags", [])))
        if verdict == "idle":
            row["suggestion"] = "stop or terminate"
            if itype in table:
                row["monthly_saving"] = money(table[itype] * HOURS_PER_MONTH)
        elif verdict == "oversize":
            smaller = smaller_type(itype, table) if itype in table else None
            row["suggestion"] = "resize to %s" % smaller if smaller else "resize one size down"
            if smaller:
                row["monthly_saving"] = money((table[itype] - table[smaller]) * HOURS_PER_MONTH)
        out.append(row)
    return dict(lookback_days=lookback_days, idle_below=idle_below, oversize_below=oversize_below, instances=out,
                idle=[r["instance_id"] for r in out if r["verdict"] == "idle"],
                oversize=[r["instance_id"] for r in out if r["verdict"] == "oversize"])
