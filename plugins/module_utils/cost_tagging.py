# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and writing resource tags for the cost tag policy, and activating
cost-allocation tags.

The Resource Groups Tagging API does most of the work. Where it cannot read or
tag a resource (it reports that inside a successful reply, in
``FailedResourcesMap``, or simply does not return the resource) the resource's
own service API is used: ELBv2 (``add_tags``/``remove_tags``), Auto Scaling
(``create_or_update_tags``/``delete_tags``) and Route 53
(``change_tags_for_resource``). Keys that start with ``aws:`` are never written.
"""

from ansible_collections.ultraai.platform.plugins.module_utils.aws import client_from_params
from ansible_collections.ultraai.platform.plugins.module_utils.cost_calls import AWSCallError, call
from ansible_collections.ultraai.platform.plugins.module_utils.cost_policy import (
    chunks,
    is_aws_key,
    parse_arn,
)

TAGGING_WRITE_BATCH = 20  # ResourceARNList of TagResources/UntagResources
TAGGING_READ_BATCH = 100  # ResourceARNList of GetResources
ELBV2_BATCH = 20
COST_ALLOCATION_BATCH = 20  # UpdateCostAllocationTagsStatus takes at most 20 keys
COST_ALLOCATION_LIST_BATCH = 100


class Clients(object):
    """boto3 clients per (service, region), made on first use."""

    def __init__(self, params, factory=None):
        self.params = params
        self.factory = factory or client_from_params
        self.cache = {}

    def region_for(self, arn):
        region = parse_arn(arn)[2]
        return region or self.params.get("region")

    def get(self, service, region=None):
        key = (service, region)
        if key not in self.cache:
            params = dict(self.params)
            if region:
                params["region"] = region
            self.cache[key] = self.factory(params, service)
        return self.cache[key]


def _tag_list_to_dict(tags):
    return dict((t["Key"], t.get("Value", "")) for t in tags or [])


# ---------------------------------------------------------------- services' own APIs

def _asg_name(arn):
    resource = parse_arn(arn)[4]
    if "autoScalingGroupName/" not in resource:
        return None
    return resource.split("autoScalingGroupName/", 1)[1]


def _route53_id(arn):
    resource = parse_arn(arn)[4]
    kind, dummy, ident = resource.partition("/")
    if kind not in ("hostedzone", "healthcheck") or not ident:
        return None, None
    return kind, ident


class ServiceTagger(object):
    """Read and write tags through one service's own API."""

    def __init__(self, clients):
        self.clients = clients

    def handles(self, arn):
        raise NotImplementedError

    def read(self, arn):
        raise NotImplementedError

    def write(self, arn, add, remove):
        raise NotImplementedError


class Elbv2Tagger(ServiceTagger):
    def handles(self, arn):
        service, resource = parse_arn(arn)[1], parse_arn(arn)[4]
        return service == "elasticloadbalancing" and resource.startswith(("loadbalancer/app/", "loadbalancer/net/",
                                                                          "loadbalancer/gwy/", "targetgroup/"))

    def client(self, arn):
        return self.clients.get("elbv2", self.clients.region_for(arn))

    def read(self, arn):
        resp = call("read the tags of %s (elbv2 describe_tags)" % arn, self.client(arn).describe_tags,
                    ResourceArns=[arn])
        for desc in resp.get("TagDescriptions", []):
            if desc.get("ResourceArn") == arn:
                return _tag_list_to_dict(desc.get("Tags"))
        return None

    def write(self, arn, add, remove):
        client = self.client(arn)
        if add:
            call("tag %s (elbv2 add_tags)" % arn, client.add_tags, ResourceArns=[arn],
                 Tags=[{"Key": k, "Value": v} for k, v in sorted(add.items())])
        if remove:
            call("untag %s (elbv2 remove_tags)" % arn, client.remove_tags, ResourceArns=[arn], TagKeys=list(remove))


class AutoScalingTagger(ServiceTagger):
    def handles(self, arn):
        return parse_arn(arn)[1] == "autoscaling" and _asg_name(arn) is not None

    def client(self, arn):
        return self.clients.get("autoscaling", self.clients.region_for(arn))

    def read(self, arn):
        name = _asg_name(arn)
        client = self.client(arn)
        groups = call("read %s (autoscaling describe_auto_scaling_groups)" % arn,
                      client.describe_auto_scaling_groups, AutoScalingGroupNames=[name])
        if not groups.get("AutoScalingGroups"):
            return None
        return dict((t["Key"], t.get("Value", "")) for t in groups["AutoScalingGroups"][0].get("Tags", []))

    def write(self, arn, add, remove):
        name = _asg_name(arn)
        client = self.client(arn)
        if add:
            # PropagateAtLaunch: instances the group starts carry the cost tags too.
            tags = [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                     "PropagateAtLaunch": True} for k, v in sorted(add.items())]
            call("tag %s (autoscaling create_or_update_tags)" % arn, client.create_or_update_tags, Tags=tags)
        if remove:
            tags = [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k} for k in remove]
            call("untag %s (autoscaling delete_tags)" % arn, client.delete_tags, Tags=tags)


