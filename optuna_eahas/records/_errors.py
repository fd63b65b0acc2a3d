from __future__ import annotations


class RecordError(ValueError):
    """A run record, or a file of them, breaks the run-record schema.

    The message says where the problem is (file and 1-based record number, when known) and
    which field, so that one bad line in a large file can be found and fixed from the error
    alone, for example ``records.jsonl, record 17: field 'test_accuracy' has 99 values but
    'epochs' is 100``.

    Attributes:
        reason: The problem, without the location.
        field: The field at fault (dotted for nested ones, like ``provenance.source``), or
            :obj:`None` when the problem is not about one field.
        path: The file, or :obj:`None`.
        index: The 1-based record (line) number, or :obj:`None`.
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        path: str | None = None,
        index: int | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.path = path
        self.index = index
        text = reason if field is None else f"field {field!r} {reason}"
        where = [part for part in (path, None if index is None else f"record {index}") if part]
        super().__init__(f"{', '.join(where)}: {text}" if where else text)

    def located(self, *, path: str | None = None, index: int | None = None) -> RecordError:
        """The same error, also naming the file and/or the record number."""
        return RecordError(
            self.reason,
            field=self.field,
            path=self.path if path is None else path,
            index=self.index if index is None else index,
        )
