"""deploy/prometheus.yml and deploy/alerts.yml (SPEC §14) as Prometheus itself reads them:
`promtool check config`, `check rules` and `test rules` (tests/plugboard/prometheus_alerts_test.yml:
each alert fires on the series that should raise it). Debian's `prometheus` package ships
promtool (.ci/run installs it); without it these tests skip, except under CI=true, where they fail.
And every metric the rules name is one /metrics serves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from plugboard.metrics import exposition

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (apt-get install -y prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must check the Prometheus files: {reason}")
        pytest.skip(reason)
    return found


def run(*command: str, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_scrape_configuration_is_valid(promtool: str, tmp_path: Path) -> None:
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    # The token file the configuration names, as an operator places it next to it.
    (tmp_path / "plugboard-metrics-token").write_text("a-token\n")
    out = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert "1 rule files found" in out


def test_the_alert_rules_are_valid_and_fire_when_they_should(promtool: str) -> None:
    run(promtool, "check", "rules", str(DEPLOY / "alerts.yml"), cwd=ROOT)
    run(promtool, "test", "rules", "prometheus_alerts_test.yml", cwd=Path(__file__).parent)


@pytest.mark.django_db
def test_the_rules_name_only_metrics_the_platform_serves() -> None:
    served = {family.name for family in text_string_to_metric_families(exposition()[0].decode())}
    # Sample names: a counter's `_total`, a histogram's `_bucket`, `_sum`, `_count`.
    suffixes = ("", "_total", "_bucket", "_sum", "_count")
    samples = {name + suffix for name in served for suffix in suffixes}
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    named = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\bplugboard_[a-z_]+", rule["expr"])
    }
    assert named and named <= samples, sorted(named - samples)
