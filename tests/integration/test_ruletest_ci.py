"""`pulse test` for CI and from the README: the README's rule test passes as written,
and `--junitxml` writes a JUnit report of every case."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from pulse.cli import main
from pulse.rules import default_rules_path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SHIPPED = default_rules_path().parent / "tests"


def readme_rule_test() -> str:
    """The YAML block of the README's **Test.** paragraph."""
    block = re.search(r"\*\*Test\.\*\*.*?```yaml\n(.*?)```", README, re.S)
    assert block, "README shows a rule test"
    return block.group(1)


def test_readme_rule_test_passes_as_written(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "my_cart.yaml"
    path.write_text(readme_rule_test())
    report = tmp_path / "report.xml"
    assert main(["test", str(path), "--redis-url", redis_url, "--junitxml", str(report)]) == 0
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"


def test_junitxml_lists_every_case_and_each_failure_with_its_details(
    redis_url: str, tmp_path: Path
) -> None:
    failing = tmp_path / "late.yaml"
    failing.write_text(readme_rule_test().replace("+50m", "+51m"))
    report = tmp_path / "report.xml"
    code = main(["test", str(SHIPPED / "welcome.yaml"), str(failing), "--redis-url", redis_url,
                 "--junitxml", str(report), "-q"])  # fmt: skip
    assert code == 1
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) > 1 and suite.get("failures") == "1"
    [failed] = [c for c in cases if c.find("failure") is not None]
    assert failed.get("classname", "").endswith("late.yaml")
    failure = failed.find("failure")
    assert failure is not None and failure.text is not None
    assert "- abandon_cart" in failure.text and "+51m" in failure.text
