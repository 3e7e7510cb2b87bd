"""The deployment files are valid and agree with each other and with the services.

Checks the Prometheus scrape config and alert rules (with promtool, including the alert
unit tests), the Grafana dashboards (every query names only metrics the services export
and parses as PromQL; one operations dashboard per service), docker-compose.yml, and the
Kubernetes manifests of both overlays (rendered with `kubectl kustomize`): Jobs for topics
and migrations, autoscalers, network policies, and every environment variable they and
compose set is a setting some settings class reads, with a valid value, while every setting
that must be set is. promtool and kubectl come from `scripts/install-tools.sh`; without
them these tests fail, they never skip.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
K8S_OVERLAYS = ("production", "dev")  # deploy/k8s/overlays/*

# (service, HTTP port, environment variable prefix)
SERVICES = [
    ("planning", 8001, "PLANNING_"),
    ("events", 8002, "EVENTS_"),
    ("notifications", 8003, "NOTIFICATIONS_"),
    ("metrics", 8004, "METRICS_"),
]
SERVICE_NAMES = [name for name, _, _ in SERVICES]
# Services with pages people reach from e-mails and reports: they read `<prefix>PUBLIC_URL`.
PUBLIC_SERVICES = {"events", "notifications", "metrics"}

# What the services export (shared/metrics.py and the business metrics), by series name.
COUNTERS = {
    "budskab_http_requests_total": {"method", "route", "status"},
    "budskab_consumer_messages_total": {"group", "topic", "outcome"},
    "budskab_consumer_failures_total": {"group", "topic"},
    "budskab_dlq_messages_total": {"group", "reason"},
    "budskab_outbox_published_total": set(),
    "budskab_outbox_publish_failures_total": set(),
    "budskab_timers_fired_total": set(),
    "budskab_deliveries_total": {"channel", "status"},
}
GAUGES = {
    "budskab_consumer_lag": {"group", "topic", "partition"},
    "budskab_outbox_backlog": set(),
    "budskab_outbox_oldest_age_seconds": set(),
    "budskab_timers_due": set(),
    # notifications
    "budskab_deliveries_due": set(),
    "budskab_delivery_queue_age_seconds": set(),
    "budskab_sends_running": set(),
    # metrics (services/metrics/gauges.py): bounded labels only, never a plan id
    "budskab_kpi_goals": {"state"},
    "budskab_registrations": {"status"},
    "budskab_attendees_checked_in": set(),
    "budskab_events": {"format", "status"},
    "budskab_survey_responses": set(),
    "budskab_survey_satisfied_ratio": set(),
    "budskab_reach_contacts": set(),
}
HISTOGRAMS = {
    "budskab_http_request_duration_seconds": {"method", "route"},
    "budskab_consumer_handling_duration_seconds": {"group", "topic"},
}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance", "service"}

KNOWN_SERIES: dict[str, set[str]] = {"up": set(), **COUNTERS, **GAUGES}
for _name, _labels in HISTOGRAMS.items():
    KNOWN_SERIES[f"{_name}_bucket"] = _labels | {"le"}
    KNOWN_SERIES[f"{_name}_sum"] = _labels
    KNOWN_SERIES[f"{_name}_count"] = _labels

PROMQL_KEYWORDS = set(
    "and or unless bool offset by without on ignoring group_left group_right inf nan start end".split()
)
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


# ---------------------------------------------------------------- helpers


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH; the deploy tests need it. "
            "Install it with `bash scripts/install-tools.sh` (Debian packages "
            "`prometheus` for promtool, `kubernetes-client` for kubectl).",
            pytrace=False,
        )
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return run(require_tool("promtool"), *args)


def load_yaml(path: Path) -> dict:
    with path.open() as f:
        return yaml.safe_load(f)


def dashboard_queries(node: object) -> list[str]:
    """Every PromQL `expr` in a dashboard, wherever it sits (panels, rows, targets)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(dashboard_queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(dashboard_queries(item))
    return found


def as_promql(expr: str) -> str:
    """A Grafana query as plain PromQL: interval macros become durations, $variables `.*`."""
    for macro, duration in GRAFANA_INTERVALS.items():
        expr = expr.replace(macro, duration)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def referenced_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) that a PromQL expression refers to."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    labels: set[str] = set()
    for matchers in re.findall(r"\{([^{}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    expr = re.sub(r"\{[^{}]*\}", " ", expr)
    expr = re.sub(r"\[[^\[\]]*\]", " ", expr)
    grouping = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)"
    for names in re.findall(grouping, expr):
        labels |= {n.strip() for n in names.split(",") if n.strip()}
    expr = re.sub(grouping, " ", expr)
    metrics = {
        m.group(1)
        for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*+)(?!\s*\()", expr)
        if m.group(1).lower() not in PROMQL_KEYWORDS
    }
    return metrics, labels


