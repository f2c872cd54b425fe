"""The SQL model layer in ``dbt_like_sql/``, read and understood with sqlglot (no Dagster imports).

Every ``<layer>/<name>.sql`` file is one SELECT written in the PostgreSQL dialect; ``<layer>/schema.yml`` documents
its model and columns and declares tests (dbt style). From the parse we derive what dbt asks people to write by
hand: the upstream tables (no ``ref()``), the DuckDB translation, and column-level lineage.
"""

from __future__ import annotations

import functools
import graphlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from sqlglot import exp
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.scope import build_scope

SQL_ROOT = Path(__file__).resolve().parent.parent / "dbt_like_sql"
LAYERS = ("staging", "intermediate", "marts")
SOURCE_DIALECT = "postgres"


class ModelError(ValueError):
    """A model file that cannot be used: unparseable, not one SELECT, undocumented, or reading an unknown table."""


@dataclass(frozen=True)
class DeclaredTest:
    """A dbt-style test from schema.yml: ``unique``, ``not_null``, ``accepted_values`` or ``relationships``."""

    model: str
    column: str
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.column}"

    @property
    def blocking(self) -> bool:
        return bool(self.args.get("blocking", False))

    @property
    def description(self) -> str:
        if self.kind == "accepted_values":
            return f"{self.column} only takes the values {list(self.args['values'])}"
        if self.kind == "relationships":
            return f"every {self.column} exists in {self.args['to']}.{self.args['field']}"
        return f"{self.column} is {self.kind.replace('_', ' ')}"

    def failing_rows_sql(self) -> str:
        """A query (PostgreSQL dialect) returning the violating rows; zero rows = pass."""
        table, column = self.model, self.column
        where = f" and ({self.args['where']})" if self.args.get("where") else ""
        if self.kind == "unique":
            return (
                f"select {column}, count(*) as occurrences from {table} where {column} is not null{where} "
                f"group by {column} having count(*) > 1"
            )
        if self.kind == "not_null":
            return f"select * from {table} where {column} is null{where}"
        if self.kind == "accepted_values":
            values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in self.args["values"])
            return f"select {column}, count(*) as occurrences from {table} where {column} not in ({values}){where} group by {column}"
        if self.kind == "relationships":
            parent, parent_field = self.args["to"], self.args["field"]
            return (
                f"select child.{column} from {table} as child left join {parent} as parent "
                f"on child.{column} = parent.{parent_field} "
                f"where child.{column} is not null and parent.{parent_field} is null{where.replace(' and (', ' and (child.')}"
            )
        raise ModelError(f"{table}: unknown test {self.kind!r}")

    def referenced_tables(self) -> set[str]:
        return {self.model} | ({self.args["to"]} if self.kind == "relationships" else set())


KNOWN_TESTS = {"unique", "not_null", "accepted_values", "relationships"}


@dataclass(frozen=True)
class SqlModel:
    name: str
    layer: str
    path: Path
    sql: str
    description: str
    columns: Mapping[str, str]  # column -> description, in the model's output order
    tests: tuple[DeclaredTest, ...]

    @functools.cached_property
    def expression(self) -> exp.Expression:
        try:
            statements = sqlglot.parse(self.sql, read=SOURCE_DIALECT)
        except sqlglot.errors.ParseError as exc:
            raise ModelError(f"{self.path.name}: {exc}") from exc
        statements = [s for s in statements if s is not None]
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise ModelError(f"{self.path.name}: a model file holds exactly one SELECT")
        return statements[0]

    @functools.cached_property
    def upstream_tables(self) -> frozenset[str]:
        """Physical tables the query reads; CTE names and subqueries are not tables."""
        root = build_scope(self.expression)
        if root is None:
            raise ModelError(f"{self.path.name}: cannot analyse the query")
        return frozenset(
            source.name
            for scope in root.traverse()
            for source in scope.sources.values()
            if isinstance(source, exp.Table)
        )

    @functools.cached_property
    def output_columns(self) -> tuple[str, ...]:
        return tuple(select.alias_or_name for select in self.expression.selects)

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset(p.name for p in self.expression.find_all(exp.Placeholder))

    def render(self, dialect: str, parameters: Mapping[str, Any] | None = None) -> str:
        """The query for ``dialect`` with ``:name`` placeholders bound as typed literals."""
        parameters = dict(parameters or {})
        missing = self.parameters - parameters.keys()
        if missing:
            raise ModelError(f"{self.name}: no value for parameters {sorted(missing)}")

        def bind(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder) and node.name in parameters:
                return literal(parameters[node.name])
            return node

        bound = self.expression.copy().transform(bind)
        return transpile(bound.sql(dialect=SOURCE_DIALECT), dialect)

    def column_lineage(self, schemas: Mapping[str, Mapping[str, str]]) -> dict[str, list[tuple[str, str]]]:
        """Output column -> the (table, column) pairs of upstream tables it is computed from."""
        parameters = {name: datetime(2000, 1, 1) for name in self.parameters}
        sql = self.render(SOURCE_DIALECT, parameters)
        schema = {table: dict(columns) for table, columns in schemas.items() if table in self.upstream_tables}
        expression = sqlglot.parse_one(sql, read=SOURCE_DIALECT)
        result: dict[str, list[tuple[str, str]]] = {}
        for column in self.output_columns:
            node = sqlglot_lineage(column, expression, schema=schema, dialect=SOURCE_DIALECT)
            sources = set()
            for leaf in node.walk():
                if leaf.downstream or not isinstance(leaf.expression, exp.Table):
                    continue
                table = leaf.expression.name
                source_column = leaf.name.split(".")[-1]
                if table in self.upstream_tables:
                    sources.add((table, source_column))
            result[column] = sorted(sources)
        return result


