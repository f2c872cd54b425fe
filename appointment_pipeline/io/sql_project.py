"""The SQL model layer in ``dbt_like_sql/``, read and understood with sqlglot (no Dagster imports).

Every ``<layer>/<name>.sql`` file is one SELECT written in the PostgreSQL dialect; ``<layer>/schema.yml`` documents
its model and columns and declares tests (dbt style). ``seeds/<name>.csv`` files are the vocabularies (statuses,
mappings, reason codes), documented in ``seeds/schema.yml``, loaded as tables the models join and read by Python.
From the parse we derive what dbt asks people to write by hand: the upstream tables (no ``ref()``), the DuckDB
translation, and column-level lineage.
"""

from __future__ import annotations

import csv
import functools
import graphlib
import hashlib
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

from appointment_pipeline.io.code_cache import read_entry, write_entry
from appointment_pipeline.io.schema_yml import (
    SCOPE_SETS,
    TEST_ARGS,
    AcceptedValuesArgs,
    ColumnDoc,
    SchemaFile,
    ScopeEntry,
    first_error,
)

# libyaml's loader when PyYAML was built with it: every process that loads the code location parses every schema.yml
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LAYERS = ("staging", "intermediate", "marts")
SEEDS = "seeds"
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
        if self.kind == "accepted_values" and "seed" in self.args:
            where = "".join(f" where {k} = {v}" for k, v in self.args.get("seed_where", {}).items())
            return f"{self.column} only takes the values of {self.args['seed']}.{self.args['seed_column']}{where}"
        if self.kind == "accepted_values":
            return f"{self.column} only takes the values {list(self.args['values'])}"
        if self.kind == "relationships":
            return f"every {self.column} exists in {self.args['to']}.{self.args['field']}"
        return f"{self.column} is {self.kind.replace('_', ' ')}"

    def failing_row_condition(self) -> str:
        """For a test that judges each row alone (``not_null``, ``accepted_values``): the condition a failing row
        meets (what ``failing_rows_sql`` selects by), over the model's columns."""
        where = f" and ({self.args['where']})" if self.args.get("where") else ""
        if self.kind == "not_null":
            return f"{self.column} is null{where}"
        if self.kind == "accepted_values":
            values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in self.args["values"])
            return f"{self.column} not in ({values}){where}"
        raise ModelError(f"{self.model}: {self.kind} does not judge each row alone")

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
            return f"select * from {table} where {self.failing_row_condition()}"
        if self.kind == "accepted_values":
            return (f"select {column}, count(*) as occurrences from {table} where {self.failing_row_condition()} "
                    f"group by {column}")
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
class ScopeRule:
    """Rows of a table that belong to one set of an incremental build's scope: ``columns`` hold a member of
    ``scope_set`` (``keys`` takes two columns, provider and appointment key; every other set one), and ``where``
    narrows the rule to some rows. A table's rules are alternatives: a row in any of them is in scope."""

    scope_set: str
    columns: tuple[str, ...]
    where: str | None = None


@dataclass(frozen=True)
class SqlModel:
    name: str
    layer: str
    path: Path
    sql: str
    description: str
    columns: Mapping[str, str]  # column -> description, in the model's output order
    tests: tuple[DeclaredTest, ...]
    scope: tuple[ScopeRule, ...] = ()  # which rows an incremental build replaces (schema.yml ``incremental``)
    # of those, the rows whose input can have changed (``incremental.changed``, a row-local model only): the others
    # are kept as they are
    changed: tuple[ScopeRule, ...] = ()

    @property
    def rebuilt(self) -> tuple[ScopeRule, ...]:
        """The rows an incremental build recomputes."""
        return self.changed or self.scope

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

    @property
    def parameter_columns(self) -> dict[str, str]:
        """Output columns that are a bare parameter (``:reference_time as reference_time``): column -> parameter."""
        return {
            select.alias_or_name: select.unalias().name
            for select in self.expression.selects
            if isinstance(select.unalias(), exp.Placeholder)
        }

    def render(
        self, dialect: str, parameters: Mapping[str, Any] | None = None, expression: exp.Query | None = None
    ) -> str:
        """The query (or ``expression``, a rewrite of it) for ``dialect`` with ``:name`` placeholders bound as typed
        literals."""
        parameters = dict(parameters or {})
        missing = self.parameters - parameters.keys()
        if missing:
            raise ModelError(f"{self.name}: no value for parameters {sorted(missing)}")

        def bind(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder) and node.name in parameters:
                return literal(parameters[node.name])
            return node

        if expression is None and not self.parameters:  # the model as written: generated once per code version
            return _rendered_as_written(self.sql, self.expression, dialect)
        bound = (expression or self.expression).copy().transform(bind)
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


