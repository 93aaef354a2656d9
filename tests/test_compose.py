"""compose.yaml: valid against the Compose Specification schema, and every command it runs exists."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from scheduler.cli import app

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft201909Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def _pagemill_commands(compose: dict[str, Any]) -> list[tuple[str, list[str]]]:
    out = []
    for name, svc in compose["services"].items():
        argv = _argv(svc.get("command", []))
        if argv and argv[0] == "pagemill":
            out.append((name, argv[1:]))
    return out


def test_compose_file_is_valid_against_the_compose_specification(compose, validator) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_validator_rejects_a_misspelt_key(compose, validator) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("service_finished" in m for m in messages)
    assert any("helthcheck" in m for m in messages)


def test_the_topology_has_the_services_a_deployment_needs(compose) -> None:
    services = compose["services"]
    assert {"redis", "postgres", "migrate", "worker", "scheduler", "flower"} <= set(services)
    assert "--appendonly" in _argv(services["redis"]["command"])
    for name in ("redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for name in ("worker", "scheduler", "flower"):
        deps = services[name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy", name
    for name in ("worker", "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"
    # `--scale worker=N` needs a worker without a fixed name or host port
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert services["scheduler"]["environment"]["PAGEMILL_WATCH_DIRS"] == "/inbox"
    assert any(v.endswith(":/inbox") for v in services["scheduler"]["volumes"])
    # monitoring ports are bound to this machine only
    for name in ("flower", "scheduler"):
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"]), name
    assert services["worker"]["environment"]["MISTRAL_API_KEY"] == "${MISTRAL_API_KEY:-}"


def test_every_pagemill_command_in_compose_exists_in_the_cli(compose) -> None:
    group = typer.main.get_command(app)  # typer's click group (typer vendors its own click)
    assert hasattr(group, "get_command")
    named = _pagemill_commands(compose)
    ctx = group.make_context("pagemill", ["status"], resilient_parsing=True)
    checked = set()
    for service, argv in named:
        global_opts = {o for p in group.params for o in p.opts}
        while argv and argv[0] in global_opts:  # e.g. -v before the command
            argv = argv[1:]
        command = group.get_command(ctx, argv[0])
        assert command is not None, f"{service}: `pagemill {argv[0]}` is not a pagemill command"
        known = {o for p in command.params for o in p.opts}
        for token in argv[1:]:
            if token.startswith("-") and not token.startswith("${"):
                assert token.split("=")[0] in known, f"{service}: `pagemill {argv[0]}` has no option {token}"
        checked.add(argv[0])
    assert {"migrate", "worker", "scheduler", "serve"} <= checked


def test_workers_share_only_redis_postgres_and_the_bucket(compose) -> None:
    services = compose["services"]
    env = services["worker"]["environment"]
    assert env["PAGEMILL_OBJECTS_URL"].endswith("s3://pagemill/objects}")
    assert "http://minio:9000" in env["AWS_ENDPOINT_URL"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(env)
    # no volume is shared by workers (and the scheduler shares only the inbox it watches)
    assert not services["worker"].get("volumes")
    assert [v for v in services["scheduler"]["volumes"] if not v.endswith(":/inbox")] == []
    assert services["minio"]["healthcheck"]["test"]
    assert "local/pagemill" in " ".join(_argv(services["bucket"]["entrypoint"]))
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("worker", "scheduler"):
        assert services[name]["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    assert all(str(p).startswith("127.0.0.1:") for p in services["minio"]["ports"])


def test_flower_runs_against_the_same_broker_as_the_workers(compose) -> None:
    services = compose["services"]
    broker = services["worker"]["environment"]["PAGEMILL_BROKER_URL"]
    assert f"--broker={broker}" in _argv(services["flower"]["command"])
    assert services["worker"]["environment"]["PAGEMILL_TASK_EVENTS"] == "true"


def test_dockerfile_builds_one_image_with_the_project_installed() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.splitlines()[1].startswith("FROM python:3.11-slim")
    assert "pip install ." in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored
