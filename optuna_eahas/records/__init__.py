"""Run records: the schema of one trained configuration and its JSON Lines files."""

from optuna_eahas.records._errors import RecordError
from optuna_eahas.records._io import iter_records
from optuna_eahas.records._io import read_records
from optuna_eahas.records._io import write_records
from optuna_eahas.records._record import SCHEMA_VERSION
from optuna_eahas.records._record import SOURCES
from optuna_eahas.records._record import Provenance
from optuna_eahas.records._record import RunRecord
from optuna_eahas.records._record import check_complexity_of

__all__ = [
    "Provenance",
    "RecordError",
    "RunRecord",
    "SCHEMA_VERSION",
    "SOURCES",
    "iter_records",
    "read_records",
    "check_complexity_of",
    "write_records",
]
