#!/usr/bin/env python3
"""Print the compatibility table of real-world manifests: accepted, with warnings, or refused.

Runs over ../shared/k8s-corpus/real/ (beside the checkout) or the folder given as
the first argument, validating each file on its own with the same loader as
`reconciler validate`; the README includes its output.
Usage: .venv/bin/python scripts/compat-table.py [FOLDER] > table.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.api.types import Diagnostic
from reconciler.manifests.loader import load_paths

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "k8s-corpus" / "real"


def _reason(d: Diagnostic) -> str:
    text = f"`{d.path}`: {d.message}" if d.path else d.message
    return text.replace("|", "\\|")


def classify(corpus: Path, file: Path) -> tuple[str, str, list[str]]:
    """(kinds, verdict, reasons) of one manifest file validated alone."""
    result = load_paths(corpus, [file.relative_to(corpus)])
    kinds = ", ".join(sorted({o.key.kind for o in result.objects})) or "-"
    reasons: list[str] = []
    for d in result.errors or result.warnings:
        reason = _reason(d)
        if reason not in reasons:
            reasons.append(reason)
    if result.errors:
        return kinds, "refused", reasons
    if result.warnings:
        return kinds, "accepted with warnings", reasons
    return kinds, "accepted", []


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    if not corpus.is_dir():
        print(f"{corpus}: no such folder (the corpus lives beside the checkout)", file=sys.stderr)
        return 1
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.endswith(".md"))
    counts: dict[str, int] = {}
    print("| manifest | objects | verdict | why |")
    print("|---|---|---|---|")
    for file in files:
        kinds, verdict, reasons = classify(corpus, file)
        counts[verdict] = counts.get(verdict, 0) + 1
        rel = file.relative_to(corpus).as_posix()
        print(f"| {rel} | {kinds} | {verdict} | {'<br>'.join(reasons)} |")
    summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    print(f"\n{len(files)} manifests: {summary}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
