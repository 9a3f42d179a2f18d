"""A doctor finding and its two renderings: one rich line per check, or JSON for programs."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, List

from ..status import FAIL, MARKS, OK, WARN

__all__ = ["Finding", "OK", "WARN", "FAIL", "as_json", "render"]


@dataclass
class Finding:
    id: str  # stable, listed in the README
    status: str  # OK | WARN | FAIL
    title: str
    evidence: str  # what was seen, with paths and versions
    fix: str = ""  # the exact command or step that repairs it ("" when ok)


def as_json(findings: Iterable[Finding]) -> str:
    return json.dumps({"findings": [asdict(finding) for finding in findings]}, indent=2, ensure_ascii=False)


def render(findings: List[Finding], console) -> None:
    from rich.text import Text

    width = max((len(finding.title) for finding in findings), default=0)
    for finding in findings:
        mark, colour = MARKS[finding.status]
        line = Text()
        line.append(mark + " ", style="bold " + colour)
        line.append(finding.title.ljust(width) + "  ", style="bold")
        line.append(finding.evidence)
        console.print(line, highlight=False, soft_wrap=True)
        if finding.fix and finding.status != OK:
            console.print(Text("    fix: " + finding.fix, style=colour), highlight=False, soft_wrap=True)