_RENDERED: dict[tuple[str, str], str] = {}


def _rendered_as_written(sql: str, expression: exp.Query, dialect: str) -> str:
    """A parameterless model's query (``sql`` parsed as ``expression``) for ``dialect``, kept in memory and on disk
    by its text: a run's process then neither generates nor transpiles it again."""
    if (sql, dialect) not in _RENDERED:
        name = hashlib.sha256(f"{sqlglot.__version__}\0render\0{dialect}\0{sql}".encode()).hexdigest()
        text = read_entry(f"sql-{name}.sql")
        if text is None:
            text = transpile(expression.sql(dialect=SOURCE_DIALECT), dialect)
            write_entry(f"sql-{name}.sql", text)
        _RENDERED[(sql, dialect)] = text
    return _RENDERED[(sql, dialect)]


def transpile(sql: str, dialect: str) -> str:
    if dialect == SOURCE_DIALECT:
        return sql
    return _transpiled(sql, dialect)


@functools.lru_cache(maxsize=4096)
def _transpiled(sql: str, dialect: str) -> str:
    """Parsing and writing a model's SQL costs milliseconds a statement, in every step: done once per text."""
    name = hashlib.sha256(f"{sqlglot.__version__}\0{dialect}\0{sql}".encode()).hexdigest()
    cached = read_entry(f"sql-{name}.sql")
    if cached is not None:
        return cached
    text = sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
    write_entry(f"sql-{name}.sql", text)
    return text


