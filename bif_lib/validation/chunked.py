"""Validation of a file that arrives in chunks of rows (the ingest of a large CSV file).

Typing and every check that judges a row on its own (types, field constraints, foreign keys into
other datasets, ``row_wise`` rules) run chunk by chunk, and each chunk's text is dropped as soon
as it is typed. Each typed column is copied into one buffer for the whole file as the chunks
arrive (numbers, times and flags as numpy arrays, text as the offsets and bytes of one Arrow
string array), so no column is ever held in pieces plus joined; the buffers become the typed
frame without another copy. What compares rows — ``unique`` fields, the primary key, a foreign key into the dataset
itself, the rules that are not ``row_wise`` (``Rule.columns`` say which columns they read) — runs
once at the end, on the typed frame.

The result is exactly that of validating the whole frame (``Validator.validate``): the same
typed frame (dtypes, values, the bytes under missing values), and the same report, because the
chunks' failure batches are merged per check and reported in the whole frame's order. Where
typing a chunk could differ from typing the whole column this is checked rather than assumed:

* a chunk whose date/time cells are all missing gets pandas' coarsest resolution (seconds), and
  a chunk's resolution is the finest its values need: the column gets the finest resolution of
  the chunks with values, as the whole column has it (missing times stay NaT);
* an integer beyond 2**53 is read exactly only when no cell of its column is missing (the fast
  path; otherwise it is refused as inexact): with such a value in a file of several chunks,
  ``NotStreamable`` is raised and the file is read whole;
* any other difference of a column's dtype between chunks, or a dtype typing does not produce,
  raises ``NotStreamable`` too.
"""

from __future__ import annotations

import mmap

import numpy as np
import pandas as pd
import pyarrow as pa

from bif_lib.readers import NotStreamable
from bif_lib.validation import fields as F
from bif_lib.validation.engine import RULES, Validator, _Run, field_slot
from bif_lib.validation.report import ROW, FailureBatch, ValidationReport

_EXACT_INTEGER = 2 ** 53  # chunks between giving freed memory back (each time costs fresh pages)
_UNITS = ["s", "ms", "us", "ns"]


def _buffer(size: int, dtype) -> np.ndarray:
    """A zeroed array for the whole file, in memory of its own (an anonymous mapping): the C heap,
    where each chunk's temporaries come and go, could not give the pages around it back, and pages
    never written cost nothing. Unmapped when the last array using it is gone."""
    dtype = np.dtype(dtype)
    return np.frombuffer(mmap.mmap(-1, max(size * dtype.itemsize, 1)), dtype=dtype, count=size)


def _grown(buffer: np.ndarray, needed: int) -> np.ndarray:
    """``buffer`` with room for ``needed`` items (a larger copy only when it has too little)."""
    if needed <= len(buffer):
        return buffer
    bigger = _buffer(max(needed, len(buffer) + len(buffer) // 2), buffer.dtype)
    bigger[:len(buffer)] = buffer
    return bigger


class _Column:
    """One typed column of all chunks so far (``size`` rows), in buffers of the whole file's length."""

    def __init__(self, dtype, capacity: int):
        self.dtype, self.capacity, self.size = dtype, capacity, 0

    @staticmethod
    def for_dtype(dtype, capacity: int) -> _Column:
        if isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype)):
            return _Masked(dtype, capacity)
        if isinstance(dtype, np.dtype) and dtype == np.float64:
            return _Numbers(dtype, capacity)
        if isinstance(dtype, np.dtype) and dtype.kind == "M":
            return _Times(dtype, capacity)
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            return _Texts(dtype, capacity)
        raise NotStreamable(f"dtype {dtype}")

    def append(self, values: pd.Series) -> None:
        if values.dtype != self.dtype:
            raise NotStreamable(f"{values.name}: {self.dtype} / {values.dtype}")
        self._append(values.array, len(values))
        self.size += len(values)

    def _append(self, array, n: int) -> None:
        raise NotImplementedError

    def series(self) -> pd.Series:
        raise NotImplementedError


