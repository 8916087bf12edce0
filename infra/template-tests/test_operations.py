"""What a production deployment needs beyond serving: CustomersDot's way in through IAM-checked
function URLs, and what on-call sees (alarms on every function, the table and the API, a
dashboard per family, log retention). The request log lines' metrics (EMF) are named in
shared/http/src/request_log.rs; the families in each function's router."""

import json
import re

from sam_template import ROOT, as_list, resources_of

NAMESPACE = re.search(
    r'pub const METRICS_NAMESPACE: &str = "([^"]+)"',
    (ROOT / "shared/http/src/request_log.rs").read_text(),
).group(1)


def families_by_function(source):
    """{function logical id: the family its router tags its lines with}."""
    families = {}
    for name, resource in source["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        router = (ROOT / "functions" / binary / "src/lib.rs").read_text()
        (family,) = re.findall(r'request_log::family\(\s*"([^"]+)"', router)
        families[name] = family
    return families


def test_customers_dot_calls_billing_and_admin_through_iam_function_urls(source, expanded):
    urls = resources_of(expanded, "AWS::Lambda::Url")
    assert {url["Properties"]["TargetFunctionArn"]["Ref"] for url in urls.values()} == {
        "BillingFunction",
        "AdminFunction",
    }
    for url in urls.values():
        assert url["Properties"]["AuthType"] == "AWS_IAM", url
    grants = {}
    for permission in resources_of(expanded, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        if props.get("Principal") != {"Ref": "CustomersDotPrincipal"}:
            # Only API Gateway's own invocations, through the private API.
            assert props["Principal"] == "apigateway.amazonaws.com", props
            assert props["Action"] == "lambda:InvokeFunction", props
            continue
        grants.setdefault(props["FunctionName"]["Ref"], []).append(props)
    assert set(grants) == {"BillingFunction", "AdminFunction"}
    for function, props in grants.items():
        by_action = {p["Action"]: p for p in props}
        assert set(by_action) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}, function
        assert by_action["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "AWS_IAM"
        # The invocation grant is for calls through the URL only, not direct Invoke calls.
        assert by_action["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    parameter = source["Parameters"]["CustomersDotPrincipal"]
    assert "Default" not in parameter, "the deployer names CustomersDot's principal"
    pattern = re.compile(parameter["AllowedPattern"])
    for refused in ["*", "", "arn:aws:iam::210987654321:root", "arn:aws:iam::*:role/x"]:
        assert not pattern.fullmatch(refused), refused
    for accepted in ["210987654321", "arn:aws:iam::210987654321:role/CustomersDotBilling"]:
        assert pattern.fullmatch(accepted), accepted
    outputs = source["Outputs"]
    assert outputs["BillingFunctionUrl"]["Value"] == {"Fn::GetAtt": ["BillingFunctionUrl", "FunctionUrl"]}
    assert outputs["AdminFunctionUrl"]["Value"] == {"Fn::GetAtt": ["AdminFunctionUrl", "FunctionUrl"]}


def alarms(expanded):
    return resources_of(expanded, "AWS::CloudWatch::Alarm").values()


def test_every_function_has_its_alarms(source, expanded):
    families = families_by_function(source)
    assert len(families) == 6
    for alarm in alarms(expanded):
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], props["AlarmName"]
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], props["AlarmName"]
        assert props["TreatMissingData"] == "notBreaching", props["AlarmName"]

    def watching(namespace, metric, dimension, value):
        return [
            a["Properties"]
            for a in alarms(expanded)
            if a["Properties"].get("Namespace") == namespace
            and a["Properties"].get("MetricName") == metric
            and a["Properties"].get("Dimensions") == [{"Name": dimension, "Value": value}]
        ]

    for function, family in families.items():
        for metric in ["Errors", "Throttles"]:
            (alarm,) = watching("AWS/Lambda", metric, "FunctionName", {"Ref": function})
            assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 0, alarm
        (latency,) = watching(NAMESPACE, "latency_ms", "family", family)
        assert latency["ExtendedStatistic"] == "p99", latency
        assert 0 < latency["Threshold"] <= 1000, latency

    (throttles,) = [a["Properties"] for a in alarms(expanded) if "Metrics" in a["Properties"]]
    watched = {
        (m["MetricStat"]["Metric"]["MetricName"], json.dumps(m["MetricStat"]["Metric"]["Dimensions"]))
        for m in throttles["Metrics"]
        if "MetricStat" in m
    }
    table = json.dumps([{"Name": "TableName", "Value": {"Ref": "Table"}}])
    assert watched == {("ReadThrottleEvents", table), ("WriteThrottleEvents", table)}

    (api,) = resources_of(expanded, "AWS::ApiGateway::RestApi").values()
    (errors,) = [a["Properties"] for a in alarms(expanded) if a["Properties"].get("MetricName") == "5XXError"]
    assert errors["Namespace"] == "AWS/ApiGateway"
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
        "ApiName": api["Properties"]["Name"],
        "Stage": {"Ref": "StageName"},
    }
    assert errors["Statistic"] == "Average" and 0 < errors["Threshold"] < 0.05


def test_the_dashboard_shows_every_family_and_every_alarm(source, expanded):
    body = source["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # What CloudFormation substitutes, made concrete so the body parses as the JSON it becomes.
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    metrics = [
        json.dumps(w["properties"]["metrics"])
        for w in dashboard["widgets"]
        if w["type"] == "metric"
    ]
    for function, family in families_by_function(source).items():
        assert any(f'"{NAMESPACE}", "latency_ms", "family", "{family}"' in m for m in metrics), family
        assert any(f'"${{{function}}}"' in m for m in re.findall(r'"metrics":.*', body)), function
    (alarm_widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    shown = len(alarm_widget["properties"]["alarms"])
    names = [a["Properties"]["AlarmName"]["Fn::Sub"] for a in alarms(expanded)]
    assert shown == len(names)
    for name in names:
        assert name.replace("${AWS::StackName}", "") in body, name


def test_every_function_logs_to_a_group_with_retention(source):
    groups = {
        resource["Properties"]["LogGroupName"]["Fn::Sub"]: resource["Properties"]
        for resource in source["Resources"].values()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    for function in families_by_function(source):
        group = groups[f"/aws/lambda/${{{function}}}"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function
    assert as_list(source["Parameters"]["LogRetentionDays"]["AllowedValues"])
