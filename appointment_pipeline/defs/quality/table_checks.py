"""The checks of the tables the SQL models and seeds steps write, evaluated inside those steps.

Each table's checks are check specs of the step that writes it (as dagster-dbt does): its declared tests
(schema.yml), for a model both PII checks (the text scan and the lineage proof), and the domain rules of
``appointments`` and ``lead_appointment_rollups``. A rebuild audits the candidate table before the swap
(io/audits.py), so a check the audit settled is reported from the audit; the others (a relationships test reading a
table written later in the step, an advisory test after an incremental update, the Python rollup rule, or any check
run without its table) query the table once the step has written everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckResult, AssetCheckSpec, AssetKey

from appointment_pipeline.defs.quality.checks import (
    AUDITED_IN_RUN,
    ROLLUP_SAMPLE_SIZE,
    audited_result,
    pii_scan_result,
    reschedule_links_acyclic_result,
    reschedule_links_within_lead_result,
    rollup_matches_python_rule_result,
    run_declared_test,
)
from appointment_pipeline.defs.transform.lineage import PII_CHECK_NAME, PII_LINEAGE_DESCRIPTION, pii_lineage_result
from appointment_pipeline.io.audits import PII_AUDIT, PII_CARRIED
from appointment_pipeline.io.lineage import ProjectLineage
from appointment_pipeline.io.sql_project import Seed, SqlModel, SqlProject
from appointment_pipeline.io.warehouse import Warehouse

PII_SCAN_DESCRIPTION = (
    "No text column holds an email-like or phone-like string (PII never enters the warehouse). In a run that "
    "rebuilt the table it reports the blocking audit's scan; run alone it scans the whole table."
)
# domain rules: name -> (blocking, description, other tables read); the audit counts the blocking ones
DOMAIN_RULES: dict[str, dict[str, tuple[bool, str, tuple[str, ...]]]] = {
    "appointments": {
        "reschedule_links_stay_within_lead": (
            True, "Every rescheduled_from_id points to an existing appointment of the same lead.", ()),
        "reschedule_links_acyclic": (True, "Reschedule links never form a cycle.", ()),
    },
    "lead_appointment_rollups": {
        "rollup_matches_python_rule": (
            False,
            "The SQL rollup agrees with appointment_pipeline.domain.rollup.select_primary_appointment, recomputed in "
            f"Python for a deterministic sample of up to {ROLLUP_SAMPLE_SIZE} leads.",
            ("appointments",),
        ),
    },
}

AUDITED_COUNTS = {"reschedule_links_stay_within_lead": "bad_links", "reschedule_links_acyclic": "appointments_on_cycles"}


def ancestors_of(project: SqlProject, name: str) -> frozenset[str]:
    """Every table ``name`` is computed from, directly or not."""
    found: set[str] = set()
    pending = list(project.models[name].upstream_tables) if name in project.models else []
    while pending:
        table = pending.pop()
        if table not in found:
            found.add(table)
            pending.extend(project.models[table].upstream_tables if table in project.models else ())
    return frozenset(found)


@dataclass(frozen=True)
class TableChecks:
    """The checks of one table: their specs, and their results from the table's audit or from a query."""

    table: SqlModel | Seed
    ancestors: frozenset[str] = frozenset()
    lineage: ProjectLineage | None = None  # a model's: its PII lineage proof is one of its checks

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> AssetKey:
        return AssetKey(self.table.name)

    def specs(self) -> list[AssetCheckSpec]:
        specs = [
            AssetCheckSpec(name=test.name, asset=self.name, description=test.description, blocking=test.blocking,
                           additional_deps=sorted(test.referenced_tables() - {self.name}))
            for test in self.table.tests
        ]
        if self.lineage is not None:
            specs.append(AssetCheckSpec(name=PII_AUDIT, asset=self.name, blocking=True,
                                        description=PII_SCAN_DESCRIPTION))
            specs.append(AssetCheckSpec(name=PII_CHECK_NAME, asset=self.name, blocking=True,
                                        description=PII_LINEAGE_DESCRIPTION))
        for rule, (blocking, description, reads) in DOMAIN_RULES.get(self.name, {}).items():
            specs.append(AssetCheckSpec(name=rule, asset=self.name, blocking=blocking, description=description,
                                        additional_deps=list(reads)))
        return specs

    def lineage_result(self) -> AssetCheckResult | None:
        return pii_lineage_result(self.lineage, self.name, asset_key=self.key) if self.lineage else None

    def from_audit(
        self, selected: Collection[str], audited: Mapping[str, Any], evaluated_on: str = AUDITED_IN_RUN
    ) -> tuple[list[AssetCheckResult], list[str]]:
        """(results the audit of this step's write settles, names of the selected checks still to query)."""
        reusable = {t.name for t in self.table.tests if t.referenced_tables() - {self.name} <= self.ancestors}
        tests = {t.name: t for t in self.table.tests}
        results: list[AssetCheckResult] = []
        pending: list[str] = []
        for name in selected:
            if name in tests and name in reusable and audited.get(name) == 0:
                results.append(audited_result(tests[name], evaluated_on))
            elif name == PII_AUDIT and isinstance(audited.get(PII_AUDIT), Mapping):
                results.append(pii_scan_result(self.key, evaluated_on, audited[PII_AUDIT],
                                               carried=list(audited.get(PII_CARRIED) or [])))
            elif name == PII_CHECK_NAME:
                result = self.lineage_result()
                assert result is not None
                results.append(result)
            elif name in DOMAIN_RULES.get(self.name, {}) and audited.get(name) == 0:
                results.append(AssetCheckResult(asset_key=self.key, check_name=name, passed=True,
                                                metadata={AUDITED_COUNTS[name]: 0, "evaluated_on": evaluated_on}))
            else:
                pending.append(name)
        return results, pending

    def by_query(self, wh: Warehouse, names: Collection[str], leads_in_scope: str | None = None) -> Iterator[AssetCheckResult]:
        """The named checks, evaluated on the table as it is now (``leads_in_scope``: the table of the leads an
        incremental build of this table rewrote, where a sampling check looks)."""
        tests = {t.name: t for t in self.table.tests}
        for name in names:
            if name in tests:
                yield run_declared_test(wh, tests[name])
            elif name == PII_AUDIT:
                yield pii_scan_result(self.key, "whole table", None, wh=wh)
            elif name == PII_CHECK_NAME:
                result = self.lineage_result()
                assert result is not None
                yield result
            elif name == "reschedule_links_stay_within_lead":
                yield reschedule_links_within_lead_result(wh, asset_key=self.key)
            elif name == "reschedule_links_acyclic":
                yield reschedule_links_acyclic_result(wh, asset_key=self.key)
            elif name == "rollup_matches_python_rule":
                yield rollup_matches_python_rule_result(wh, asset_key=self.key, leads_from=leads_in_scope)
            else:
                raise KeyError(f"{self.name} has no check named {name}")


def table_checks(project: SqlProject, lineage: ProjectLineage | None, names: Collection[str]) -> dict[str, TableChecks]:
    """The checks of each named table of the project (a model gets the lineage proof when ``lineage`` is given)."""
    found = {}
    for name in names:
        table = project.models.get(name) or project.seeds[name]
        is_model = name in project.models
        found[name] = TableChecks(table, ancestors_of(project, name), lineage if is_model else None)
    return found

