"""Rule test results as pytest-like text and as JUnit XML for CI."""

from __future__ import annotations

from xml.etree import ElementTree

from pulse.ruletest.cases import CaseResult

# -- report --------------------------------------------------------------------------


def format_report(results: list[CaseResult], elapsed_s: float, *, verbose: bool = True) -> str:
    """A pytest-like report: one line per case, then each failure's differences, then totals."""
    lines: list[str] = []
    if verbose:
        lines += [f"{r.id} {r.outcome.upper()}" for r in results]
    failures = [r for r in results if r.outcome != "passed"]
    if failures:
        lines.append("")
        lines.append(" FAILURES ".center(72, "="))
        for result in failures:
            lines.append(f" {result.id} ".center(72, "_"))
            if result.description:
                lines.append(result.description)
            lines += result.details
            lines.append("")
    counts = {
        outcome: sum(r.outcome == outcome for r in results)
        for outcome in ("failed", "error", "passed")
    }
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n) or "no cases"
    lines += rule_coverage(results)
    lines.append(f" {summary} in {elapsed_s:.2f}s ".center(72, "="))
    return "\n".join(lines)


def rule_coverage(results: list[CaseResult]) -> list[str]:
    """Per point rule, the events it matched over the suite and in how many cases; a
    rule that no case exercises is flagged (a change to it would go untested).

    >>> a = CaseResult(id="a", outcome="passed", rule_names={"cart": "add_to_cart",
    ...     "lux": "product_view"}, rule_counters={"rule:cart:hits": 2,
    ...     "rule:cart:points_milli": 16000, "rule:cart:stage_moves": 1})
    >>> print("\\n".join(rule_coverage([a])))
    point rules, events matched over the suite:
      cart                   2 in 1 case(s), +16.0 points, 1 stage moves, 0 triggers
      lux                    0  <- no case exercises it (event `product_view`)
    """
    names: dict[str, str] = {}
    for result in results:
        names.update(result.rule_names)
    if not names:
        return []
    lines = ["point rules, events matched over the suite:"]
    for name, event in names.items():
        hits = [r.rule_counters.get(f"rule:{name}:hits", 0) for r in results]
        cases = sum(1 for n in hits if n)
        if cases:

            def total(what: str, name: str = name) -> int:
                return sum(r.rule_counters.get(f"rule:{name}:{what}", 0) for r in results)

            lines.append(
                f"  {name:<20} {sum(hits):>3} in {cases} case(s), "
                f"{total('points_milli') / 1000:+.1f} points, {total('stage_moves')} stage moves, "
                f"{total('triggers')} triggers"
            )
        else:
            lines.append(f"  {name:<20} {0:>3}  <- no case exercises it (event `{event}`)")
    return lines


def junit_xml(results: list[CaseResult], elapsed_s: float) -> bytes:
    """The results as a JUnit XML report for CI: one `testcase` per case.

    A failed case carries a `failure`, a case that could not run an `error`, each
    with the report's details as text.

    >>> xml = junit_xml([CaseResult(id="rules/tests/a.yaml::one", outcome="passed"),
    ...                  CaseResult(id="rules/tests/a.yaml::two", outcome="failed",
    ...                             details=["score of `c1`: expected 16, got 15.94"])], 1.5)
    >>> b'failures="1"' in xml and b'classname="rules/tests/a.yaml" name="two"' in xml
    True
    """
    counts = {o: sum(r.outcome == o for r in results) for o in ("failed", "error")}
    suite = ElementTree.Element(
        "testsuite",
        name="pulse test",
        tests=str(len(results)),
        failures=str(counts["failed"]),
        errors=str(counts["error"]),
        skipped="0",
        time=f"{elapsed_s:.3f}",
    )
    for result in results:
        classname, _, name = result.id.rpartition("::")
        case = ElementTree.SubElement(
            suite, "testcase", classname=classname or result.id, name=name,
            time=f"{result.elapsed_s:.3f}",
        )  # fmt: skip
        if result.outcome != "passed":
            tag = "failure" if result.outcome == "failed" else "error"
            first = result.details[0] if result.details else result.outcome
            problem = ElementTree.SubElement(case, tag, message=first)
            problem.text = "\n".join(filter(None, [result.description, *result.details]))
    root = ElementTree.Element("testsuites")
    root.append(suite)
    xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
