"""Column lineage from the source fields to every warehouse column, derived from the SQL (no Dagster imports).

For each column of each SQL model:
- direct sources: the upstream columns whose values flow into it (everything its select expression reads, CASE
  conditions included, except the PARTITION BY / ORDER BY of a window);
- indirect sources: the upstream columns that decide which rows exist or which row supplies the value: WHERE,
  HAVING, QUALIFY and an aggregate's FILTER (``filter``), JOIN ON (``join``), GROUP BY (``group_by``), window
  PARTITION BY / ORDER BY (``window``) and ORDER BY / DISTINCT ON (``sort``), in every scope (CTE, subquery, union
  branch) the column's row passes through.
A column can be both (``start_at`` flows into ``appointment_start_at`` and also ranks the candidates). Raw columns
continue to source fields through the declarations in appointment_pipeline.io.sources, so every model column traces
down to ``"Lead"`` columns and provider JSON fields.

Command line: ``python -m appointment_pipeline.io.lineage export [path]`` writes the sorted JSON (default
docs/lineage.json); ``python -m appointment_pipeline.io.lineage show TABLE.COLUMN`` prints one column's trace;
``python -m appointment_pipeline.io.lineage pii`` prints the PII proof and exits 1 on a violation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Mapping
from typing import cast
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from appointment_pipeline.io.code_cache import read_entry, write_entry
from appointment_pipeline.io.sources import CATALOG, SEED_SYSTEM, SOURCE_SYSTEMS, Pii, SourceCatalog
from appointment_pipeline.io.sql_project import SOURCE_DIALECT, SqlModel, SqlProject, load_project

Ref = tuple[str, str]  # (table, column)

FILTER, JOIN, GROUP_BY, WINDOW, SORT = "filter", "join", "group_by", "window", "sort"

EXPORT_PATH = Path(__file__).resolve().parents[2] / "docs" / "lineage.json"
EXPORT_COMMAND = "python -m appointment_pipeline.io.lineage export"


class LineageError(ValueError):
    """A model whose columns cannot be traced (an unknown table or column after qualification)."""


@dataclass
class Deps:
    """The upstream columns of one column: direct ones, and indirect ones with the clauses that made them so.
    ``preserving``: every value of the column is a value of a direct upstream column or a literal of the SQL (only
    column references, literals and value-preserving functions, see PRESERVING, compute it)."""

    direct: set[Ref] = field(default_factory=set)
    indirect: dict[Ref, set[str]] = field(default_factory=dict)
    preserving: bool = False

    def add(self, other: Deps) -> None:
        self.direct |= other.direct
        for ref, kinds in other.indirect.items():
            self.indirect.setdefault(ref, set()).update(kinds)

    def add_as_indirect(self, other: Deps, kind: str) -> None:
        for ref in other.direct:
            self.indirect.setdefault(ref, set()).add(kind)
        for ref, kinds in other.indirect.items():
            self.indirect.setdefault(ref, set()).update(kinds | {kind})

    def copy(self) -> Deps:
        return Deps(set(self.direct), {r: set(k) for r, k in self.indirect.items()}, self.preserving)


# Expressions whose value is one of their inputs' values (or a literal), or that value only re-cased or trimmed of
# whitespace: text built this way looks like an email or a phone number only if an input already did. (A cast is
# not one: a number written as text can look like a phone number.)
PRESERVING = (exp.Column, exp.Literal, exp.Null, exp.Boolean, exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Paren,
              exp.Alias, exp.Lower, exp.Upper, exp.Trim,
              # functions that return one of the values they read
              exp.FirstValue, exp.LastValue, exp.Lag, exp.Lead, exp.Max, exp.Min, exp.AnyValue, exp.ArgMax,
              exp.ArgMin, exp.IgnoreNulls, exp.RespectNulls)


# -- one model ---------------------------------------------------------------------------------------------------


def _query(scope: Scope) -> exp.Query:
    """A scope's SELECT (or set operation): every scope of a model is one."""
    return cast(exp.Query, scope.expression)


