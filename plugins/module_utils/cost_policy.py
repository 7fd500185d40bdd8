# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cost tag policy: validation and per-resource evaluation (pure Python, no AWS calls).

A policy is::

    tags:                       # tag key -> rule
      Project: {required: true, allowed: [ultraai], default: ultraai}
      Environment: {required: true, allowed: [production, staging], case_sensitive: false}
      CostCenter: {required: true, pattern: 'CC-[0-9]{4}'}
      Team: {default: platform}
    case_sensitive: true        # default for every rule
    forbidden: [Temp]           # keys that must not be present

The flat form (the aws_infra role's aws_infra_tag_policy) is accepted too and
becomes the form above: ``required`` (list of keys), ``allowed_values`` (key to
list), ``patterns`` (key to regular expression) and ``defaults`` (key to value).

``evaluate()`` compares one resource's tags with the policy and returns the
violations and the change that fixes what can be fixed. Keys that start with
``aws:`` are never read, counted, added or removed.
"""

import re

MAX_USER_TAGS = 50
MAX_KEY_LEN = 128
MAX_VALUE_LEN = 256
ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f):([a-z0-9-]+):"
                    r"([a-z0-9-]*):([0-9]{12})?:(.+)$")
# Services whose ARNs have no region, and those whose ARNs have no account either.
GLOBAL_SERVICES = frozenset(["iam", "route53", "cloudfront", "s3", "waf", "organizations", "budgets", "ce",
                             "globalaccelerator", "health", "shield", "sts"])
ACCOUNTLESS_SERVICES = frozenset(["s3", "route53"])
EC2_RESOURCE_RE = re.compile(r"^[a-z][a-z0-9-]*/[A-Za-z0-9-]+$")
# Letters, digits, white space and + - = . _ : / @ (what AWS allows in tag keys and values).
TAG_CHARS_RE = re.compile(r"^[\w\s+\-=.:/@]*$", re.UNICODE)
RULE_FIELDS = ("required", "allowed", "pattern", "default", "case_sensitive")
POLICY_FIELDS = ("tags", "case_sensitive", "forbidden")
FLAT_FIELDS = (("required", "required", list), ("allowed_values", "allowed", dict), ("patterns", "pattern", dict),
               ("defaults", "default", dict))

# Issue kinds a violation can have.
MISSING = "missing"
INVALID_VALUE = "invalid_value"
WRONG_CASE_KEY = "wrong_case_key"
WRONG_CASE_VALUE = "wrong_case_value"
EMPTY_VALUE = "empty_value"
FORBIDDEN = "forbidden"
ISSUES = (MISSING, INVALID_VALUE, WRONG_CASE_KEY, WRONG_CASE_VALUE, EMPTY_VALUE, FORBIDDEN)


class PolicyError(ValueError):
    """The policy (or other input) is invalid; the message says what and where."""


def is_aws_key(key):
    return key.lower().startswith("aws:")


def _check_bool(value, where):
    if not isinstance(value, bool):
        raise PolicyError("%s must be true or false, not %r" % (where, value))
    return value


def _check_text(value, where, max_len):
    if not isinstance(value, str):
        raise PolicyError("%s must be a string, not %r" % (where, value))
    if len(value) > max_len:
        raise PolicyError("%s is %d characters long; AWS allows at most %d" % (where, len(value), max_len))
    if not TAG_CHARS_RE.match(value):
        raise PolicyError("%s (%r) holds characters AWS does not allow in tags "
                          "(letters, digits, spaces and + - = . _ : / @)" % (where, value))
    return value


def _check_key(key, where):
    _check_text(key, where, MAX_KEY_LEN)
    if not key:
        raise PolicyError("%s is empty" % where)
    if is_aws_key(key):
        raise PolicyError("%s (%r) starts with 'aws:', a prefix AWS reserves for itself" % (where, key))
    return key


class Rule(object):
    def __init__(self, key, required, allowed, pattern, default, case_sensitive):
        self.key = key
        self.required = required
        self.allowed = allowed
        self.pattern = pattern
        self.regex = None
        if pattern is not None:
            self.regex = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
        self.default = default
        self.case_sensitive = case_sensitive

    def canonical_value(self, value):
        """(verdict, canonical): verdict is 'ok', WRONG_CASE_VALUE or INVALID_VALUE."""
        if self.allowed is not None:
            if value in self.allowed:
                return "ok", value
            if not self.case_sensitive:
                for allowed in self.allowed:
                    if allowed.lower() == value.lower():
                        return WRONG_CASE_VALUE, allowed
            return INVALID_VALUE, None
        if self.regex is not None:
            return ("ok", value) if self.regex.fullmatch(value) else (INVALID_VALUE, None)
        return "ok", value

    def expected(self):
        if self.allowed is not None:
            return "one of: %s" % ", ".join(self.allowed)
        if self.pattern is not None:
            return "matching %s" % self.pattern
        return "a non-empty value"

    def to_dict(self):
        return dict(key=self.key, required=self.required, allowed=self.allowed, pattern=self.pattern,
                    default=self.default, case_sensitive=self.case_sensitive)


class Policy(object):
    def __init__(self, rules, forbidden, case_sensitive):
        self.rules = rules
        self.forbidden = forbidden
        self.case_sensitive = case_sensitive

    def keys(self):
        return [rule.key for rule in self.rules]


def _parse_rule(key, raw, policy_cs):
    where = "policy.tags.%s" % key
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError("%s must be a dictionary of %s" % (where, ", ".join(RULE_FIELDS)))
    unknown = sorted(set(raw) - set(RULE_FIELDS))
    if unknown:
        raise PolicyError("%s: unknown field(s) %s (known: %s)" % (where, ", ".join(unknown), ", ".join(RULE_FIELDS)))
    required = _check_bool(raw.get("required", False), where + ".required")
    case_sensitive = _check_bool(raw.get("case_sensitive", policy_cs), where + ".case_sensitive")
    allowed = raw.get("allowed")
    pattern = raw.get("pattern")
    if allowed is not None and pattern is not None:
        raise PolicyError("%s: give allowed or pattern, not both" % where)
    if allowed is not None:
        if not isinstance(allowed, list) or not allowed:
            raise PolicyError("%s.allowed must be a non-empty list of values" % where)
        allowed = [_check_text(v, "%s.allowed value" % where, MAX_VALUE_LEN) for v in allowed]
    if pattern is not None:
        if not isinstance(pattern, str):
            raise PolicyError("%s.pattern must be a string" % where)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PolicyError("%s.pattern %r is not a valid regular expression: %s" % (where, pattern, exc))
    default = raw.get("default")
    if default is not None:
        default = _check_text(default, where + ".default", MAX_VALUE_LEN)
    rule = Rule(key, required, allowed, pattern, default, case_sensitive)
    if default is not None and rule.canonical_value(default) != ("ok", default):
        raise PolicyError("%s.default %r is not allowed by the rule itself (expected %s)"
                          % (where, default, rule.expected()))
    if default == "" and required:
        raise PolicyError("%s.default is empty, but the key is required to have a value" % where)
    return rule


def _flat_to_tags(raw):
    """The policy with its flat fields (required, allowed_values, patterns, defaults) folded into tags."""
    if not any(field in raw for field, dummy, dummy2 in FLAT_FIELDS):
        return raw
    tags = dict((k, dict(v or {})) for k, v in (raw.get("tags") or {}).items())
    for field, rule_field, kind in FLAT_FIELDS:
        value = raw.get(field)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise PolicyError("policy.%s must be a %s" % (field, "list of keys" if kind is list else "dictionary"))
        items = [(key, True) for key in value] if kind is list else value.items()
        for key, rule_value in items:
            if not isinstance(key, str):
                raise PolicyError("policy.%s: key %r is not a string" % (field, key))
            rule = tags.setdefault(key, {})
            if rule_field in rule and rule[rule_field] != rule_value:
                raise PolicyError("policy.%s.%s conflicts with policy.tags.%s.%s" % (field, key, key, rule_field))
            rule[rule_field] = rule_value
    out = dict((k, v) for k, v in raw.items() if k not in [f[0] for f in FLAT_FIELDS])
    out["tags"] = tags
    return out


def parse_policy(raw):
    """Validate a policy dictionary and return a Policy; raise PolicyError with one clear message."""
    if not isinstance(raw, dict):
        raise PolicyError("policy must be a dictionary with a tags key")
    known = POLICY_FIELDS + tuple(f[0] for f in FLAT_FIELDS)
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise PolicyError("policy: unknown field(s) %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    raw = _flat_to_tags(raw)
    case_sensitive = _check_bool(raw.get("case_sensitive", True), "policy.case_sensitive")
    tags = raw.get("tags")
    if not isinstance(tags, dict) or not tags:
        raise PolicyError("policy.tags must be a non-empty dictionary of tag key: rule")
    if len(tags) > MAX_USER_TAGS:
        raise PolicyError("policy.tags has %d keys; AWS allows at most %d user tags per resource"
                          % (len(tags), MAX_USER_TAGS))
    rules = []
    seen = {}
    for key in sorted(tags):
        _check_key(key, "policy.tags key")
        rule = _parse_rule(key, tags[key], case_sensitive)
        folded = key.lower()
        if folded in seen and not (rule.case_sensitive and seen[folded].case_sensitive):
            raise PolicyError("policy.tags has %r and %r, which differ only in case, and a rule of them "
                              "is case-insensitive" % (seen[folded].key, key))
        seen[folded] = rule
        rules.append(rule)
    forbidden = raw.get("forbidden") or []
    if not isinstance(forbidden, list):
        raise PolicyError("policy.forbidden must be a list of tag keys")
    forbidden = [_check_key(k, "policy.forbidden key") for k in forbidden]
    for rule in rules:
        for key in forbidden:
            same = key == rule.key or (not case_sensitive and key.lower() == rule.key.lower())
            if same and rule.required:
                raise PolicyError("policy key %r is required and also forbidden" % rule.key)
            if same and rule.default is not None:
                raise PolicyError("policy key %r has a default and is also forbidden" % rule.key)
    return Policy(rules, forbidden, case_sensitive)


def parse_arn(arn):
    """(partition, service, region, account, resource) of an ARN; PolicyError when it is not one.

    Only global services' ARNs may leave the region empty, and only S3's and
    Route 53's the account; an EC2 resource is TYPE/ID."""
    match = ARN_RE.match(arn) if isinstance(arn, str) else None
    why = None
    if match:
        dummy, service, region, account, resource = match.groups()
        if not region and service not in GLOBAL_SERVICES:
            why = "%s resources are regional, and the region is empty" % service
        elif not account and service not in ACCOUNTLESS_SERVICES:
            why = "the account is empty"
        elif service == "ec2" and not EC2_RESOURCE_RE.match(resource):
            why = "an EC2 resource is TYPE/ID"
    if not match or why:
        raise PolicyError("%r is not a resource ARN of a known form "
                          "(arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)%s" % (arn, ": " + why if why else ""))
    return match.groups()


def user_tags(tags):
    return dict((k, v) for k, v in (tags or {}).items() if not is_aws_key(k))


def _violation(key, issue, value=None, expected=None, fixed_to=None, actual_key=None):
    return dict(key=key, issue=issue, value=value, expected=expected, fix=fixed_to, actual_key=actual_key)


def evaluate(policy, tags, remove_forbidden=False, replace_invalid=False):
    """Compare one resource's tags with the policy.

    Returns a dict: violations (list; each has key, issue, value, expected, fix,
    actual_key), add (tags to set), remove (keys to delete), unfixed (violations
    the change does not fix), after (the user tags once the change is made).
    """
    current = user_tags(tags)
    violations = []
    add = {}
    remove = set()
    unfixed = []
    for rule in policy.rules:
        # A case-insensitive rule also finds the key's other spellings; the
        # policy's own comes first. Two spellings are two keys to cost
        # allocation, so each other spelling is a violation, even beside the
        # policy's.
        actual_keys = [rule.key] if rule.key in current else []
        if not rule.case_sensitive:
            actual_keys += sorted(k for k in current if k != rule.key and k.lower() == rule.key.lower())
        if not actual_keys:
            if rule.default is not None:
                violations.append(_violation(rule.key, MISSING, expected=rule.expected(), fixed_to=rule.default))
                add[rule.key] = rule.default
            elif rule.required:
                violation = _violation(rule.key, MISSING, expected=rule.expected())
                violations.append(violation)
                unfixed.append(violation)
            continue
        value = current[actual_keys[0]]
        verdict, canonical = rule.canonical_value(value)
        new_value = value
        if verdict == WRONG_CASE_VALUE:
            violations.append(_violation(rule.key, WRONG_CASE_VALUE, value, rule.expected(), canonical))
            new_value = canonical
        elif verdict == INVALID_VALUE or (rule.required and value == ""):
            issue = EMPTY_VALUE if value == "" and verdict == "ok" else INVALID_VALUE
            fix = rule.default if replace_invalid and rule.default is not None else None
            violation = _violation(rule.key, issue, value, rule.expected(), fix)
            violations.append(violation)
            if fix is None:
                unfixed.append(violation)
            else:
                new_value = fix
        for actual in actual_keys:
            if actual != rule.key:
                violations.append(_violation(rule.key, WRONG_CASE_KEY, current[actual], rule.key, rule.key, actual))
                remove.add(actual)
        if actual_keys[0] != rule.key or new_value != value:
            add[rule.key] = new_value
    for key in policy.forbidden:
        present = [k for k in current if k == key or (not policy.case_sensitive and k.lower() == key.lower())]
        for actual in sorted(present):
            violation = _violation(key, FORBIDDEN, current[actual], "absent", "remove" if remove_forbidden else None,
                                   actual)
            violations.append(violation)
            if remove_forbidden:
                remove.add(actual)
            else:
                unfixed.append(violation)
    after = dict(current)
    for key in remove:
        after.pop(key, None)
    after.update(add)
    return dict(violations=violations, add=add, remove=sorted(remove), unfixed=unfixed, after=after,
                before=current)


def tag_limit_error(before, add, remove):
    """None, or why a change would break the per-resource limit of user tags."""
    after = set(before) - set(remove) | set(add)
    if len(after) > MAX_USER_TAGS:
        return ("the change would give the resource %d user tags; AWS allows at most %d"
                % (len(after), MAX_USER_TAGS))
    return None


def chunks(items, size):
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]