def compose() -> dict:
    return load_yaml(ROOT / "docker-compose.yml")


@functools.cache
def _rendered(overlay: str) -> str:
    return run(
        require_tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)
    ).stdout


def kustomize(overlay: str) -> list[dict]:
    """The overlay's manifests as `kubectl kustomize` renders them (rendered once, parsed
    afresh for each caller)."""
    return [d for d in yaml.safe_load_all(_rendered(overlay)) if d]


def of_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def pod_templates(documents: list[dict]) -> dict[str, dict]:
    """Every pod template (Deployments and Jobs), by its workload's name."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]
        for d in documents
        if d["kind"] in ("Deployment", "Job")
    }


class SecretRef(NamedTuple):
    """An environment variable's value from a Secret."""

    secret: str
    key: str
    optional: bool  # the variable is left unset when the Secret lacks the key


def container_env(documents: list[dict], container: dict) -> dict[str, str | SecretRef]:
    """A container's environment: its ConfigMaps' data (envFrom), then its own entries."""
    config_maps = of_kind(documents, "ConfigMap")
    env: dict[str, str | SecretRef] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = SecretRef(ref["name"], ref["key"], ref.get("optional", False))
    return env


# ---------------------------------------------------------------- settings


def settings_classes() -> dict[str, type[BaseSettings]]:
    """Every settings class a Budskab container reads, by its variables' prefix: each
    service's (shared/settings.py's ServiceSettings fields and its own) and the topics
    command's."""
    from scripts.migrate import settings_class
    from scripts.topics import TopicSettings

    classes = [settings_class(name) for name in SERVICE_NAMES] + [TopicSettings]
    return {cls.model_config["env_prefix"]: cls for cls in classes}


def variables(cls: type[BaseSettings]) -> dict[str, str]:
    """The environment variables a settings class reads: name -> field."""
    assert not cls.model_config.get("case_sensitive"), cls.__name__
    found = {}
    for name, field in cls.model_fields.items():
        # an alias would change the variable's name: then this must learn to read it
        assert field.alias is None and field.validation_alias is None, (cls.__name__, name)
        found[f"{cls.model_config['env_prefix']}{name}".upper()] = name
    return found


LAPTOP_ONLY = re.compile(r"127\.0\.0\.1|localhost|sqlite")
# a loopback default that holds in a container too: a proxy beside the service (a mesh's
# sidecar) is 127.0.0.1 there as well
FIT_ANYWHERE = {"http_trusted_proxies"}


def must_be_set(cls: type[BaseSettings]) -> set[str]:
    """What a deployment must set: every setting without a default, and every one whose
    default only works on a laptop (a loopback address, an SQLite file, a localhost sender)."""
    return {
        variable
        for variable, name in variables(cls).items()
        if cls.model_fields[name].is_required()
        or (LAPTOP_ONLY.search(str(cls.model_fields[name].default)) and name not in FIT_ANYWHERE)
    }


def reads(command: list[str]) -> tuple[set[str], set[str]]:
    """(every variable, the variables that must be set) for a container's command."""
    from scripts.migrate import settings_class
    from scripts.topics import TopicSettings

    module, arguments = command[2], command[3:]
    if module == "scripts.migrate":  # only each named service's database URL
        urls = {f"{settings_class(s).model_config['env_prefix']}DATABASE_URL" for s in arguments}
        return urls, urls
    if module == "scripts.topics":
        cls: type[BaseSettings] = TopicSettings
    else:
        assert module.startswith("services."), command
        cls = settings_class(module.removeprefix("services."))
    return set(variables(cls)), must_be_set(cls)


