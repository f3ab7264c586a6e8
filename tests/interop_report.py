"""Print what deploy says about each MIWG reference model: deployed, or refused with the reasons.

Run: ``.venv/bin/python -m tests.interop_report`` (reads /work/shared/interop/miwg-reference).
"""

from __future__ import annotations

from pathlib import Path

from service.config import ROOT
from service.engine.specs import LaneRoles, parse_bundle

MIWG = Path(__file__).resolve().parents[2] / "shared" / "interop" / "miwg-reference"


def report() -> list[str]:
    lanes = LaneRoles.load(ROOT / "bpmn" / "lanes.json")
    lines = []
    for model in sorted(MIWG.glob("*.bpmn")):
        bundle = parse_bundle({model.name: model.read_bytes()}, lanes)
        if bundle.problems:
            reasons = sorted({p.message.split(":")[0][:70] for p in bundle.problems})
            lines.append(f"{model.name}: refused ({len(bundle.problems)}) — {'; '.join(reasons)}")
        else:
            warned = len(getattr(bundle, "warnings", []))
            lines.append(f"{model.name}: deployable ({', '.join(p.key for p in bundle.processes)};"
                         f" {warned} warning(s))")
    return lines


if __name__ == "__main__":
    print("\n".join(report()))