class Route53Tagger(ServiceTagger):
    def handles(self, arn):
        return parse_arn(arn)[1] == "route53" and _route53_id(arn)[0] is not None

    def read(self, arn):
        kind, ident = _route53_id(arn)
        resp = call("read the tags of %s (route53 list_tags_for_resource)" % arn,
                    self.clients.get("route53").list_tags_for_resource, ResourceType=kind, ResourceId=ident)
        return _tag_list_to_dict(resp.get("ResourceTagSet", {}).get("Tags"))

    def write(self, arn, add, remove):
        kind, ident = _route53_id(arn)
        kwargs = dict(ResourceType=kind, ResourceId=ident)
        if add:
            kwargs["AddTags"] = [{"Key": k, "Value": v} for k, v in sorted(add.items())]
        if remove:
            kwargs["RemoveTagKeys"] = list(remove)
        call("tag %s (route53 change_tags_for_resource)" % arn, self.clients.get("route53").change_tags_for_resource,
             **kwargs)


# ---------------------------------------------------------------- the tagging API plus fallbacks

class ResourceTags(object):
    """Find resources and read and write their tags."""

    def __init__(self, clients):
        self.clients = clients
        self.services = [Elbv2Tagger(clients), AutoScalingTagger(clients), Route53Tagger(clients)]

    def service_for(self, arn):
        for tagger in self.services:
            if tagger.handles(arn):
                return tagger
        return None

    def tagging(self, region=None):
        return self.clients.get("resourcegroupstaggingapi", region)

    def discover(self, tag_filters=None, resource_type_filters=None):
        """{arn: tags} of every resource the tagging API returns for the filters (module's region)."""
        kwargs = {}
        if tag_filters:
            kwargs["TagFilters"] = [{"Key": k, "Values": list(v or [])} if v else {"Key": k}
                                    for k, v in sorted(tag_filters.items())]
        if resource_type_filters:
            kwargs["ResourceTypeFilters"] = list(resource_type_filters)
        found = {}
        client = self.tagging()
        token = None
        while True:
            if token:
                kwargs["PaginationToken"] = token
            resp = call("find resources (tagging get_resources)", client.get_resources, **kwargs)
            for item in resp.get("ResourceTagMappingList", []):
                found[item["ResourceARN"]] = _tag_list_to_dict(item.get("Tags"))
            token = resp.get("PaginationToken")
            if not token:
                return found

    def read(self, arns):
        """{arn: (tags, source)}; tags is {} and source 'not-found' for a resource no API returned
        (the tagging API omits resources that never had a tag)."""
        out = {}
        by_region = {}
        for arn in arns:
            tagger = self.service_for(arn)
            if tagger is not None:
                tags = tagger.read(arn)
                out[arn] = (tags, type(tagger).__name__) if tags is not None else ({}, "not-found")
                continue
            by_region.setdefault(self.clients.region_for(arn), []).append(arn)
        for region, region_arns in sorted(by_region.items(), key=lambda item: item[0] or ""):
            client = self.tagging(region)
            for batch in chunks(region_arns, TAGGING_READ_BATCH):
                kwargs = {"ResourceARNList": batch}
                while True:
                    resp = call("read tags (tagging get_resources)", client.get_resources, **kwargs)
                    for item in resp.get("ResourceTagMappingList", []):
                        out[item["ResourceARN"]] = (_tag_list_to_dict(item.get("Tags")), "tagging-api")
                    token = resp.get("PaginationToken")
                    if not token:
                        break
                    kwargs["PaginationToken"] = token
            for arn in region_arns:
                out.setdefault(arn, ({}, "not-found"))
        return out

    def apply(self, changes):
        """Make the changes: {arn: (add, remove, remove_first)}. Returns {arn: error or None}.

        Adds go through the tagging API in batches of 20 ARNs with the same tags; a
        resource it reports in FailedResourcesMap is retried through its service's
        own API when the collection knows one, else its error is returned."""
        for arn, (add, remove, dummy) in changes.items():
            bad = [k for k in list(add) + list(remove) if is_aws_key(k)]
            if bad:  # evaluate() never produces these; refuse rather than trust it
                raise AWSCallError("refusing to change aws: keys %s on %s" % (", ".join(bad), arn))
        errors = dict.fromkeys(changes)
        first = dict((arn, c) for arn, c in changes.items() if c[2])
        rest = dict((arn, c) for arn, c in changes.items() if not c[2])
        for group in (first, rest):
            order = ("remove", "add") if group is first else ("add", "remove")
            for step in order:
                pending = {}
                for arn, (add, remove, dummy) in group.items():
                    if errors[arn] is None and (add if step == "add" else remove):
                        pending[arn] = add if step == "add" else remove
                errors.update(self._write(step, pending))
        return errors

    def _write(self, step, pending):
        """step 'add' ({arn: tags}) or 'remove' ({arn: keys}); returns {arn: error} for failures."""
        errors = {}
        groups = {}
        for arn, payload in pending.items():
            key = tuple(sorted(payload.items())) if step == "add" else tuple(sorted(payload))
            groups.setdefault((self.clients.region_for(arn), key), []).append(arn)
        for (region, key), arns in sorted(groups.items(), key=lambda item: (item[0][0] or "", repr(item[0][1]))):
            client = self.tagging(region)
            for batch in chunks(sorted(arns), TAGGING_WRITE_BATCH):
                # One resource the API refuses with an error for the whole call
                # (TagLimitExceeded, for example) must not cost the others their
                # change: the batch is then tried one resource at a time.
                try:
                    replies = [self._write_call(client, step, batch, key)]
                except AWSCallError as exc:
                    if exc.whole_run():  # throttled or denied: one resource at a time would be too
                        raise
                    if len(batch) == 1:
                        errors[batch[0]] = str(exc)
                        continue
                    replies = []
                    for arn in batch:
                        try:
                            replies.append(self._write_call(client, step, [arn], key))
                        except AWSCallError as exc_one:
                            errors[arn] = str(exc_one)
                for resp in replies:
                    for arn, failure in (resp.get("FailedResourcesMap") or {}).items():
                        errors[arn] = self._fallback(step, arn, pending[arn], failure)
        return dict((arn, err) for arn, err in errors.items() if err)

    @staticmethod
    def _write_call(client, step, arns, key):
        if step == "add":
            return call("tag resources (tagging tag_resources)", client.tag_resources,
                        ResourceARNList=arns, Tags=dict(key))
        return call("untag resources (tagging untag_resources)", client.untag_resources,
                    ResourceARNList=arns, TagKeys=list(key))

    def _fallback(self, step, arn, payload, failure):
        tagger = self.service_for(arn)
        if tagger is None:
            return "the tagging API refused %s: %s: %s" % (arn, failure.get("ErrorCode"), failure.get("ErrorMessage"))
        try:
            if step == "add":
                tagger.write(arn, payload, [])
            else:
                tagger.write(arn, {}, payload)
        except AWSCallError as exc:
            return str(exc)
        return None