class _ScopeResolver:
    """Resolves output columns of a qualified query to the physical columns they come from."""

    def __init__(self, expression: exp.Expr):
        root = build_scope(expression)
        if root is None:
            raise LineageError("cannot analyse the query")
        self.root = root
        self.scope_by_expression = {id(s.expression): s for s in root.traverse()}
        self._outputs: dict[tuple[int, int], Deps] = {}
        self._rows: dict[int, Deps] = {}
        self._active: set[tuple[int, int]] = set()

    def _canonical(self, scope: Scope) -> Scope:
        # a recursive CTE's self-reference is a fresh branch of its base case: use the traversed scope
        return self.scope_by_expression.get(id(scope.expression), scope)

    def output(self, scope: Scope, name: str) -> Deps:
        names = _query(scope).named_selects
        if name not in names:
            raise LineageError(f"no column {name!r} in {scope.expression.sql(dialect=SOURCE_DIALECT)[:200]}")
        return self.output_at(scope, names.index(name))

    def output_at(self, scope: Scope, index: int) -> Deps:
        scope = self._canonical(scope)
        key = (id(scope), index)
        if key in self._outputs:
            return self._outputs[key]
        if key in self._active:  # a recursive CTE reading itself adds nothing new
            return Deps()
        self._active.add(key)
        deps = Deps()
        if isinstance(scope.expression, exp.SetOperation):
            branches = [self.output_at(branch, index) for branch in scope.set_operation_scopes]
            for branch_deps in branches:
                deps.add(branch_deps)
            deps.preserving = all(b.preserving for b in branches)
        else:
            selected = _query(scope).selects[index]
            deps.add(self.expression_deps(scope, selected))
            deps.add(self.row_deps(scope))
            deps.preserving = self.preserves(scope, selected)
        self._active.discard(key)
        self._outputs[key] = deps
        return deps

    def all_outputs(self, scope: Scope) -> Deps:
        deps = Deps()
        for index in range(len(_query(scope).named_selects)):
            deps.add(self.output_at(scope, index))
        return deps

    def row_deps(self, scope: Scope) -> Deps:
        """What decides the rows of one SELECT: its filters, joins, grouping and ordering."""
        if id(scope) in self._rows:
            return self._rows[id(scope)]
        select = scope.expression
        clauses: list[tuple[exp.Expr | None, str]] = [
            (select.args.get("where"), FILTER),
            (select.args.get("having"), FILTER),
            (select.args.get("qualify"), FILTER),
            (select.args.get("group"), GROUP_BY),
            (select.args.get("order"), SORT),
        ]
        distinct = select.args.get("distinct")
        if distinct is not None:
            clauses.append((distinct.args.get("on"), SORT))
        for join in select.args.get("joins") or []:
            clauses.append((join.args.get("on"), JOIN))
            for column in join.args.get("using") or []:
                clauses.append((column, JOIN))
        deps = Deps()
        for clause, kind in clauses:
            if clause is not None:
                deps.add_as_indirect(self.expression_deps(scope, clause), kind)
        self._rows[id(scope)] = deps
        return deps

    def expression_deps(self, scope: Scope, node: exp.Expr) -> Deps:
        deps = Deps()
        self._visit(scope, node, deps)
        return deps

    def _visit(self, scope: Scope, node: exp.Expr, deps: Deps) -> None:
        if isinstance(node, exp.Subquery):
            node = cast(exp.Expr, node.unnest())
        if node is not scope.expression and id(node) in self.scope_by_expression:
            child = self.scope_by_expression[id(node)]
            deps.add(self.all_outputs(child))
            return
        if isinstance(node, exp.Column):
            deps.add(self.column(scope, node))
            return
        if isinstance(node, exp.Window):
            self._visit(scope, node.this, deps)
            spec = Deps()
            for part in self._window_spec(scope, node):
                self._visit(scope, part, spec)
            deps.add_as_indirect(spec, WINDOW)
            return
        if isinstance(node, exp.Filter):  # an aggregate's FILTER (WHERE ...) picks the rows it reads
            self._visit(scope, node.this, deps)
            picked = Deps()
            self._visit(scope, node.expression, picked)
            deps.add_as_indirect(picked, FILTER)
            return
        for part in node.iter_expressions():
            self._visit(scope, part, deps)

    def preserves(self, scope: Scope, node: exp.Expr) -> bool:
        """Whether the expression's value is a value of the columns it reads, or a literal (PRESERVING)."""
        if isinstance(node, exp.Case):  # its conditions decide which value, they are not the value
            values = [branch.args.get("true") for branch in node.args.get("ifs") or []] + [node.args.get("default")]
            return all(self.preserves(scope, v) for v in values if v is not None)
        if isinstance(node, exp.If):
            values = [node.args.get("true"), node.args.get("false")]
            return all(self.preserves(scope, v) for v in values if v is not None)
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Null):  # a typed null
            return True
        if isinstance(node, (exp.Nullif, exp.Alias, exp.Window, exp.Filter)):  # a window or filter picks rows
            return self.preserves(scope, node.this)
        if isinstance(node, exp.Trim):
            return node.args.get("expression") is None and self.preserves(scope, node.this)  # whitespace only
        if not isinstance(node, PRESERVING):
            return False
        if isinstance(node, exp.Column):
            return self.column_preserves(scope, node)
        return all(self.preserves(scope, part) for part in node.iter_expressions())

    def column_preserves(self, scope: Scope, column: exp.Column) -> bool:
        current: Scope | None = scope
        while current is not None:
            source = current.sources.get(column.table)
            if isinstance(source, exp.Table):
                return True
            if isinstance(source, Scope):
                names = _query(source).named_selects
                return column.name in names and self.output_at(source, names.index(column.name)).preserving
            current = current.parent
        return False

    @staticmethod
    def _window_spec(scope: Scope, window: exp.Window) -> list[exp.Expr]:
        parts = [*(window.args.get("partition_by") or []), window.args.get("order"), window.args.get("spec")]
        alias = window.args.get("alias")
        if isinstance(alias, exp.Identifier):  # OVER w: the named window of the same SELECT
            for named in scope.expression.args.get("windows") or []:
                if named.this.name == alias.name:
                    parts += [*(named.args.get("partition_by") or []), named.args.get("order"), named.args.get("spec")]
        return [p for p in parts if p is not None]

    def column(self, scope: Scope, column: exp.Column) -> Deps:
        current: Scope | None = scope
        while current is not None:  # a correlated subquery reads its outer query's sources
            source = current.sources.get(column.table)
            if isinstance(source, exp.Table):
                return Deps(direct={(source.name, column.name)})
            if isinstance(source, Scope):
                return self.output(source, column.name)
            current = current.parent
        raise LineageError(f"cannot resolve column {column.sql(dialect=SOURCE_DIALECT)}")


