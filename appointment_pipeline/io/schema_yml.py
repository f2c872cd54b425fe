"""The file format of the SQL project's ``schema.yml`` files, validated by pydantic: unknown keys and misspelled
tests are errors, never silently ignored (no Dagster imports). io/sql_project.py turns them into models and seeds."""

from __future__ import annotations

from typing import Any

import pydantic

SCOPE_SETS = ("leads", "keys", "appointments", "ghl_keys", "calendly_keys", "events", "days", "changed_leads")
SEED_TYPES = ("text", "integer", "boolean")


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class TestArgs(Strict):
    blocking: bool = False
    where: str | None = None


class AcceptedValuesArgs(TestArgs):
    """Either the values themselves, or a seed column holding them (``seed_where`` narrows the seed's rows)."""

    values: list[str | int | bool] | None = pydantic.Field(default=None, min_length=1)
    seed: str | None = None
    column: str | None = None
    seed_where: dict[str, str | int | bool] = {}

    @pydantic.model_validator(mode="after")
    def _one_way(self) -> AcceptedValuesArgs:
        if (self.values is None) == (self.seed is None) or (self.seed is None) != (self.column is None):
            raise ValueError("give either values, or seed and column")
        if self.seed_where and self.seed is None:
            raise ValueError("seed_where needs a seed")
        return self


class RelationshipsArgs(TestArgs):
    to: str
    field: str


TEST_ARGS: dict[str, type[TestArgs]] = {
    "unique": TestArgs,
    "not_null": TestArgs,
    "accepted_values": AcceptedValuesArgs,
    "relationships": RelationshipsArgs,
}


class ColumnDoc(Strict):
    name: str
    description: str = pydantic.Field(min_length=1)
    tests: list[str | dict[str, dict[str, Any] | None]] = []


class ScopeEntry(Strict):
    """One rule of ``incremental.scope``: exactly one of the scope sets, naming the column(s) that hold its member."""

    leads: str | None = None
    keys: list[str] | None = pydantic.Field(default=None, min_length=2, max_length=2)
    appointments: str | None = None
    ghl_keys: str | None = None
    calendly_keys: str | None = None
    events: str | None = None
    days: str | None = None
    changed_leads: str | None = None
    where: str | None = None

    @pydantic.model_validator(mode="after")
    def _one_set(self) -> ScopeEntry:
        named = [name for name in SCOPE_SETS if getattr(self, name) is not None]
        if len(named) != 1:
            raise ValueError(f"a scope rule names exactly one of {list(SCOPE_SETS)}, not {named}")
        return self


class Incremental(Strict):
    """How an incremental build finds a table's rows in the run's scope (docs/operations.md#incremental-builds)."""

    scope: list[ScopeEntry] = pydantic.Field(min_length=1)
    # the rows of the scope whose input row can have changed: only they are recomputed (a row-local model)
    changed: list[ScopeEntry] = []


class ModelDoc(Strict):
    name: str
    description: str = pydantic.Field(min_length=1)
    columns: list[ColumnDoc] = []
    incremental: Incremental | None = None


class SourceDoc(Strict):
    """A raw table the models read (written by the extract assets): documented here only for incremental builds."""

    name: str
    incremental: Incremental


class SeedColumnDoc(ColumnDoc):
    data_type: str = pydantic.Field(default="text", pattern="^(" + "|".join(SEED_TYPES) + ")$")


class SeedDoc(Strict):
    name: str
    description: str = pydantic.Field(min_length=1)
    columns: list[SeedColumnDoc] = pydantic.Field(min_length=1)


class SchemaFile(Strict):
    """One folder's ``schema.yml``: unknown keys and misspelled tests are errors, never silently ignored."""

    version: int = 2
    models: list[ModelDoc] = []
    seeds: list[SeedDoc] = []
    sources: list[SourceDoc] = []


def first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
