"""Re-export of the record reader: the schema lives in :mod:`dfad_bench.records` (one module for
writer and readers). Tables need no torch and no model code."""

from dfad_bench.records import (
    COMPLETE,
    PREDICTIONS_FILE,
    RECORD_FILE,
    REQUIRED_KEYS,
    SCHEMA_VERSION,
    LoadedRecords,
    RunRecord,
    SkippedRun,
    load_record,
    load_records,
    parse_record,
)

__all__ = [
    "COMPLETE", "PREDICTIONS_FILE", "RECORD_FILE", "REQUIRED_KEYS", "SCHEMA_VERSION", "LoadedRecords", "RunRecord",
    "SkippedRun", "load_record", "load_records", "parse_record",
]