class _Masked(_Column):
    """Int64 and boolean: values and missing flags as pandas' masked arrays hold them."""

    def __init__(self, dtype, capacity: int):
        super().__init__(dtype, capacity)
        self.data = _buffer(capacity, np.int64 if isinstance(dtype, pd.Int64Dtype) else bool)
        self.mask = _buffer(capacity, bool)  # written only where values are missing
        self.beyond_exact = False

    def _append(self, array, n: int) -> None:
        start, end = self.size, self.size + n
        self.data = _grown(self.data, end)
        self.mask = _grown(self.mask, end)
        self.data[start:end] = array._data
        if array._mask.any():
            self.mask[start:end] = array._mask
        if self.data.dtype == np.int64 and n:
            present = array._data[~array._mask] if array._mask.any() else array._data
            if len(present) and (present.max() > _EXACT_INTEGER or present.min() < -_EXACT_INTEGER):
                self.beyond_exact = True

    def series(self) -> pd.Series:
        kind = pd.arrays.IntegerArray if self.data.dtype == np.int64 else pd.arrays.BooleanArray
        return pd.Series(kind(self.data[:self.size], self.mask[:self.size]), copy=False)


class _Numbers(_Column):
    def __init__(self, dtype, capacity: int):
        super().__init__(dtype, capacity)
        self.data = _buffer(capacity, dtype)

    def _append(self, array, n: int) -> None:
        self.data = _grown(self.data, self.size + n)
        self.data[self.size:self.size + n] = np.asarray(array)

    def series(self) -> pd.Series:
        return pd.Series(self.data[:self.size], copy=False)


class _Times(_Column):
    """Dates and times; the resolution is the finest any chunk with values needs (see above)."""

    def __init__(self, dtype, capacity: int):
        super().__init__(dtype, capacity)
        self.data = _buffer(capacity, dtype)
        self.valued = False  # has a chunk with a value set the resolution yet?

    def append(self, values: pd.Series) -> None:
        dtype = values.dtype
        if not (isinstance(dtype, np.dtype) and dtype.kind == "M"):
            raise NotStreamable(f"{values.name}: {self.dtype} / {dtype}")
        has_values = bool(values.notna().any())
        if dtype != self.dtype and (has_values or not self.valued):
            if not self.valued and has_values:
                finest = dtype  # the first values: their resolution, whatever all-missing chunks had
            else:
                finest = max(dtype, self.dtype, key=lambda d: _UNITS.index(np.datetime_data(d)[0]))
            if finest != self.dtype:
                converted = _buffer(len(self.data), finest)
                converted[:] = self.data.astype(finest)  # NaT stays NaT
                self.data = converted
                self.dtype = finest
        self.valued = self.valued or has_values
        array = np.asarray(values.to_numpy())
        self.data = _grown(self.data, self.size + len(values))
        self.data[self.size:self.size + len(values)] = array.astype(self.dtype, copy=False)
        self.size += len(values)

    def series(self) -> pd.Series:
        return pd.Series(self.data[:self.size], copy=False)


