"""The SQL model layer in ``dbt_like_sql/``, read and understood with sqlglot (no Dagster imports).

Every ``<layer>/<name>.sql`` file is one SELECT written in the PostgreSQL dialect; ``<layer>/schema.yml`` documents
its model and columns and declares tests (dbt style). From the parse we derive what dbt asks people to write by
hand: the upstream tables (no ``ref()``), the DuckDB translation, and column-level lineage.
"""

from __future__ import annotations

import functools
import graphlib
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
import sqlglot
import yaml
from sqlglot import exp
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.scope import build_scope

LAYERS = ("staging", "intermediate", "marts")
SOURCE_DIALECT = "postgres"


def sql_project_root() -> Path:
    """Where ``dbt_like_sql/`` is: inside the installed package (a wheel ships it as package data), else at the top
    of the checkout (an editable install). The first candidate that exists wins."""
    package = Path(__file__).resolve().parent.parent  # the appointment_pipeline package
    for candidate in (package / "dbt_like_sql", package.parent / "dbt_like_sql"):
        if candidate.is_dir():
            return candidate
    raise ModelError(
        f"the SQL project dbt_like_sql/ is missing: looked in {package / 'dbt_like_sql'} (installed package) and "
        f"{package.parent / 'dbt_like_sql'} (checkout); reinstall the package"
    )


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

    def failing_rows_sql(self, table: str | None = None) -> str:
        """A query (PostgreSQL dialect) returning the violating rows; zero rows = pass. ``table`` audits another
        table of the model's shape (the scratch table of a rebuild) instead of the model itself."""
        table, column = table or self.model, self.column
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
    def expression(self) -> exp.Query:
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
        """The output tables (docs/data-contract.md#output-tables), in dependency order."""
        return [name for name in self.order() if self.models[name].layer == "marts"]

    def order(self) -> list[str]:
        """Models in dependency order (upstream first)."""
        graph = {name: set(m.upstream_tables) & self.models.keys() for name, m in self.models.items()}
        return list(graphlib.TopologicalSorter(graph).static_order())

    def validate(self, external_tables: Set[str]) -> None:
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


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class _TestArgs(_Strict):
    blocking: bool = False
    where: str | None = None


class _AcceptedValuesArgs(_TestArgs):
    values: list[str | int | bool] = pydantic.Field(min_length=1)


class _RelationshipsArgs(_TestArgs):
    to: str
    field: str


_TEST_ARGS: dict[str, type[_TestArgs]] = {
    "unique": _TestArgs,
    "not_null": _TestArgs,
    "accepted_values": _AcceptedValuesArgs,
    "relationships": _RelationshipsArgs,
}


class _ColumnDoc(_Strict):
    name: str
    description: str = pydantic.Field(min_length=1)
    tests: list[str | dict[str, dict[str, Any] | None]] = []


class _ModelDoc(_Strict):
    name: str
    description: str = pydantic.Field(min_length=1)
    columns: list[_ColumnDoc] = []


class _SchemaFile(_Strict):
    """One folder's ``schema.yml``: unknown keys and misspelled tests are errors, never silently ignored."""

    version: int = 2
    models: list[_ModelDoc] = []


def _parse_tests(model: str, column: _ColumnDoc) -> list[DeclaredTest]:
    tests = []
    for entry in column.tests:
        if isinstance(entry, str):
            kind, raw_args = entry, None
        elif len(entry) == 1:
            kind, raw_args = next(iter(entry.items()))
        else:
            raise ModelError(f"{model}.{column.name}: a test entry names one test, not {sorted(entry)}")
        if kind not in _TEST_ARGS:
            raise ModelError(f"{model}.{column.name}: unknown test {kind!r}; known tests are {sorted(_TEST_ARGS)}")
        try:
            args = _TEST_ARGS[kind].model_validate(raw_args or {})
        except pydantic.ValidationError as exc:
            raise ModelError(f"{model}.{column.name}: test {kind}: {_first_error(exc)}") from None
        tests.append(DeclaredTest(model, column.name, kind, args.model_dump(exclude_defaults=True)))
    return tests


def _first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def _read_schema_file(path: Path) -> _SchemaFile:
    if not path.exists():
        return _SchemaFile()
    try:
        return _SchemaFile.model_validate(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML: {exc}") from None
    except pydantic.ValidationError as exc:
        raise ModelError(f"{path}: {_first_error(exc)}") from None


@functools.cache
def load_project(root: Path | None = None) -> SqlProject:
    """Read every model and its documentation; raise ModelError on anything missing, unknown or misspelled."""
    root = root or sql_project_root()
    models: dict[str, SqlModel] = {}
    for layer in LAYERS:
        folder = root / layer
        docs_path = folder / "schema.yml"
        documented = {entry.name: entry for entry in _read_schema_file(docs_path).models}
        for path in sorted(folder.glob("*.sql")):
            name = path.stem
            if name in models:
                raise ModelError(f"model {name} defined twice")
            entry = documented.pop(name, None)
            if entry is None:
                raise ModelError(f"{path}: no description in {docs_path}")
            models[name] = SqlModel(
                name=name,
                layer=layer,
                path=path,
                sql=path.read_text(),
                description=" ".join(entry.description.split()),
                columns={c.name: " ".join(c.description.split()) for c in entry.columns},
                tests=tuple(t for c in entry.columns for t in _parse_tests(name, c)),
            )
        if documented:
            raise ModelError(f"{docs_path} documents models without a .sql file: {sorted(documented)}")
    if not models:
        raise ModelError(f"the SQL project {root} holds no models (no {'/'.join(LAYERS)}/*.sql files)")
    return SqlProject(root, models)
