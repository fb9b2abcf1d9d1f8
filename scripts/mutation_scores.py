"""The mutation score of each core module, from the results ``mutmut run`` leaves in mutants/.

    python scripts/mutation_scores.py [--markdown]

A module's score is the share of its non-equivalent mutants the fast tests kill. An
equivalent mutant (one no test can tell from the original, because it changes no
behaviour) is listed in docs/mutation.md as ``- `workflows.domain.<module>.<mutant>`: why``;
those are taken out of the count. A mutant no fast test reaches counts as not killed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = Path("workflows/domain")
EQUIVALENTS = ROOT / "docs" / "mutation.md"
LISTED = re.compile(r"^\s*[-*] `(workflows\.domain\.[\w.]+__mutmut_\d+)`")

# mutmut's exit codes (mutmut.stats.status_by_exit_code): a failing test kills the mutant,
# and so does a run that exceeds its time limit (the mutant loops).
KILLED = {1, 3, 36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass
class ModuleScore:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    equivalent: int = 0
    not_run: int = 0

    @property
    def counted(self) -> int:
        return self.mutants - self.equivalent - self.not_run

    @property
    def score(self) -> float | None:
        return 100 * self.killed / self.counted if self.counted else None


def equivalent_mutants(listing: Path = EQUIVALENTS) -> set[str]:
    if not listing.exists():
        return set()
    return {m.group(1) for line in listing.read_text().splitlines() if (m := LISTED.match(line))}


def module_scores(mutants: Path, equivalents: set[str]) -> list[ModuleScore]:
    scores = []
    # The core and its subpackages (the tracker's rooms in tracking/).
    for meta in sorted((mutants / CORE).rglob("*.py.meta")):
        results: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not results:
            continue
        score = ModuleScore(str(meta.relative_to(mutants / CORE)).removesuffix(".py.meta"))
        for name, code in results.items():
            score.mutants += 1
            if name in equivalents and code not in KILLED:
                score.equivalent += 1
            elif code is None:
                score.not_run += 1
            elif code in KILLED:
                score.killed += 1
            elif code in NO_TESTS:
                score.no_tests += 1
            else:
                score.survived += 1
        scores.append(score)
    return scores


def render(scores: list[ModuleScore], markdown: bool) -> str:
    head = ("module", "mutants", "killed", "survived", "no tests", "equivalent", "score")
    rows = [
        (
            f"{s.module}.py",
            str(s.mutants),
            str(s.killed),
            str(s.survived),
            str(s.no_tests),
            str(s.equivalent),
            "not run"
            if s.score is None
            else f"{s.score:.1f}%" + (f" ({s.not_run} not run)" if s.not_run else ""),
        )
        for s in scores
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [head, *rows]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="a table for docs/mutation.md")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    args = parser.parse_args(argv)
    if not (args.mutants / CORE).is_dir():
        print(f"no mutation results in {args.mutants}: run `./dev mutate` first", file=sys.stderr)
        return 1
    print(render(module_scores(args.mutants, equivalent_mutants()), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
