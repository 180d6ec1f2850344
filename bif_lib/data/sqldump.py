"""Extract one table of a SQL dump (``INSERT INTO t (cols) VALUES (...), ...;``) as CSV.

Some public sources publish tables only as a PostgreSQL dump (e.g. an open-data group's
transcription of a city's social report). Reading them needs no database: a small tokenizer handles quoted strings
(with '' escapes), numbers and NULL. NULL becomes an empty cell.
"""

from __future__ import annotations

import csv
import io
import re

_INSERT = re.compile(r"INSERT\s+INTO\s+(?:[\w\"]+\.)?\"?(\w+)\"?\s*\(([^)]*)\)\s*VALUES\s*", re.IGNORECASE)


def extract_table(sql: str, table: str) -> str:
    """CSV text (UTF-8, comma, header = column names) of every row inserted into ``table``."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    for match in _INSERT.finditer(sql):
        if match.group(1) != table:
            continue
        columns = [c.strip().strip('"') for c in match.group(2).split(",")]
        if header is None:
            header = columns
        elif columns != header:
            raise ValueError(f"table {table}: INSERT statements list different columns")
        rows.extend(_values(sql, match.end()))
    if header is None:
        raise ValueError(f"table {table} not found in the SQL dump")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _skip_space(sql: str, pos: int) -> int:
    while pos < len(sql) and sql[pos] in " \t\r\n":
        pos += 1
    return pos


def _values(sql: str, pos: int):
    """Yield the tuples following VALUES at ``pos`` up to the terminating ';'."""
    n = len(sql)
    while True:
        while pos < n and sql[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or sql[pos] == ";":
            return
        if sql[pos] != "(":
            raise ValueError(f"unexpected character {sql[pos]!r} at offset {pos}")
        pos += 1
        row: list[str] = []
        while True:
            pos = _skip_space(sql, pos)
            if sql[pos] == "'":
                pos += 1
                chunk = []
                while True:
                    end = sql.index("'", pos)
                    chunk.append(sql[pos:end])
                    if end + 1 < n and sql[end + 1] == "'":   # '' is an escaped quote
                        chunk.append("'")
                        pos = end + 2
                    else:
                        pos = end + 1
                        break
                row.append("".join(chunk))
            else:
                end = pos
                while sql[end] not in ",)":
                    end += 1
                token = sql[pos:end].strip()
                row.append("" if token.upper() == "NULL" else token)
                pos = end
            pos = _skip_space(sql, pos)
            if sql[pos] == ",":
                pos += 1
            elif sql[pos] == ")":
                pos += 1
                break
            else:
                raise ValueError(f"unexpected character {sql[pos]!r} at offset {pos}")
        yield row
