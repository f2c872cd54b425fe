"""Names every concern under defs/ shares: owners, the warehouse pool, the kinds tags and the raw tables."""

from appointment_pipeline.settings import get_settings
from appointment_pipeline.domain.parsing import CALENDLY, GHL

OWNERS = ["team:data-engineering"]
WAREHOUSE_POOL = "appointment_warehouse"  # DuckDB takes one writer per file: writers share this pool
WAREHOUSE_KIND = get_settings().warehouse_kind
APP_KIND = get_settings().app_database_kind
# Tables the extract assets write and the SQL models read.
RAW_LEADS_TABLE = "raw_leads"
EXTERNAL_TABLES = frozenset({RAW_LEADS_TABLE, CALENDLY.table, GHL.table})
SEED_GROUP = "seeds"  # the vocabulary CSVs of dbt_like_sql/seeds, loaded as tables
