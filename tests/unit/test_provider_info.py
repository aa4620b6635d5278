"""The installed Airflow discovers the provider, its hook and its connection form; the built wheel is complete."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from airflow.providers_manager import ProvidersManager

from airflow_provider_lingxing import __version__

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "airflow_provider_lingxing"
HOOK_CLASS = "airflow_provider_lingxing.hooks.lingxing.LingxingHook"
EXTRA_FIELDS = {"timeout", "max_retries", "verify", "ca_bundle", "redis_conn_id"}


def test_providers_manager_knows_the_provider_and_its_form():
    manager = ProvidersManager()
    provider = manager.providers["airflow-provider-lingxing"]
    assert provider.version == __version__

    hook = manager.hooks["lingxing"]
    assert hook.hook_class_name == HOOK_CLASS
    assert hook.hook_name == "Lingxing ERP"
    assert hook.connection_id_attribute_name == "lingxing_conn_id"

    behaviour = manager.field_behaviours["lingxing"]
    assert behaviour["relabeling"] == {"host": "Base URL", "login": "App ID", "password": "App Secret"}
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}

    widgets = manager.connection_form_widgets
    assert {f"extra__lingxing__{name}" for name in EXTRA_FIELDS} <= set(widgets)
    assert widgets["extra__lingxing__verify"].field["schema"]["type"] == ["boolean", "null"]
    assert widgets["extra__lingxing__ca_bundle"].field["schema"]["type"] == ["string", "null"]


def test_the_form_shows_verify_tls_ticked_because_it_is_on_by_default():
    verify = ProvidersManager().connection_form_widgets["extra__lingxing__verify"]
    assert verify.field["value"] is True


def test_every_field_the_form_shows_has_a_placeholder_except_the_checkbox():
    manager = ProvidersManager()
    behaviour = manager.field_behaviours["lingxing"]
    standard = {"host", "schema", "login", "password", "port", "extra"} - set(behaviour["hidden_fields"])
    extras = {
        name
        for name, widget in manager.connection_form_widgets.items()
        if name.startswith("extra__lingxing__") and "boolean" not in widget.field["schema"]["type"]
    }
    assert extras >= {f"extra__lingxing__{name}" for name in EXTRA_FIELDS - {"verify"}}
    placeholders = behaviour["placeholders"]
    assert sorted((standard | extras) - set(placeholders)) == []
    assert placeholders["host"] == "https://openapi.lingxing.com"
    assert json.loads(placeholders["extra"])["verify"] is True


def test_every_module_named_in_provider_info_imports():
    info = ProvidersManager().providers["airflow-provider-lingxing"].data
    for kind in ("hooks", "sensors", "operators", "triggers"):
        for module in info[kind][0]["python-modules"]:
            __import__(module)


def test_the_version_is_written_in_one_place():
    literal = f'"{__version__}"'
    copies = [str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if literal in p.read_text(encoding="utf-8")]
    assert copies == ["airflow_provider_lingxing/__init__.py"]
    project = (REPO / "pyproject.toml").read_text().split("[project]", 1)[1].split("\n[", 1)[0]
    assert 'dynamic = ["version"]' in project
    assert not re.search(r"^version\s*=", project, re.M)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python -m build` makes (hatchling, the pyproject's backend), unpacked as pip would install it."""
    out = tmp_path_factory.mktemp("dist")
    build = "import sys, hatchling.build as backend; print(backend.build_wheel(sys.argv[1]))"
    name = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()[-1]
    site = out / "site"
    with zipfile.ZipFile(out / name) as archive:
        archive.extractall(site)
    return site


def wheel_metadata(site: Path) -> Message:
    (dist_info,) = site.glob("airflow_provider_lingxing-*.dist-info")
    return message_from_bytes((dist_info / "METADATA").read_bytes())


def project_urls(metadata: Message) -> dict[str, str]:
    return dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL", []))


def test_the_wheel_declares_what_an_airflow_provider_ships(wheel: Path):
    metadata = wheel_metadata(wheel)
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    (dist_info,) = wheel.glob("*.dist-info")
    licenses = {p.name: p.read_text() for p in (dist_info / "licenses").iterdir()}
    assert set(metadata.get_all("License-File")) == set(licenses) == {"LICENSE", "NOTICE"}
    assert "Apache License" in licenses["LICENSE"] and "Version 2.0" in licenses["LICENSE"]

    classifiers = set(metadata.get_all("Classifier"))
    assert {"Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider"} <= classifiers
    floor = re.fullmatch(r">=3\.(\d+)", metadata["Requires-Python"])
    assert floor, metadata["Requires-Python"]
    pythons = sorted(int(c.rsplit(".", 1)[1]) for c in classifiers if re.fullmatch(r".*Python :: 3\.\d+", c))
    assert pythons == list(range(int(floor[1]), pythons[-1] + 1)) and pythons[-1] >= 13

    assert set(project_urls(metadata)) == {"Documentation", "Source", "Changelog", "Bug Tracker"}
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("apache-airflow-providers-common-sql") and "extra" not in r for r in requires)
    assert {"sqlite", "postgres"} <= set(metadata.get_all("Provides-Extra"))
    assert (wheel / "airflow_provider_lingxing" / "py.typed").exists()


def installed_airflow(site: Path, tmp_path: Path, *args: str) -> str:
    """Runs Airflow with the unpacked wheel first on the path, so it discovers that build of the provider."""
    pythonpath = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True
    ).stdout


def test_airflow_providers_list_shows_the_version_of_the_built_package(wheel: Path, tmp_path: Path):
    out = installed_airflow(wheel, tmp_path, "-m", "airflow", "providers", "list", "--output", "json")
    listed = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    assert listed["airflow-provider-lingxing"]["version"] == __version__


def test_the_ui_links_to_the_documentation_url(wheel: Path, tmp_path: Path):
    shown = (
        "import json; from airflow.providers_manager import ProvidersManager; "
        "from airflow.api_fastapi.core_api.services.public.providers import _provider_mapper; "
        "provider = ProvidersManager().providers['airflow-provider-lingxing']; "
        "print(json.dumps(_provider_mapper(provider).model_dump()))"
    )
    provider = json.loads(installed_airflow(wheel, tmp_path, "-c", shown).splitlines()[-1])
    assert provider["version"] == __version__
    # Airflow < 3.3 keeps the space after the comma of "Documentation, https://..." (a browser drops it).
    assert provider["documentation_url"].strip() == project_urls(wheel_metadata(wheel))["Documentation"]
    assert provider["documentation_url"].strip().startswith("https://")
