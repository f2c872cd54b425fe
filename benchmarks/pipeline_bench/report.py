"""The targets, each with its measured value, limit, ratio (value / limit) and status, and the printed tables.

Absolute limits (seconds, memory) are stated for 1,000,000 leads: at another scale their status is "n/a at this
scale" (the ratio is still printed, against the 1M limit). Relative limits (shares, ratios to the floor, growth)
apply at every scale; the fixed-cost limit applies to the run it names (2,000 leads over 14 days).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TARGET_LEADS = 1_000_000
FIXED_COST_SCALE = (2_000, 14)
ENGINE_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL"}
RECONCILE_LIMIT_S = {"duckdb": 10.0, "postgres": 30.0}
REBUILD_LIMIT_S = {"duckdb": 45.0, "postgres": 120.0}
RECONCILE_SHARE_LIMIT = 0.10
# reconcile seconds per new-day line after the longest history / after the shortest: history grows 4x (7 -> 28
# days); a reconcile that re-reads the history would show about that factor, one bound by the day's lines about 1
HISTORY_GROWTH_LIMIT = 1.5
FLOOR_RATIO_LIMIT = 1.5
FIXED_STEPS_LIMIT_S = 3.0
PEAK_RSS_LIMIT_MB = 2048.0
NOT_AT_SCALE = "n/a at this scale"


@dataclass(frozen=True)
class Target:
    name: str
    engine: str
    value: float | None
    unit: str
    limit: float
    applies: bool  # the limit holds at the scale measured
    note: str = ""
    shown_only: bool = False  # a figure worth its ratio that no target constrains

    @property
    def ratio(self) -> float | None:
        return None if self.value is None else self.value / self.limit

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured"
        if self.shown_only:
            return "info"
        if not self.applies:
            return NOT_AT_SCALE
        return "OK" if self.value <= self.limit else "MISS"

    def as_json(self) -> dict:
        return {**asdict(self), "ratio": None if self.ratio is None else round(self.ratio, 4), "status": self.status}


def history_growth(histories: list[dict]) -> float | None:
    """Reconcile seconds per new-day line after the longest history, divided by the same after the shortest."""
    if len(histories) < 2:
        return None
    shortest, longest = min(histories, key=lambda h: h["days"]), max(histories, key=lambda h: h["days"])

    def per_line(h: dict) -> float:
        return h["reconcile"]["wall_s"] / max(h["new_day_lines"], 1)

    return per_line(longest) / per_line(shortest)


def targets(result: dict) -> list[Target]:
    scale = result["scale"]
    at_target = scale["leads"] == TARGET_LEADS
    fixed_applies = (scale["fixed_leads"], scale["fixed_days"]) == FIXED_COST_SCALE
    floor_s = result["floor"]["total_s"]
    found: list[Target] = []
    for engine, figures in result["engines"].items():
        rebuild, reconcile = figures["rebuild"], figures["reconcile"]
        sweep = figures["histories"]
        span = f"{min(h['days'] for h in sweep)} -> {max(h['days'] for h in sweep)} days" if len(sweep) > 1 else ""
        found += [
            Target("daily reconcile (s)", engine, reconcile["wall_s"], "s", RECONCILE_LIMIT_S[engine], at_target),
            Target("reconcile / full rebuild", engine, reconcile["wall_s"] / rebuild["wall_s"], "x",
                   RECONCILE_SHARE_LIMIT, True, f"after {scale['days']} days, same run"),
            Target("reconcile growth with history", engine, history_growth(sweep), "x", HISTORY_GROWTH_LIMIT, True,
                   f"s per new-day line, {span}" if span else "needs two history lengths"),
            Target("full rebuild (s)", engine, rebuild["wall_s"], "s", REBUILD_LIMIT_S[engine], at_target),
            Target("full rebuild / floor", engine, rebuild["wall_s"] / floor_s, "x", FLOOR_RATIO_LIMIT,
                   True, "" if engine == "duckdb" else "the floor is DuckDB's: shown, not a target",
                   shown_only=engine != "duckdb"),
            Target("fixed cost: steps of a 2k-lead run (s)", engine, figures["fixed"]["steps_s"], "s",
                   FIXED_STEPS_LIMIT_S, fixed_applies,
                   "" if fixed_applies else f"measured at {scale['fixed_leads']:,} leads, {scale['fixed_days']} days"),
            Target("peak RSS (MB)", engine, figures["peak_rss_mb"], "MB", PEAK_RSS_LIMIT_MB, at_target),
        ]
    return found


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "x":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return f"{value:.2f} s"


def _limit(t: Target) -> str:
    shown = f"<= {_number(t.limit, t.unit)}"
    if t.shown_only:
        return "-"
    if t.status == NOT_AT_SCALE:
        return f"{NOT_AT_SCALE} ({shown} at 1M leads)" if "fixed" not in t.name else f"{NOT_AT_SCALE} ({shown})"
    return shown


def target_rows(result: dict) -> list[list[str]]:
    rows = []
    for t in targets(result):
        ratio = "-" if t.ratio is None else f"{t.ratio:.2f}"
        rows.append([t.name, ENGINE_NAMES[t.engine], _number(t.value, t.unit), _limit(t), ratio, t.status, t.note])
    return rows


HEADER = ["target", "engine", "measured", "limit", "ratio", "status", "note"]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def context_line(result: dict) -> str:
    m, scale = result["machine"], result["scale"]
    versions = ", ".join(f["version"] for f in result["engines"].values())
    return (f"{scale['leads']:,} leads, {scale['days']} days ({scale['landing_lines']:,} landing lines); "
            f"{m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM; load average {result['load_start'][0]:.2f} at "
            f"start, {result['load_end'][0]:.2f} at end; {m['date']}; commit {m['commit']}; {versions}")


def engine_rows(result: dict) -> list[list[str]]:
    """The figures behind the targets, one column per engine."""
    engines = result["engines"]
    rows = []

    def add(label: str, pick) -> None:
        rows.append([label, *(pick(f) for f in engines.values())])

    add("full rebuild wall (s)", lambda f: f"{f['rebuild']['wall_s']:.2f}")
    add("full rebuild, sum of steps (s)", lambda f: f"{f['rebuild']['steps_s']:.2f}")
    add("landing lines/s", lambda f: f"{f['rebuild']['landing_lines'] / f['rebuild']['wall_s']:,.0f}")
    add("first apply and the last day again, untimed (s)",
        lambda f: f"{f['rebuild'].get('first_publish_apply_s', 0):.2f}")
    add("reconcile of one day wall (s)", lambda f: f"{f['reconcile']['wall_s']:.2f}")
    add("reconcile, sum of steps (s)", lambda f: f"{f['reconcile']['steps_s']:.2f}")
    add("fixed cost run, sum of steps (s)", lambda f: f"{f['fixed']['steps_s']:.2f}")
    add("peak RSS after the full rebuild (MB)", lambda f: f"{f['rebuild']['peak_rss_mb']:,.0f}")
    add("peak RSS of the process (MB)", lambda f: f"{f['peak_rss_mb']:,.0f}")
    add("slowest steps of the full rebuild (s)",
        lambda f: ", ".join(f"{k} {s:.1f}" for k, s in f["rebuild"]["slowest_steps"][:3]))
    add("slowest steps of the reconcile (s)",
        lambda f: ", ".join(f"{k} {s:.1f}" for k, s in f["reconcile"]["slowest_steps"][:3]))
    tables = next(iter(engines.values()))["rebuild"]["rows"]
    for table in tables:
        add(f"rows: {table}", lambda f, t=table: f"{f['rebuild']['rows'].get(t, 0):,}")
    return rows


def sweep_rows(result: dict) -> list[list[str]]:
    rows = []
    for engine, figures in result["engines"].items():
        for h in figures["histories"]:
            rec, reb = h["reconcile"], h["rebuild"]
            rows.append([ENGINE_NAMES[engine], str(h["days"]), f"{h['history_lines']:,}", f"{h['new_day_lines']:,}",
                         f"{reb['wall_s']:.2f}", f"{rec['wall_s']:.2f}", f"{rec['steps_s']:.2f}",
                         f"{rec['wall_s'] / reb['wall_s']:.3f}", f"{1000 * rec['wall_s'] / max(h['new_day_lines'], 1):.3f}"])
    return rows


SWEEP_HEADER = ["engine", "history days", "history lines", "new-day lines", "rebuild (s)", "reconcile (s)",
                "reconcile steps (s)", "reconcile / rebuild", "reconcile s per 1k new-day lines"]


def floor_rows(result: dict) -> list[list[str]]:
    floor = result["floor"]
    rows = [[part, f"{seconds:.2f}"] for part, seconds in floor["parts_s"].items()]
    slowest = sorted(floor["models_s"].items(), key=lambda item: -item[1])[:3]
    rows.append(["  slowest models", ", ".join(f"{name} {s:.2f}" for name, s in slowest)])
    rows.append(["floor total", f"{floor['total_s']:.2f}"])
    return rows


def render_text(result: dict) -> str:
    engine_header = ["", *(ENGINE_NAMES[e] for e in result["engines"])]
    scale = result["scale"]
    parts = [
        f"\n== figures ({context_line(result)})",
        text_table(engine_header, engine_rows(result)),
        f"row counts equal between engines: {'yes' if result['rows_equal'] else 'NO'}; "
        f"floor's marts equal to the engines': {'yes' if result['floor_rows_equal'] else 'NO'}",
        f"\n== floor: {result['floor']['parser']}",
        text_table(["part", "seconds"], floor_rows(result)),
        f"\n== daily reconcile after each history (sweep demo: {scale['sweep_leads']:,} leads)",
        text_table(SWEEP_HEADER, sweep_rows(result)) if any(f["histories"] for f in result["engines"].values())
        else "(no history lengths given)",
        f"\n== TARGETS ({'the target scale' if scale['leads'] == TARGET_LEADS else 'absolute limits are for 1M leads'})",
        text_table(HEADER, target_rows(result)),
    ]
    return "\n".join(parts)


def render_markdown(result: dict) -> str:
    engine_header = ["", *(ENGINE_NAMES[e] for e in result["engines"])]
    return "\n".join([
        f"Measured: {context_line(result)}.",
        "",
        markdown_table(HEADER, target_rows(result)),
        "",
        markdown_table(engine_header, engine_rows(result)),
        "",
        f"Floor ({result['floor']['parser']}), seconds:",
        "",
        markdown_table(["part", "seconds"], floor_rows(result)),
        "",
        f"Daily reconcile after each history (sweep demo: {result['scale']['sweep_leads']:,} leads):",
        "",
        markdown_table(SWEEP_HEADER, sweep_rows(result)),
    ])