class _Texts(_Column):
    """Text as one Arrow large string array: offsets, bytes and validity of all chunks, each chunk's
    copied as it is (also the bytes under missing values), as joining its pieces would give. The
    offsets are 32-bit while the bytes fit (half the memory while the file is read); ``series``
    widens them to the 64 bits of a large string."""

    def __init__(self, dtype, capacity: int):
        super().__init__(dtype, capacity)
        self.offsets = _buffer(capacity + 1, np.int32)
        self.bytes = _buffer(0, np.uint8)
        self.used = 0
        self.invalid = _buffer(capacity, bool)
        self.nulls = 0

    def _append(self, array, n: int) -> None:
        row = self.size
        self.offsets = _grown(self.offsets, row + n + 1)
        self.invalid = _grown(self.invalid, row + n)
        for chunk in array.__arrow_array__().chunks:
            chunk = chunk.cast(pa.large_string()) if chunk.type != pa.large_string() else chunk
            k = len(chunk)
            validity, offsets, data = chunk.buffers()
            offsets = np.frombuffer(offsets, dtype=np.int64)[chunk.offset:chunk.offset + k + 1]
            first, last = int(offsets[0]), int(offsets[-1])
            if self.used + last - first >= 2 ** 31 and self.offsets.dtype == np.int32:
                self.offsets = self._widened()
            if last > first:
                if self.used + last - first > len(self.bytes):
                    if not len(self.bytes):  # the first text: room for the whole file at this chunk's rate
                        self.bytes = _buffer(int((last - first) / max(k, 1) * self.capacity * 1.05) + 64, np.uint8)
                    self.bytes = _grown(self.bytes, self.used + last - first)
                self.bytes[self.used:self.used + last - first] = np.frombuffer(data, dtype=np.uint8)[first:last]
            self.offsets[row + 1:row + k + 1] = offsets[1:] - first + self.used
            self.used += last - first
            if chunk.null_count:
                self.invalid[row:row + k] = ~np.asarray(chunk.is_valid())
                self.nulls += chunk.null_count
            row += k

    def _widened(self) -> np.ndarray:
        wide = _buffer(len(self.offsets), np.int64)
        wide[:] = self.offsets
        return wide

    def series(self) -> pd.Series:
        n = self.size
        offsets = self._widened() if self.offsets.dtype == np.int32 else self.offsets
        self.offsets = None
        validity = pa.py_buffer(np.packbits(~self.invalid[:n], bitorder="little")) if self.nulls else None
        array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets[:n + 1]),
                                                 pa.py_buffer(self.bytes[:self.used]), validity, self.nulls)
        return pd.Series(self.dtype.__from_arrow__(pa.chunked_array([array])), copy=False)


class _ChunkRun(_Run):
    """A run over one chunk (or over the typed frame at the end): batches go to the merger."""

    def __init__(self, report: ValidationReport, frame: pd.DataFrame, rows: np.ndarray, merger: _Merger):
        super().__init__(report, frame, rows)
        self.merger = merger

    def add(self, batch: FailureBatch, slot: tuple) -> None:
        self.merger.add(slot, batch)


class _Merger:
    """Failure batches of all chunks, per slot; reported merged, in slot order (the whole frame's)."""

    def __init__(self):
        self.slots: dict[tuple, list[FailureBatch]] = {}

    def add(self, slot: tuple, batch: FailureBatch) -> None:
        if len(batch):
            self.slots.setdefault(slot, []).append(batch)

    def flush(self, report: ValidationReport) -> None:
        for slot in sorted(self.slots):
            report.add_batch(_merged(self.slots[slot]))
        self.slots = {}