def qualified(model: SqlModel, schema: Mapping[str, Mapping[str, str]]) -> exp.Query:
    """The model's query with every column qualified by its source and every star expanded."""
    upstream: dict[str, object] = {table: dict(schema[table]) for table in model.upstream_tables if table in schema}
    missing = model.upstream_tables - upstream.keys()
    if missing:
        raise LineageError(f"{model.name}: no columns known for {sorted(missing)}")
    try:
        query = qualify(
            model.expression.copy(), schema=upstream, dialect=SOURCE_DIALECT, validate_qualify_columns=True
        )
        return cast(exp.Query, query)
    except sqlglot.errors.OptimizeError as exc:
        raise LineageError(f"{model.name}: {exc}") from exc


def model_lineage(expression: exp.Query) -> dict[str, Deps]:
    """Output column -> its direct and indirect upstream columns, for one qualified query."""
    resolver = _ScopeResolver(expression)
    return {
        name: resolver.output_at(resolver.root, index).copy()
        for index, name in enumerate(expression.named_selects)
    }


def sql_lineage(sql: str, schema: Mapping[str, Mapping[str, str]]) -> dict[str, Deps]:
    """The lineage of one SELECT over tables of the given schema ({table: {column: type}})."""
    tables: dict[str, object] = {t: dict(c) for t, c in schema.items()}
    expression = qualify(
        sqlglot.parse_one(sql, read=SOURCE_DIALECT), schema=tables, dialect=SOURCE_DIALECT, validate_qualify_columns=True
    )
    return model_lineage(cast(exp.Query, expression))