def interpolate(value: str) -> str:
    """A compose value with ${VAR:-default} as its default and ${VAR:?error} as a valid
    secret (such a variable must be set when compose runs)."""

    def one(match: re.Match) -> str:
        kind, rest = match.group(2), match.group(3)
        if kind is None:
            return ""  # what compose puts for a variable that is not set
        return rest if kind in (":-", "-") else "s" * 48

    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", one, value)


def deployed_containers() -> dict[str, tuple[list[str], dict[str, str | SecretRef], set[str]]]:
    """Every container that runs the Budskab image, in compose and in both overlays:
    "where/name" -> (command, its whole environment, the variables it sets itself)."""
    found = {}
    services = compose()["services"]
    image = services["planning"]["image"]
    for name, service in services.items():
        if service.get("image") == image:
            env: dict[str, str | SecretRef] = {
                k: interpolate(str(v)) for k, v in service.get("environment", {}).items()
            }
            found[f"compose/{name}"] = (service["command"], env, set(env))
    for overlay in K8S_OVERLAYS:
        documents = kustomize(overlay)
        for workload, template in pod_templates(documents).items():
            for container in template["spec"]["containers"]:
                own = {e["name"] for e in container.get("env", [])}
                env = container_env(documents, container)
                found[f"{overlay}/{workload}"] = (container["command"], env, own)
    return found


def with_secrets(env: dict[str, str | SecretRef]) -> dict[str, str]:
    """Secret references as secret.example.yaml's values (a valid token key for its
    placeholder); optional references left out, as when the Secret lacks the key."""
    example = load_yaml(DEPLOY / "k8s" / "secret.example.yaml")
    # the example's key and token are placeholders, which the services refuse
    values = {**example["stringData"], "jwt-secret": "k" * 48, "metrics-token": "m" * 48}
    resolved = {}
    for name, value in env.items():
        if isinstance(value, SecretRef):
            if value.optional:
                continue
            assert value.secret == example["metadata"]["name"], (name, value)
            assert value.key in values, f"{name}: key {value.key} is not in secret.example.yaml"
            value = values[value.key]
        resolved[name] = value
    return resolved


# ---------------------------------------------------------------- Prometheus


def test_prometheus_config_is_valid(tmp_path: Path):
    """Checked whole: its rule files, and the token it scrapes with in a file of its own
    (compose mounts its secret at /run/secrets/metrics_token)."""
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    config["rule_files"] = [str(PROMETHEUS / name) for name in config["rule_files"]]
    token = tmp_path / "metrics_token"
    token.write_text("t" * 48)
    for job in config["scrape_configs"]:
        assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
        job["authorization"]["credentials_file"] = str(token)
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    promtool("check", "config", str(checked))


def test_alert_rules_are_valid():
    promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))


def test_alert_rules_pass_their_unit_tests():
    promtool("test", "rules", str(PROMETHEUS / "alerts_test.yml"))


def test_prometheus_scrapes_each_service_on_its_compose_port():
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(SERVICE_NAMES) <= set(jobs)
    services = compose()["services"]
    for name, port, prefix in SERVICES:
        job = jobs[name]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert targets == [f"{name}:{port}"]
        assert str(services[name]["environment"][f"{prefix}HTTP_PORT"]) == str(port)


def test_alert_rules_name_only_exported_metrics_and_carry_severity_and_annotations():
    rules = [r for g in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for r in g["rules"]]
    assert len(rules) >= 7
    for rule in rules:
        metrics, labels = referenced_names(rule["expr"])
        assert metrics <= set(KNOWN_SERIES), (rule["alert"], metrics - set(KNOWN_SERIES))
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_the_known_series_are_exactly_what_the_services_export():
    """COUNTERS, GAUGES and HISTOGRAMS match the metric objects in shared/metrics.py and the
    metrics service's gauges, names and label sets both."""
    from prometheus_client.metrics import MetricWrapperBase

    import services.metrics.gauges
    import shared.metrics

    exported: dict[str, dict[str, set[str]]] = {"counter": {}, "gauge": {}, "histogram": {}}
    for module in (shared.metrics, services.metrics.gauges):
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                name = metric._name + ("_total" if metric._type == "counter" else "")
                exported[metric._type][name] = set(metric._labelnames)
    assert exported == {"counter": COUNTERS, "gauge": GAUGES, "histogram": HISTOGRAMS}