def literal(value: Any) -> exp.Expression:
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("timestamptz"))
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def transpile(sql: str, dialect: str) -> str:
    if dialect == SOURCE_DIALECT:
        return sql
    return sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)[0]


@dataclass(frozen=True)
class SqlProject:
    root: Path
    models: Mapping[str, SqlModel]

    def marts(self) -> list[str]:
        """The output tables of contracts section 5, in dependency order."""
        return [name for name in self.order() if self.models[name].layer == "marts"]

    def order(self) -> list[str]:
        """Models in dependency order (upstream first)."""
        graph = {name: set(m.upstream_tables) & self.models.keys() for name, m in self.models.items()}
        return list(graphlib.TopologicalSorter(graph).static_order())

    def validate(self, external_tables: set[str]) -> None:
        known = external_tables | self.models.keys()
        for model in self.models.values():
            unknown = model.upstream_tables - known
            if unknown:
                raise ModelError(f"{model.path.name} reads unknown tables {sorted(unknown)}")
            undocumented = [c for c in model.output_columns if c not in model.columns]
            if undocumented:
                raise ModelError(f"{model.path.name}: columns without documentation {undocumented}")
            for test in model.tests:
                if test.kind == "relationships" and test.args["to"] not in known:
                    raise ModelError(f"{model.name}: relationships test points to unknown {test.args['to']}")
        self.order()  # raises graphlib.CycleError on a cycle


def _parse_tests(model: str, column: str, entries: list[Any]) -> list[DeclaredTest]:
    tests = []
    for entry in entries or []:
        kind, args = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        if kind not in KNOWN_TESTS:
            raise ModelError(f"{model}.{column}: unknown test {kind!r}")
        tests.append(DeclaredTest(model, column, kind, dict(args or {})))
    return tests


@functools.cache
def load_project(root: Path = SQL_ROOT) -> SqlProject:
    models: dict[str, SqlModel] = {}
    for layer in LAYERS:
        folder = root / layer
        docs_path = folder / "schema.yml"
        docs = yaml.safe_load(docs_path.read_text()) if docs_path.exists() else {}
        documented = {entry["name"]: entry for entry in (docs or {}).get("models", [])}
        for path in sorted(folder.glob("*.sql")):
            name = path.stem
            if name in models:
                raise ModelError(f"model {name} defined twice")
            entry = documented.pop(name, None)
            if entry is None or not entry.get("description"):
                raise ModelError(f"{path}: no description in {docs_path}")
            columns = {c["name"]: c.get("description", "") for c in entry.get("columns", [])}
            tests = [
                t for c in entry.get("columns", []) for t in _parse_tests(name, c["name"], c.get("tests", []))
            ]
            models[name] = SqlModel(
                name=name,
                layer=layer,
                path=path,
                sql=path.read_text(),
                description=" ".join(entry["description"].split()),
                columns=columns,
                tests=tuple(tests),
            )
        if documented:
            raise ModelError(f"{docs_path} documents models without a .sql file: {sorted(documented)}")
    return SqlProject(root, models)
