"""deploy/check.py passes what deploy/ ships and fails, naming the check, on a broken copy."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from deploy import check


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    compose = shutil.copytree(check.DEPLOY / "compose", tmp_path / "compose")
    chart = shutil.copytree(check.DEPLOY / "helm" / "responses-gateway", tmp_path / "chart")
    return compose, chart


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_what_deploy_ships_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main([]) == 0, capsys.readouterr().out


def test_a_broken_copy_fails_and_names_each_failure(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    compose, chart = copies
    edit(
        compose / "docker-compose.yml",
        "mongo-init: { condition: service_completed_successfully }",
        "nats-4: {}",
    )
    edit(chart / "templates" / "deployments.yaml", "path: /health/ready", "path: /health/live")

    assert check.main(["--compose-dir", str(compose), "--chart-dir", str(chart)]) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert [f.split(":")[0] for f in failures] == ["FAIL  compose", "FAIL  helm"]
    assert "nats-4" in failures[0]
    assert "/health/ready" in failures[1]


def chart_gateway_config(chart: Path) -> str:
    return yaml.safe_load((chart / "values.yaml").read_text())["gatewayConfig"]


def check_compose_gateway(compose: Path) -> None:
    check.check_gateway_yaml(compose / "gateway.yaml")


def check_chart_gateway(chart: Path) -> None:
    check.check_gateway_yaml(chart / "gateway.yaml", chart_gateway_config(chart))


ADMIN_KEY = "${GATEWAY_ADMIN_KEY:?set GATEWAY_ADMIN_KEY in deploy/compose/.env}"
MONGO_PASSWORD = '{{ required "secrets.mongo.password is required (or secrets.create: false)" .mongo.password'
REPLICAS = "    deploy: { replicas: 3 }\n"
# The case's id, a file of the copies (compose/... or chart/...), a text it ships, that text broken, and
# the check that must catch it, given the copy the file is in.
BREAKAGES: list[tuple[str, str, str, str, Callable[[Path], None]]] = [
    ("nats-no-fsync", "compose/nats.conf", "sync_interval: always", "", check.check_nats_conf),
    ("nats-bad-port", "compose/nats.conf", "port: 4222", "port: 4222 4223", check.check_nats_conf),
    (
        "nginx-typo",
        "compose/nginx.conf",
        "proxy_buffering off;",
        "proxy_bufering off;",
        check.check_nginx_conf,
    ),
    ("mongo-init-syntax", "compose/mongo-rs-init.js", "const env", "const = env", check.check_mongo_init),
    ("gateway-open-auth", "compose/gateway.yaml", "auth: keys", "auth: open", check_compose_gateway),
    (
        "compose-empty-secret",
        "compose/docker-compose.yml",
        ADMIN_KEY,
        "${GATEWAY_ADMIN_KEY}",
        check.check_compose_refuses_empty_secrets,
    ),
    (
        "compose-replica-port",
        "compose/docker-compose.yml",
        REPLICAS,
        REPLICAS + '    ports: ["9100:9100"]\n',
        check.check_compose,
    ),
    (
        "compose-nats-url",
        "compose/docker-compose.yml",
        "@nats:4222",
        "@nats-1:4222,nats://nats-2:4222",
        check.check_compose,
    ),
    ("hpa-typo", "chart/templates/hpa.yaml", "averageUtilization:", "averageUtilisation:", check.check_chart),
    (
        "chart-empty-secret",
        "chart/templates/secrets.yaml",
        MONGO_PASSWORD,
        "{{ .mongo.password",
        check.check_chart_refuses_empty_secrets,
    ),
    (
        "chart-nats-sync",
        "chart/values.yaml",
        "sync_interval: always",
        "sync_interval: 2m",
        check.check_chart_engines,
    ),
    ("service-template", "chart/templates/service.yaml", "{{ include", "{{ include_", check.check_chart),
    # The commented sections are checked as an operator who uncomments them gets them.
    (
        "gateway-search",
        "compose/gateway.yaml",
        "#     provider: searxng",
        "#     provider: bing",
        check_compose_gateway,
    ),
    (
        "chart-gateway-network",
        "chart/values.yaml",
        "  #   allowed_networks: []",
        "  #   allowed_networks: [not-a-network]",
        check_chart_gateway,
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "run"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES]
)
def test_each_check_fails_on_its_breakage(
    copies: tuple[Path, Path], file: str, old: str, new: str, run: Callable[[Path], None]
) -> None:
    compose, chart = copies
    copy = compose if file.startswith("compose/") else chart
    run(copy)  # passes before the breakage
    edit(compose.parent / file, old, new)
    with pytest.raises(check.CheckFailed):
        run(copy)


def test_the_search_providers_key_reaches_the_worker_alone() -> None:
    compose = check.compose_config(check.DEPLOY / "compose", {**check.SECRETS, "TAVILY_API_KEY": "tvly-1"})
    services = json.loads(compose.stdout)["services"]
    assert [name for name, s in services.items() if "TAVILY_API_KEY" in s.get("environment", {})] == [
        "worker"
    ]

    values = {**check.CHART_SECRETS, "secrets": {**check.CHART_SECRETS["secrets"]}}
    values["secrets"]["toolKeys"] = {"values": {"TAVILY_API_KEY": "tvly-1"}}
    objects = [
        d for _, d in check.manifests(check.render_chart(check.DEPLOY / "helm" / "responses-gateway", values))
    ]
    (secret,) = [d for d in objects if d["kind"] == "Secret" and d["metadata"]["name"].endswith("tool-keys")]
    assert secret["stringData"] == {"TAVILY_API_KEY": "tvly-1"}
    readers = {
        d["metadata"]["name"]: ref["secretRef"]
        for d in objects
        if d["kind"] == "Deployment"
        for ref in d["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
        if ref["secretRef"]["name"] == secret["metadata"]["name"]
    }
    # Optional: Secrets made outside the chart (secrets.create: false) need not include one.
    assert readers == {"rgw-responses-gateway-worker": {"name": secret["metadata"]["name"], "optional": True}}