# ---------------------------------------------------------------- Grafana


def test_there_are_overview_and_business_dashboards():
    assert {p.name for p in DASHBOARDS} >= {"budskab-overview.json", "budskab-business.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_name_only_exported_metrics_and_labels(path: Path):
    dashboard = json.loads(path.read_text())
    queries = dashboard_queries(dashboard)
    assert queries, f"{path.name} has no queries"
    allowed_labels = {label for labels in KNOWN_SERIES.values() for label in labels}
    allowed_labels |= TARGET_LABELS
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    for expr in queries:
        metrics, labels = referenced_names(as_promql(expr))
        assert metrics, f"no metric in {expr!r}"
        unknown = metrics - set(KNOWN_SERIES)
        assert not unknown, f"{path.name}: unknown metric(s) {sorted(unknown)} in {expr!r}"
        assert labels <= allowed_labels, f"{path.name}: unknown label(s) in {expr!r}"
        used = {v for v in re.findall(r"\$\{?(\w+)", expr) if not v.startswith("__")}
        assert used <= variables, f"{path.name}: undefined variable(s) {used - variables}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_variables_query_only_exported_metrics_and_labels(path: Path):
    dashboard = json.loads(path.read_text())
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\s*\)", query.strip(), re.S)
        assert match, f"{path.name}: ${variable['name']}: unexpected query {query!r}"
        selector, label = match.groups()
        metrics, _ = referenced_names(selector)
        assert metrics, f"{path.name}: ${variable['name']}: no metric in {query!r}"
        unknown = metrics - set(KNOWN_SERIES)
        assert not unknown, f"{path.name}: ${variable['name']}: unknown {sorted(unknown)}"
        for metric in metrics:
            assert label in KNOWN_SERIES[metric] | TARGET_LABELS, (
                f"{path.name}: ${variable['name']}: {metric} has no label {label}"
            )


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_promtool_parses_every_dashboard_query(path: Path, tmp_path: Path):
    queries = dashboard_queries(json.loads(path.read_text()))
    rules = {
        "groups": [
            {
                "name": path.stem,
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": as_promql(expr)}
                    for i, expr in enumerate(queries)
                ],
            }
        ]
    }
    rules_file = tmp_path / "dashboard_queries.yml"
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = promtool("check", "rules", str(rules_file))
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_use_the_provisioned_prometheus_datasource(path: Path):
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    assert panels
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", panel["title"]


