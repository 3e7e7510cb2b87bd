"""The deployment files are valid and agree with each other and with the services.

Checks the Prometheus scrape config and alert rules (with promtool, including the alert
unit tests), the Grafana dashboards (every query names only metrics the services export
and parses as PromQL), docker-compose.yml, and the Kubernetes manifests (rendered with
`kubectl kustomize`). promtool and kubectl come from `scripts/install-tools.sh`; without
them these tests fail, they never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
K8S_PRODUCTION = DEPLOY / "k8s" / "overlays" / "production"

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


# ---------------------------------------------------------------- Prometheus


def test_prometheus_config_is_valid():
    promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))


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
        assert "healthcheck" in service, f"{name} has no healthcheck"


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
    kubectl = require_tool("kubectl")
    rendered = run(kubectl, "kustomize", str(K8S_PRODUCTION)).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    assert set(SERVICE_NAMES) <= set(deployments)
    for name, port, prefix in SERVICES:
        deployment = deployments[name]
        assert deployment["metadata"]["namespace"] == "budskab"
        assert deployment["spec"]["replicas"] == 2
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