class ChunkedValidation:
    """``add`` each chunk (text frames with ``_bif_row``, in file order), then ``finish``."""

    def __init__(self, validator: Validator, report: ValidationReport, capacity: int):
        self.validator, self.report = validator, report
        self.capacity = max(capacity, 1)
        self.merger = _Merger()
        self.columns: dict[str, _Column] = {}
        # row numbers in the file: 32 bits suffice below 2**31 lines (what failures show is the same)
        self.rows = _buffer(self.capacity, np.int32 if self.capacity < 2 ** 31 - 1 else np.int64)
        self.present: dict[str, np.ndarray] = {}  # unique fields: which rows' values are present
        self.row_wise: dict[int, list[list[FailureBatch]] | Exception] = {}
        self.keys: dict | None = None               # foreign keys checked chunk by chunk, with their references
        self.key_batches: dict[int, list[FailureBatch]] = {}
        self.size = 0
        self.chunks = 0

    def add(self, chunk: pd.DataFrame) -> None:
        validator, start = self.validator, self.size
        run = _ChunkRun(self.report, chunk, chunk[ROW].to_numpy(), self.merger)
        if not self.chunks:
            validator._check_columns(run)
        self.chunks += 1
        end = start + len(chunk)
        for name, mask in validator._type_fields(run, unique=False).items():
            present = self.present[name] = _grown(self.present.get(name, _buffer(self.capacity, bool)), end)
            present[start:end] = mask
        self._check_rows(run)
        self.rows = _grown(self.rows, end)
        self.rows[start:end] = run.rows
        if self.columns and list(run.result.columns) != list(self.columns):
            raise NotStreamable("columns differ between chunks")
        for name, values in run.result.items():
            if name not in self.columns:
                self.columns[name] = _Column.for_dtype(values.dtype, self.capacity)
            self.columns[name].append(values)
        self.size = end

    def _check_rows(self, run: _ChunkRun) -> None:
        """The foreign keys into other datasets and the ``row_wise`` rules, on this chunk's rows."""
        validator = self.validator
        if self.keys is None:
            self.keys = validator._row_wise_keys(run.result)
        for index, (fk, reference, known) in self.keys.items():
            batch = F.foreign_key_batch(run.result, fk.fields, reference, fk.reference_fields, fk.resource, run.rows,
                                        known=known)
            self.key_batches.setdefault(index, []).extend([batch] if batch is not None else [])
        for index, rule in enumerate(validator.rules):
            if rule.row_wise and validator._judged(rule, run.result) \
                    and not isinstance(self.row_wise.get(index), Exception):
                outcome = validator._apply(rule, run.result, run.rows)
                if isinstance(outcome, Exception):  # reported once, as the whole frame would
                    self.row_wise[index] = outcome
                else:
                    self.row_wise.setdefault(index, []).append(outcome)

    def finish(self) -> pd.DataFrame:
        """The typed frame; the cross-row checks; the report in the whole frame's order."""
        if self.chunks > 1 and any(getattr(c, "beyond_exact", False) for c in self.columns.values()):
            raise NotStreamable("integer beyond 2**53")
        validator, report = self.validator, self.report
        result = pd.DataFrame({name: column.series() for name, column in self.columns.items()}, copy=False)
        self.columns = {}
        rows = self.rows[:self.size]
        run = _ChunkRun(report, result, rows, self.merger)
        run.result = result
        for index, spec in enumerate(validator.contract.fields):
            if spec.name in self.present:
                batch = F.unique_batch(result[spec.name], spec, rows, self.present.pop(spec.name)[:self.size])
                if batch is not None:
                    run.add(batch, field_slot(index, "unique"))
        validator._check_keys(run, {index: [_merged(batches)] if batches else []
                                     for index, batches in self.key_batches.items()})
        done = {}
        for index, outcome in self.row_wise.items():
            if isinstance(outcome, Exception):
                done[index] = outcome
            else:  # reported in place of the rule's whole-frame batches, position by position
                for position, batches in enumerate(_by_position(outcome)):
                    for batch in batches:
                        self.merger.add((RULES, index, position), batch)
                done[index] = []
        validator._check_rules(run, done)
        self.merger.flush(report)
        report.rows_checked = self.size
        return result


def _merged(batches: list[FailureBatch]) -> FailureBatch:
    first, *rest = batches
    return first.merged(rest) if rest else first


def _by_position(outcomes: list[list[FailureBatch]]) -> list[list[FailureBatch]]:
    """[[chunk 1's batch 0, chunk 2's batch 0, …], [… batch 1 …]] of a row-wise rule's chunk results."""
    width = max((len(batches) for batches in outcomes), default=0)
    return [[batches[i] for batches in outcomes if i < len(batches)] for i in range(width)]


def validate_chunks(validator: Validator, chunks, report: ValidationReport) -> pd.DataFrame:
    """Validate ``chunks`` (an iterable of non-empty text frames in file order; ``rows_hint`` on it,
    if given, is how many rows to make room for) into ``report`` and return the typed frame.
    Raises ``NotStreamable`` where the result could differ from validating the whole frame (then
    ``report`` holds part of the result and is to be dropped)."""
    run = ChunkedValidation(validator, report, int(getattr(chunks, "rows_hint", 0) or 0))
    from bif_lib.readers import release_memory

    for chunk in chunks:
        run.add(chunk)
        del chunk
        release_memory()  # the chunk's text and temporaries: back to the system, not kept beside the buffers
    if not run.chunks:
        raise NotStreamable("no rows")
    return run.finish()