@dataclass(frozen=True)
class Seed:
    """A vocabulary CSV: a table the models join and Python reads; an empty cell is null."""

    name: str
    path: Path
    description: str
    columns: Mapping[str, str]  # column -> description, in file order
    types: Mapping[str, str]  # column -> text, integer or boolean
    rows: tuple[Mapping[str, Any], ...]
    tests: tuple[DeclaredTest, ...]
    layer: str = SEEDS

    @property
    def output_columns(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def values(self, column: str, **where: Any) -> list[Any]:
        """Distinct non-null values of ``column`` in file order, of the rows matching ``where``."""
        if column not in self.columns or not set(where) <= set(self.columns):
            raise ModelError(f"seed {self.name} has no column {column!r} or {sorted(set(where) - set(self.columns))}")
        found = [row[column] for row in self.rows if all(row[k] == v for k, v in where.items())]
        return list(dict.fromkeys(v for v in found if v is not None))


def _cell(seed: str, column: str, data_type: str, text: str) -> Any:
    if text == "":
        return None
    if data_type == "integer":
        try:
            return int(text)
        except ValueError:
            raise ModelError(f"seed {seed}.{column}: {text!r} is not an integer") from None
    if data_type == "boolean":
        if text not in ("true", "false"):
            raise ModelError(f"seed {seed}.{column}: {text!r} is not true or false")
        return text == "true"
    return text


@dataclass(frozen=True)
class SqlProject:
    root: Path
    models: Mapping[str, SqlModel]
    seeds: Mapping[str, Seed] = field(default_factory=dict)
    source_scopes: Mapping[str, tuple[ScopeRule, ...]] = field(default_factory=dict)  # raw table -> its scope rules

    def scopes(self) -> dict[str, tuple[ScopeRule, ...]]:
        """Every table with scope rules (raw tables and models) -> its rules."""
        return {**self.source_scopes, **{n: m.scope for n, m in self.models.items() if m.scope}}

    def marts(self) -> list[str]:
        """The output tables (docs/data-contract.md#output-tables), in dependency order."""
        return [name for name in self.order() if self.models[name].layer == "marts"]

    def order(self) -> list[str]:
        """Models in dependency order (upstream first)."""
        graph = {name: set(m.upstream_tables) & self.models.keys() for name, m in self.models.items()}
        return list(graphlib.TopologicalSorter(graph).static_order())

    def _validate_scope(self, model: SqlModel) -> None:
        """An incremental build reads every upstream table (but the seeds) through its scope rules."""
        if not model.scope:
            return
        unknown = _unknown_scope_columns(model.scope, set(model.output_columns))
        if unknown:
            raise ModelError(f"{model.name}: incremental scope names columns it does not have: {unknown}")
        unscoped = sorted(model.upstream_tables - self.scopes().keys() - self.seeds.keys())
        if unscoped:
            raise ModelError(f"{model.name}: reads tables without an incremental scope: {unscoped}")
        if model.changed:
            unknown = _unknown_scope_columns(model.changed, set(model.output_columns))
            if unknown:
                raise ModelError(f"{model.name}: incremental changed names columns it does not have: {unknown}")
            why = _not_row_local(model, self.seeds.keys())
            if why:
                raise ModelError(f"{model.name}: incremental changed needs each row computed from one input row "
                                 f"alone, but the query {why}")

    def validate(self, external_tables: Set[str]) -> None:
        known = external_tables | self.models.keys() | self.seeds.keys()
        for seed in self.seeds.values():
            for test in seed.tests:
                if test.kind == "relationships" and test.args["to"] not in known:
                    raise ModelError(f"{seed.name}: relationships test points to unknown {test.args['to']}")
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
            self._validate_scope(model)
        self.order()  # raises graphlib.CycleError on a cycle


def _not_row_local(model: SqlModel, seeds: Set[str]) -> str | None:
    """Why a row of the model may depend on other input rows than its own (None when it cannot): it reads one
    table besides the seeds, and neither aggregates, numbers, deduplicates nor windows rows."""
    inputs = sorted(model.upstream_tables - seeds)
    if len(inputs) != 1:
        return f"reads {len(inputs)} tables besides the seeds: {inputs}"
    for node_type, what in ((exp.Window, "a window function"), (exp.AggFunc, "an aggregate"),
                            (exp.Group, "group by"), (exp.Distinct, "distinct"), (exp.SetOperation, "a set operation")):
        if model.expression.find(node_type) is not None:
            return f"uses {what}"
    return None


def _unknown_scope_columns(rules: tuple[ScopeRule, ...], columns: Set[str]) -> list[str]:
    return sorted({c for rule in rules for c in rule.columns} - columns)


def _parse_tests(model: str, column: ColumnDoc, seeds: Mapping[str, Seed] | None = None) -> list[DeclaredTest]:
    tests = []
    for entry in column.tests:
        if isinstance(entry, str):
            kind, raw_args = entry, None
        elif len(entry) == 1:
            kind, raw_args = next(iter(entry.items()))
        else:
            raise ModelError(f"{model}.{column.name}: a test entry names one test, not {sorted(entry)}")
        if kind not in TEST_ARGS:
            raise ModelError(f"{model}.{column.name}: unknown test {kind!r}; known tests are {sorted(TEST_ARGS)}")
        try:
            args = TEST_ARGS[kind].model_validate(raw_args or {})
        except pydantic.ValidationError as exc:
            raise ModelError(f"{model}.{column.name}: test {kind}: {first_error(exc)}") from None
        dumped = args.model_dump(exclude_defaults=True)
        if isinstance(args, AcceptedValuesArgs) and args.seed is not None:
            dumped = _seed_values(model, column.name, args, seeds or {}) | {
                k: v for k, v in dumped.items() if k in ("blocking", "where")
            }
        tests.append(DeclaredTest(model, column.name, kind, dumped))
    return tests


def _seed_values(model: str, column: str, args: AcceptedValuesArgs, seeds: Mapping[str, Seed]) -> dict[str, Any]:
    """The accepted values read from the seed CSV at load time, so an audit needs no seed table to be built."""
    seed = seeds.get(args.seed or "")
    if seed is None:
        raise ModelError(f"{model}.{column}: accepted_values names unknown seed {args.seed!r}; seeds are {sorted(seeds)}")
    values = seed.values(args.column or "", **args.seed_where)
    if not values:
        raise ModelError(f"{model}.{column}: seed {seed.name}.{args.column} where {args.seed_where} holds no values")
    where = {"seed_where": dict(args.seed_where)} if args.seed_where else {}
    return {"values": values, "seed": seed.name, "seed_column": args.column, **where}


def _rule(entry: ScopeEntry) -> ScopeRule:
    (scope_set,) = [name for name in SCOPE_SETS if getattr(entry, name) is not None]
    value = getattr(entry, scope_set)
    return ScopeRule(scope_set, tuple(value) if isinstance(value, list) else (value,), entry.where)


def _read_schema_file(path: Path) -> SchemaFile:
    if not path.exists():
        return SchemaFile()
    try:
        return SchemaFile.model_validate(yaml.load(path.read_text(), Loader=_YAML_LOADER) or {})
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML: {exc}") from None
    except pydantic.ValidationError as exc:
        raise ModelError(f"{path}: {first_error(exc)}") from None


def load_seeds(root: Path) -> dict[str, Seed]:
    """Every ``seeds/*.csv`` with its documentation; the header must name the documented columns in order."""
    folder = root / SEEDS
    docs_path = folder / "schema.yml"
    documented = {entry.name: entry for entry in _read_schema_file(docs_path).seeds}
    seeds: dict[str, Seed] = {}
    for path in sorted(folder.glob("*.csv")):
        entry = documented.pop(path.stem, None)
        if entry is None:
            raise ModelError(f"{path}: no description in {docs_path}")
        types = {c.name: c.data_type for c in entry.columns}
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if header != list(types):
                raise ModelError(f"{path}: header {header} differs from the documented columns {list(types)}")
            rows = []
            for number, cells in enumerate(reader, start=2):
                if len(cells) != len(header):
                    raise ModelError(f"{path}:{number}: {len(cells)} cells, expected {len(header)}")
                rows.append({c: _cell(path.stem, c, types[c], v) for c, v in zip(header, cells)})
        seeds[path.stem] = Seed(
            name=path.stem,
            path=path,
            description=" ".join(entry.description.split()),
            columns={c.name: " ".join(c.description.split()) for c in entry.columns},
            types=types,
            rows=tuple(rows),
            tests=tuple(t for c in entry.columns for t in _parse_tests(path.stem, c)),
        )
    if documented:
        raise ModelError(f"{docs_path} documents seeds without a .csv file: {sorted(documented)}")
    return seeds


@functools.cache
def load_project(root: Path | None = None) -> SqlProject:
    """Read every seed, model and its documentation; raise ModelError on anything missing, unknown or misspelled."""
    root = root or sql_project_root()
    seeds = load_seeds(root)
    models: dict[str, SqlModel] = {}
    source_scopes: dict[str, tuple[ScopeRule, ...]] = {}
    for layer in LAYERS:
        folder = root / layer
        docs_path = folder / "schema.yml"
        schema_file = _read_schema_file(docs_path)
        documented = {entry.name: entry for entry in schema_file.models}
        for source in schema_file.sources:
            source_scopes[source.name] = tuple(_rule(rule) for rule in source.incremental.scope)
        for path in sorted(folder.glob("*.sql")):
            name = path.stem
            if name in models or name in seeds:
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
                tests=tuple(t for c in entry.columns for t in _parse_tests(name, c, seeds)),
                scope=tuple(_rule(rule) for rule in entry.incremental.scope) if entry.incremental else (),
                changed=tuple(_rule(rule) for rule in entry.incremental.changed) if entry.incremental else (),
            )
        if documented:
            raise ModelError(f"{docs_path} documents models without a .sql file: {sorted(documented)}")
    if not models:
        raise ModelError(f"the SQL project {root} holds no models (no {'/'.join(LAYERS)}/*.sql files)")
    return SqlProject(root, models, seeds, source_scopes)
