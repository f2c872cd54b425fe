"""One benchmark demo generated in a process of its own, so the memory its generation holds never counts in the peak
of a process measured later (a child of the benchmark's process starts with that process's resident memory as its
peak, and keeps it through ``exec``).

    python -m pipeline_bench.generate SPEC.json OUT.json
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from appointment_pipeline.demo import generate_demo


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    root = Path(spec["dir"])
    root.mkdir(parents=True, exist_ok=True)
    summary = generate_demo(f"sqlite:///{root / 'app.sqlite'}", root / "landing", leads=spec["leads"],
                            days=spec["days"], start=date.fromisoformat(spec["start"]), seed=spec["seed"])
    out = {"leads": summary.leads, "landing_lines": summary.landing_lines, "landing_files": summary.landing_files}
    Path(out_path).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
