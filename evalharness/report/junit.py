"""JUnit XML: one test case per gate check, so CI systems show failures natively."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evalharness.compare.comparison import Comparison
from evalharness.compare.gate import GateResult


def gate_junit(c: Comparison, gate: GateResult) -> str:
    """JUnit XML text for a gate result (ElementTree escapes all text)."""
    failures = sum(1 for r in gate.results if not r.passed and not r.inconclusive)
    skipped = sum(1 for r in gate.results if r.inconclusive)
    suite = ET.Element("testsuite", name=f"evalharness gate {c.baseline.name} -> {', '.join(s.name for s in c.candidates)}",
                       tests=str(len(gate.results)), failures=str(failures), errors="0", skipped=str(skipped))
    for r in gate.results:
        case = ET.SubElement(suite, "testcase", classname="evalharness.gate", name=r.name)
        if r.inconclusive:  # neither passed nor failed: CI systems show a skipped test with the reason
            ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {r.detail}").text = r.detail
        elif r.passed:
            ET.SubElement(case, "system-out").text = r.detail
        else:
            ET.SubElement(case, "failure", message=r.detail).text = r.detail
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
