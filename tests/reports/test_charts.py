"""The charts' axes: spend is never negative, and no spend at all is not a −0.06…0.06 axis."""

from __future__ import annotations

import re

from sandbox.reports.formats.charts import spend_by_group


def tick_labels(svg: str) -> list[str]:
    """matplotlib writes each text it draws as glyph paths after a comment holding the text."""
    return re.findall(r"<!-- (.*?) -->", svg)


def test_spend_by_group_with_zero_spend_starts_its_axis_at_zero():
    labels = tick_labels(spend_by_group([{"group": "engineering", "spend_usd": 0.0}], "department"))

    assert not any(label.startswith(("−", "-")) for label in labels), labels
    assert "0.0" in labels or "0" in labels


def test_spend_by_group_axis_starts_at_zero_with_spend_too():
    labels = tick_labels(spend_by_group([{"group": "a", "spend_usd": 12.5}, {"group": "b", "spend_usd": 3.0}],
                                        "department"))

    assert not any(label.startswith(("−", "-")) for label in labels), labels
    assert "12.50" in labels and "3.00" in labels