_MODEL_CACHE: dict[str, tuple[tuple[str, ...], dict[str, Deps]]] = {}
# A change to this module changes how lineage is derived: it invalidates every cached entry.
_ALGORITHM_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _read_cache(name: str) -> tuple[tuple[str, ...], dict[str, Deps]] | None:
    try:
        data = json.loads(read_entry(name) or "")
        return tuple(data["outputs"]), {
            column: Deps({tuple(r) for r in d["direct"]}, {(t, c): set(k) for t, c, k in d["indirect"]},
                         bool(d["preserving"]))
            for column, d in data["columns"].items()
        }
    except (ValueError, KeyError, TypeError):
        return None


def _write_cache(name: str, outputs: tuple[str, ...], lineage: dict[str, Deps]) -> None:
    data = {
        "outputs": list(outputs),
        "columns": {
            column: {
                "direct": sorted(d.direct),
                "indirect": [[t, c, sorted(k)] for (t, c), k in sorted(d.indirect.items())],
                "preserving": d.preserving,
            }
            for column, d in lineage.items()
        },
    }
    write_entry(name, json.dumps(data))


def _cached_model_lineage(model: SqlModel, schema: Mapping[str, Mapping[str, str]]) -> tuple[tuple[str, ...], dict[str, Deps]]:
    """(output columns, lineage) of one model, cached by its code version and its upstream columns: in memory, and
    on disk across processes."""
    upstream = {t: sorted(schema.get(t, {})) for t in sorted(model.upstream_tables)}
    key = hashlib.sha256((_ALGORITHM_VERSION + model.sql + json.dumps(upstream)).encode()).hexdigest()
    if key not in _MODEL_CACHE:
        cached = _read_cache(f"{key}.json")
        if cached is None:
            expression = qualified(model, schema)
            cached = (tuple(expression.named_selects), model_lineage(expression))
            _write_cache(f"{key}.json", *cached)
        _MODEL_CACHE[key] = cached
    return _MODEL_CACHE[key]