def test_grafana_provisioning_matches_the_dashboards_and_compose_mounts():
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    (prometheus,) = datasources["datasources"]
    assert prometheus["uid"] == "prometheus"
    assert prometheus["type"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "budskab.yml")["providers"]
    (provider,) = providers
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    volumes = compose()["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


# ---------------------------------------------------------------- docker-compose


def test_compose_runs_the_whole_production_shape():
    services = compose()["services"]
    expected = {"kafka", "postgres", "prometheus", "grafana", "mailpit", *SERVICE_NAMES}
    assert expected <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["postgres"]["image"] == "postgres:15"
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"
        if service.get("restart") == "no":  # a one-shot: the services wait for its success
            for app in SERVICE_NAMES:
                assert services[app]["depends_on"][name] == {
                    "condition": "service_completed_successfully"
                }, f"{app} does not wait for {name}"
        else:
            assert "healthcheck" in service, f"{name} has no healthcheck"


def test_compose_creates_the_topics_before_the_services_start():
    services = compose()["services"]
    topics = services["topics"]
    assert topics["command"] == ["python", "-m", "scripts.topics"]
    assert topics["image"] == services["planning"]["image"]
    assert topics["restart"] == "no"
    assert topics["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    env = topics["environment"]
    for name, _, prefix in SERVICES:
        bootstrap = services[name]["environment"][f"{prefix}KAFKA_BOOTSTRAP_SERVERS"]
        assert env["TOPICS_KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
        waits_for = services[name]["depends_on"]["topics"]
        assert waits_for == {"condition": "service_completed_successfully"}
    kafka = services["kafka"]["environment"]
    assert str(env["TOPICS_PARTITIONS"]) == str(kafka["KAFKA_NUM_PARTITIONS"])
    assert str(env["TOPICS_REPLICATION_FACTOR"]) == "1"  # one broker


@pytest.mark.parametrize(("name", "port", "prefix"), SERVICES)
def test_compose_service_is_configured_and_waits_for_its_dependencies(name, port, prefix):
    service = compose()["services"][name]
    assert service["build"]["dockerfile"] == "Dockerfile"
    assert service["command"] == ["python", "-m", f"services.{name}"]
    env = service["environment"]
    assert env[f"{prefix}DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env[f"{prefix}DATABASE_URL"].endswith(f"@postgres:5432/{name}")
    assert env[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert str(env[f"{prefix}HTTP_PORT"]) == str(port)
    assert env[f"{prefix}HTTP_HOST"] == "0.0.0.0"
    assert f"{prefix}JWT_SECRET" in env and f"{prefix}LOG_LEVEL" in env
    depends = service["depends_on"]
    for dependency in ("kafka", "postgres"):
        assert depends[dependency]["condition"] == "service_healthy"
    assert f"{port}/readyz" in " ".join(service["healthcheck"]["test"])
    if name == "notifications":
        assert env["NOTIFICATIONS_SMTP_HOST"] == "mailpit"
        assert str(env["NOTIFICATIONS_SMTP_PORT"]) == "1025"
        assert env["NOTIFICATIONS_MAIL_FROM"]
        assert depends["mailpit"]["condition"] == "service_healthy"
    if name in PUBLIC_SERVICES:
        assert f"localhost:{port}" in env[f"{prefix}PUBLIC_URL"], env[f"{prefix}PUBLIC_URL"]


def test_compose_survey_links_point_at_the_metrics_service():
    services = compose()["services"]
    survey_url = services["notifications"]["environment"]["NOTIFICATIONS_SURVEY_URL"]
    assert survey_url == services["metrics"]["environment"]["METRICS_PUBLIC_URL"]


def test_compose_bind_mounts_exist_and_postgres_creates_every_service_database():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
    init_sql = (DEPLOY / "postgres" / "init.sql").read_text()
    for name in SERVICE_NAMES:
        assert re.search(rf"CREATE DATABASE {name}\b", init_sql), name


def test_dockerfile_installs_the_locked_dependencies_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "requirements.lock" in dockerfile
    assert "pip install --no-deps" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and not users[-1].startswith(("root", "0")), "the image must not run as root"
    assert 'CMD ["python", "-m", "services.planning"]' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)
    assert any("__pycache__" in line for line in ignored)


def test_install_tools_script_is_valid_bash():
    run("bash", "-n", str(ROOT / "scripts" / "install-tools.sh"))


# ---------------------------------------------------------------- Kubernetes


def test_kustomize_production_renders_a_probed_scraped_deployment_per_service():
    documents = kustomize("production")
    deployments = of_kind(documents, "Deployment")
    services = of_kind(documents, "Service")
    assert set(SERVICE_NAMES) <= set(deployments)
    for name, port, prefix in SERVICES:
        deployment = deployments[name]
        assert deployment["metadata"]["namespace"] == "budskab"
        # the HorizontalPodAutoscaler owns the count: a number here would reset it at apply
        assert "replicas" not in deployment["spec"]
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
        (container,) = template["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        image = container["image"]
        assert re.fullmatch(r".+:[\w.-]+", image) and not image.endswith(":latest"), image
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        env = {e["name"]: e for e in container.get("env", [])}
        for key in ("DATABASE_URL", "JWT_SECRET"):
            ref = env[f"{prefix}{key}"]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "budskab-secrets"
        config_maps = [
            s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s
        ]
        (config_map,) = [
            d
            for d in documents
            if d["kind"] == "ConfigMap" and d["metadata"]["name"] in config_maps
        ]
        assert config_map["data"][f"{prefix}KAFKA_BOOTSTRAP_SERVERS"]
        assert config_map["data"][f"{prefix}HTTP_PORT"] == str(port)
        assert services[name]["spec"]["ports"][0]["port"] == port
        if name in PUBLIC_SERVICES:
            assert config_map["data"][f"{prefix}PUBLIC_URL"].startswith("https://")
        if name == "notifications":
            survey_url = config_map["data"]["NOTIFICATIONS_SURVEY_URL"]
            assert survey_url == config_map["data"]["METRICS_PUBLIC_URL"]


def topics_job(documents: list[dict]) -> dict:
    """The budskab-topics Job's container."""
    job = of_kind(documents, "Job")["budskab-topics"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_production_autoscales_each_service_within_its_topics_partitions():
    documents = kustomize("production")
    autoscalers = of_kind(documents, "HorizontalPodAutoscaler")
    budgets = of_kind(documents, "PodDisruptionBudget")
    (config_map,) = of_kind(documents, "ConfigMap").values()
    topics_env = container_env(documents, topics_job(documents))
    for name, _, prefix in SERVICES:
        spec = autoscalers[name]["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        # more than the disruption budget keeps, so a drain leaves one running
        assert spec["minReplicas"] > budgets[name]["spec"]["minAvailable"]
        # a replica beyond the partitions would get none of its consumer group's work
        partitions = int(config_map["data"][f"{prefix}TOPIC_PARTITIONS"])
        assert spec["minReplicas"] <= spec["maxReplicas"] <= partitions
        assert partitions == int(topics_env["TOPICS_PARTITIONS"])
        assert spec["metrics"], name


@pytest.mark.parametrize("overlay", K8S_OVERLAYS)
def test_kubernetes_creates_the_topics_with_a_job_in_step_with_the_services(overlay):
    documents = kustomize(overlay)
    (config_map,) = of_kind(documents, "ConfigMap").values()
    deployments = of_kind(documents, "Deployment")
    job = of_kind(documents, "Job")["budskab-topics"]
    container = topics_job(documents)
    assert container["command"] == ["python", "-m", "scripts.topics"]
    assert (
        container["image"]
        == deployments["planning"]["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    # it runs before the ConfigMap exists (PreSync, or applied alone): its settings are its own
    assert "envFrom" not in container
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "setup"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    env = container_env(documents, container)
    for _, _, prefix in SERVICES:
        data = config_map["data"]
        assert env["TOPICS_KAFKA_BOOTSTRAP_SERVERS"] == data[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"]
        assert env["TOPICS_PARTITIONS"] == data[f"{prefix}TOPIC_PARTITIONS"]
        assert env["TOPICS_REPLICATION_FACTOR"] == data[f"{prefix}TOPIC_REPLICATION_FACTOR"]
    from scripts.topics import TopicSettings

    with mock.patch.dict(os.environ, with_secrets(env), clear=True):
        TopicSettings()  # valid values (retention within what the inbox covers)


@pytest.mark.parametrize("overlay", K8S_OVERLAYS)
def test_kubernetes_migrates_every_database_with_a_job(overlay):
    from scripts.migrate import SETTINGS

    documents = kustomize(overlay)
    deployments = of_kind(documents, "Deployment")
    job = of_kind(documents, "Job")["budskab-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "scripts.migrate", *SERVICE_NAMES]
    assert set(SERVICE_NAMES) == set(SETTINGS)
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert "envFrom" not in container  # only the database URLs, from the Secret
    env = {e["name"]: e for e in container["env"]}
    for name, _, prefix in SERVICES:
        service = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == service["image"]
        # the very database the service uses
        service_env = {e["name"]: e for e in service["env"]}
        variable = f"{prefix}DATABASE_URL"
        assert env[variable]["valueFrom"] == service_env[variable]["valueFrom"]
    (config_map,) = of_kind(documents, "ConfigMap").values()
    migrate_on_start = {config_map["data"].get(f"{p}MIGRATE_ON_START") for _, _, p in SERVICES}
    if overlay == "production":  # the Job migrates before the rollout; replicas do not race
        assert migrate_on_start == {"false"}
    else:  # dev: the services migrate too, whichever comes first
        assert migrate_on_start == {None}


def test_the_dev_overlay_runs_one_replica_in_dev_mode_without_autoscaling():
    documents = kustomize("dev")
    assert not of_kind(documents, "HorizontalPodAutoscaler")
    assert set(of_kind(documents, "Namespace")) == {"budskab-dev"}
    (config_map,) = of_kind(documents, "ConfigMap").values()
    data = config_map["data"]
    assert container_env(documents, topics_job(documents))["TOPICS_REPLICATION_FACTOR"] == "1"
    for name, port, prefix in SERVICES:
        deployment = of_kind(documents, "Deployment")[name]
        assert deployment["metadata"]["namespace"] == "budskab-dev"
        assert deployment["spec"]["replicas"] == 1
        assert data[f"{prefix}DEV_MODE"] == "true"
        assert data[f"{prefix}TOPIC_REPLICATION_FACTOR"] == "1"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        image = container["image"]
        assert re.fullmatch(r".+:[\w.-]+", image) and not image.endswith(":latest"), image
        # dev mode: the built-in key when the Secret has no jwt-secret
        env = container_env(documents, container)
        assert env[f"{prefix}JWT_SECRET"] == SecretRef("budskab-secrets", "jwt-secret", True)
        if name in PUBLIC_SERVICES:
            assert data[f"{prefix}PUBLIC_URL"] == f"http://localhost:{port}"
    assert data["NOTIFICATIONS_SURVEY_URL"] == data["METRICS_PUBLIC_URL"]


def egress_ports(policy: dict) -> set[tuple[str, int]]:
    return {
        (port.get("protocol", "TCP"), port["port"])
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }


def selects(policy: dict, template: dict) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return wanted.items() <= template["metadata"]["labels"].items()


@pytest.mark.parametrize("overlay", K8S_OVERLAYS)
def test_network_policies_let_services_reach_only_kafka_postgres_smtp_and_dns(overlay):
    documents = kustomize(overlay)
    policies = of_kind(documents, "NetworkPolicy")
    (config_map,) = of_kind(documents, "ConfigMap").values()
    data = config_map["data"]
    dns = {("UDP", 53), ("TCP", 53)}
    database_ports = {
        make_url(url).port or 5432
        for url in load_yaml(DEPLOY / "k8s" / "secret.example.yaml")["stringData"].values()
        if url.startswith("postgresql")
    }
    templates = pod_templates(documents)
    for workload, template in templates.items():
        applying = [p for p in policies.values() if selects(p, template)]
        assert len(applying) == 1, f"{workload}: {len(applying)} policies select its pods"
        (policy,) = applying
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}, workload
        env = container_env(documents, template["spec"]["containers"][0])
        kafka = {
            ("TCP", int(server.rsplit(":", 1)[1]))
            for key, value in env.items()
            if key.endswith("KAFKA_BOOTSTRAP_SERVERS")
            for server in str(value).split(",")
        }
        allowed = egress_ports(policy)
        assert dns <= allowed, workload
        if workload == "budskab-topics":
            assert kafka and allowed == dns | kafka, workload
        elif workload == "budskab-migrate":
            assert allowed == dns | {("TCP", p) for p in database_ports}, workload
        else:
            (port,) = [p for n, p, _ in SERVICES if n == workload]
            ingress = [p for rule in policy["spec"]["ingress"] for p in rule["ports"]]
            assert ingress == [{"protocol": "TCP", "port": port}], workload
            expected = dns | kafka | {("TCP", p) for p in database_ports}
            if workload == "notifications":
                assert ("TCP", int(data["NOTIFICATIONS_SMTP_PORT"])) in allowed
                assert ("TCP", 443) in allowed  # the SMS gateway, webhooks' systems
                [https] = [
                    r
                    for r in policy["spec"]["egress"]
                    if {"protocol": "TCP", "port": 443} in r["ports"]
                ]
                private = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}
                assert private <= set(https["to"][0]["ipBlock"]["except"])  # not a way inward
                assert allowed - expected <= {("TCP", 25), ("TCP", 465), ("TCP", 587), ("TCP", 443)}
            else:
                assert allowed == expected, workload
        if template["metadata"]["labels"]["app.kubernetes.io/component"] == "setup":
            assert not policy["spec"].get("ingress"), workload  # nothing connects to a Job


def test_every_variable_compose_and_the_manifests_set_is_a_setting():
    """No typos: a variable no settings class reads is silently ignored (extra="ignore")."""
    known: set[str] = set()
    for cls in settings_classes().values():
        known |= set(variables(cls))
    containers = deployed_containers()
    assert {w.split("/")[1] for w in containers} >= {*SERVICE_NAMES, "budskab-topics"}
    for where, (command, env, own) in containers.items():
        unknown = set(env) - known
        assert not unknown, f"{where}: {sorted(unknown)} are no setting of any service"
        every, _ = reads(command)
        assert own <= every, f"{where}: {sorted(own - every)} are not read by {command}"


def test_every_setting_that_must_be_set_is_set_in_compose_and_the_manifests():
    for where, (command, env, _own) in deployed_containers().items():
        _, required = reads(command)
        set_for_sure = {k for k, v in env.items() if not (isinstance(v, SecretRef) and v.optional)}
        missing = required - set_for_sure
        assert not missing, f"{where} does not set {sorted(missing)}"


def test_every_deployed_environment_makes_valid_settings():
    """Each container's settings as its program reads them: types, bounds, and the token
    key rule (a key, or dev mode) hold in compose and in both overlays."""
    from scripts.migrate import database_url, settings_class
    from scripts.topics import TopicSettings

    for where, (command, env, _own) in deployed_containers().items():
        module = command[2]
        with mock.patch.dict(os.environ, with_secrets(env), clear=True):
            try:
                if module == "scripts.migrate":
                    urls = [database_url(service) for service in command[3:]]
                elif module == "scripts.topics":
                    TopicSettings()
                    urls = []
                else:
                    urls = [settings_class(module.removeprefix("services."))().database_url]
            except ValidationError as exc:
                pytest.fail(f"{where}: {exc}", pytrace=False)
        for url in urls:
            assert make_url(url).get_backend_name() == "postgresql", where


def test_there_is_an_operations_dashboard_per_service():
    from prometheus_client import Gauge

    import services.metrics.gauges

    families = {
        "budskab_http_requests_total",
        "budskab_http_request_duration_seconds_bucket",
        "budskab_consumer_messages_total",
        "budskab_consumer_failures_total",
        "budskab_consumer_lag",
        "budskab_dlq_messages_total",
        "budskab_outbox_backlog",
        "budskab_outbox_oldest_age_seconds",
    }
    extra = {
        # the services with durable timers (notifications and metrics have none)
        "planning": {"budskab_timers_due"},
        "events": {"budskab_timers_due"},
        "notifications": {
            "budskab_deliveries_due",
            "budskab_delivery_queue_age_seconds",
            "budskab_sends_running",
            "budskab_deliveries_total",
        },
        "metrics": {
            metric._name
            for metric in vars(services.metrics.gauges).values()
            if isinstance(metric, Gauge)
        },
    }
    for name in SERVICE_NAMES:
        path = GRAFANA / "dashboards" / f"budskab-{name}.json"
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] == f"budskab-{name}"
        used: set[str] = set()
        for expr in dashboard_queries(dashboard):
            assert f'job="{name}"' in expr, f"{path.name}: not this service's: {expr!r}"
            used |= referenced_names(as_promql(expr))[0]
        wanted = families | extra.get(name, set())
        assert wanted <= used, f"{path.name} lacks {sorted(wanted - used)}"
        lag = [e for e in dashboard_queries(dashboard) if "budskab_consumer_lag" in e]
        assert any("partition" in e for e in lag), "consumer lag per partition"