# ---------------------------------------------------------------- cost-allocation tags

def activate_cost_allocation_tags(ce, keys, check_mode=False):
    """Activate user-defined cost-allocation tags (UpdateCostAllocationTagsStatus takes at most
    20 keys per call). Returns dict(already_active, activated, errors, calls)."""
    status = {}
    for batch in chunks(sorted(keys), COST_ALLOCATION_LIST_BATCH):
        kwargs = {"TagKeys": batch, "Type": "UserDefined"}
        while True:
            resp = call("list cost-allocation tags (ce list_cost_allocation_tags)", ce.list_cost_allocation_tags,
                        **kwargs)
            for tag in resp.get("CostAllocationTags", []):
                status[tag["TagKey"]] = tag.get("Status")
            if not resp.get("NextToken"):
                break
            kwargs["NextToken"] = resp["NextToken"]
    already = sorted(k for k in keys if status.get(k) == "Active")
    todo = sorted(k for k in keys if status.get(k) != "Active")
    result = dict(already_active=already, activated=[], errors=[], calls=0, pending=todo if check_mode else [])
    if check_mode:
        return result
    for batch in chunks(todo, COST_ALLOCATION_BATCH):
        resp = call("activate cost-allocation tags (ce update_cost_allocation_tags_status)",
                    ce.update_cost_allocation_tags_status,
                    CostAllocationTagsStatus=[{"TagKey": k, "Status": "Active"} for k in batch])
        result["calls"] += 1
        failed = dict((e.get("TagKey"), e) for e in resp.get("Errors", []))
        result["errors"].extend({"key": k, "code": e.get("Code"), "message": e.get("Message")}
                                for k, e in sorted(failed.items()))
        result["activated"].extend(k for k in batch if k not in failed)
    return result