# -- the whole project, down to source fields ---------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """Source fields and raw columns behind one warehouse column. A field read through the keyed email hash is
    written ``<field> (keyed hash)``."""

    direct: frozenset[str]
    indirect: frozenset[str]
    raw_direct: frozenset[Ref]
    raw_indirect: frozenset[Ref]


HASHED = " (keyed hash)"



def field_of(entry: str) -> tuple[str, bool]:
    """A trace entry -> (source field id, read through the keyed hash)."""
    return (entry[: -len(HASHED)], True) if entry.endswith(HASHED) else (entry, False)


@dataclass
class ProjectLineage:
    project: SqlProject
    catalog: SourceCatalog
    columns: dict[str, tuple[str, ...]]  # warehouse table -> columns in order
    models: dict[str, dict[str, Deps]]  # model -> column -> one hop of lineage
    problems: list[str] = field(default_factory=list)  # models whose lineage could not be derived
    _traces: dict[Ref, Trace] = field(default_factory=dict, repr=False)
    _proof: PiiProof | None = field(default=None, repr=False)  # every table's PII check reads the one proof

    def trace(self, table: str, column: str) -> Trace:
        key = (table, column)
        if key in self._traces:
            return self._traces[key]
        if table in self.project.seeds:
            # a vocabulary column: the CSV itself is the source (io/sources.py SEED_FIELDS)
            result = Trace(frozenset({f"{SEED_SYSTEM}:{table}.{column}"}), frozenset(), frozenset(), frozenset())
        elif table in self.catalog.raw_columns:
            derivation = self.catalog.raw_columns[table][column]
            suffix = HASHED if derivation.keyed_hash else ""
            fields = frozenset(f + suffix for f in derivation.direct)
            result = Trace(fields, frozenset(derivation.indirect), frozenset({key}), frozenset())
        else:
            deps = self.models[table][column]
            direct: set[str] = set()
            indirect: set[str] = set()
            raw_direct: set[Ref] = set()
            raw_indirect: set[Ref] = set()
            for ref in deps.direct:
                upstream = self.trace(*ref)
                direct |= upstream.direct
                indirect |= upstream.indirect
                raw_direct |= upstream.raw_direct
                raw_indirect |= upstream.raw_indirect
            for ref in deps.indirect:
                upstream = self.trace(*ref)
                indirect |= upstream.direct | upstream.indirect
                raw_indirect |= upstream.raw_direct | upstream.raw_indirect
            result = Trace(frozenset(direct), frozenset(indirect), frozenset(raw_direct), frozenset(raw_indirect))
        self._traces[key] = result
        return result

    def tables(self) -> list[str]:
        return [*sorted(self.catalog.raw_columns), *self.project.order()]

    def pii_proof(self) -> PiiProof:
        if self._proof is None:
            self._proof = self._derive_pii_proof()
        return self._proof

    def _derive_pii_proof(self) -> PiiProof:
        violations: list[PiiFinding] = []
        indirect: list[PiiFinding] = []
        problems = [*self.catalog.problems(), *self.problems]
        for table in self.tables():
            for column in self.columns[table]:
                trace = self.trace(table, column)
                for how, entries in (("direct", trace.direct), ("indirect", trace.indirect)):
                    for entry in sorted(entries):
                        field_id, hashed = field_of(entry)
                        source = self.catalog.fields.get(field_id)
                        if source is None:  # an undeclared field: already one of the problems
                            continue
                        if source.pii is Pii.NONE or (hashed and source.pii is Pii.EMAIL):
                            continue
                        finding = PiiFinding(table, column, field_id, source.pii.value, how)
                        (violations if how == "direct" else indirect).append(finding)
        return PiiProof(tuple(problems), tuple(violations), tuple(indirect))

    def export(self) -> dict:
        """Everything above as plain, sorted data: the committed docs/lineage.json."""
        catalog = self.catalog
        raw = {
            table: {
                column: {
                    "direct": sorted(d.direct),
                    "indirect": sorted(d.indirect),
                    "keyed_hash": d.keyed_hash,
                }
                for column, d in columns.items()
            }
            for table, columns in catalog.raw_columns.items()
        }
        models: dict[str, dict[str, dict]] = {}
        for name in self.project.order():
            models[name] = {}
            for column in self.columns[name]:
                deps, trace = self.models[name][column], self.trace(name, column)
                models[name][column] = {
                    "direct": sorted(f"{t}.{c}" for t, c in deps.direct),
                    "indirect": {f"{t}.{c}": sorted(k) for (t, c), k in sorted(deps.indirect.items())},
                    "source_fields": {"direct": sorted(trace.direct), "indirect": sorted(trace.indirect)},
                }
        proof = self.pii_proof()
        return {
            "about": (
                "Column lineage of the warehouse, derived from dbt_like_sql/ and appointment_pipeline/io/sources.py. "
                f"Regenerate with: {EXPORT_COMMAND}"
            ),
            "source_fields": {
                f.id: {"pii": f.pii.value, "delivered_by": list(SOURCE_SYSTEMS[f.system].assets)}
                for f in sorted(catalog.fields.values(), key=lambda f: f.id)
            },
            "raw_tables": raw,
            "models": models,
            "pii_proof": proof.as_dict(),
        }


@dataclass(frozen=True)
class PiiFinding:
    table: str
    column: str
    field: str
    pii: str
    how: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column} <- {self.field} ({self.pii}, {self.how})"


@dataclass(frozen=True)
class PiiProof:
    """``violations``: warehouse columns whose values come from a personal field other than through the keyed
    email hash (the proof fails). ``indirect``: columns where a personal field only decides the row or whether a
    record is loaded, reported for review."""

    problems: tuple[str, ...]
    violations: tuple[PiiFinding, ...]
    indirect: tuple[PiiFinding, ...]

    @property
    def passed(self) -> bool:
        return not self.problems and not self.violations

    def for_table(self, table: str) -> PiiProof:
        return PiiProof(
            self.problems,
            tuple(f for f in self.violations if f.table == table),
            tuple(f for f in self.indirect if f.table == table),
        )

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "problems": list(self.problems),
            "violations": [str(f) for f in self.violations],
            "indirect": [str(f) for f in self.indirect],
        }


def build_lineage(project: SqlProject | None = None, catalog: SourceCatalog = CATALOG) -> ProjectLineage:
    project = project or load_project()
    schema: dict[str, dict[str, str]] = {
        table: {column: "text" for column in columns} for table, columns in catalog.raw_columns.items()
    }
    for seed in project.seeds.values():
        schema[seed.name] = {column: "text" for column in seed.columns}
    columns = {table: tuple(cols) for table, cols in schema.items()}
    models, problems = {}, []
    for name in project.order():
        try:
            outputs, lineage = _cached_model_lineage(project.models[name], schema)
        except LineageError as exc:
            # keep the code location loadable; the PII proof fails on the problem instead
            problems.append(
                f"no lineage for {name}: {exc} (a raw column read by the SQL must be declared in "
                "appointment_pipeline/io/sources.py RAW_COLUMN_SOURCES)"
            )
            outputs = project.models[name].output_columns
            lineage = {column: Deps() for column in outputs}
        schema[name] = {column: "text" for column in outputs}
        columns[name] = outputs
        models[name] = lineage
    return ProjectLineage(project, catalog, columns, models, problems)


@functools.cache
def project_lineage() -> ProjectLineage:
    """The lineage of the repository's own models and sources, computed once per process."""
    return build_lineage()


# -- text for people -----------------------------------------------------------------------------------------------

def describe(lineage: ProjectLineage, table: str, column: str) -> str:
    """One column in plain text: one hop up, then the source fields (direct, then indirect)."""
    trace = lineage.trace(table, column)
    lines = [f"{table}.{column}"]
    if table in lineage.models:
        deps = lineage.models[table][column]
        lines.append("  one hop up, direct:   " + (", ".join(f"{t}.{c}" for t, c in sorted(deps.direct)) or "-"))
        lines.append("  one hop up, indirect:")
        lines += [f"    {t}.{c} ({', '.join(sorted(k))})" for (t, c), k in sorted(deps.indirect.items())]
    lines.append("  raw columns, direct:  " + (", ".join(f"{t}.{c}" for t, c in sorted(trace.raw_direct)) or "-"))
    for label, entries in (("direct", trace.direct), ("indirect", trace.indirect)):
        lines.append(f"  source fields, {label}:")
        lines += [f"    {entry}" for entry in sorted(entries)]
    return "\n".join(lines)


def export_json(lineage: ProjectLineage) -> str:
    return json.dumps(lineage.export(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "export"
    lineage = project_lineage()
    if command == "export":
        if not args and not EXPORT_PATH.parent.is_dir():  # an installed package has no docs/ beside it
            print("not in a source checkout: give the file to write, e.g. export lineage.json")
            return 2
        path = Path(args[0]) if args else EXPORT_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(export_json(lineage))
        print(f"wrote {path}")
        return 0
    if command == "show" and args and "." in args[0]:
        table, column = args[0].split(".", 1)
        if column not in lineage.columns.get(table, ()):
            print(f"unknown column {table}.{column}")
            return 2
        print(describe(lineage, table, column))
        return 0
    if command == "pii":
        proof = lineage.pii_proof()
        print(json.dumps(proof.as_dict(), indent=2))
        return 0 if proof.passed else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
