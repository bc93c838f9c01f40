"""Runs the SQL of `metricc explain --sql --dialect duckdb` (read from stdin)
in DuckDB and prints the result as a JSON array of objects, like
`metricc run --format json`. Used by tests/integration/duckdb.rs."""
import datetime
import json
import sys

import duckdb

sql = sys.stdin.read()
con = duckdb.connect()
*setup, query = [s for s in sql.split(";\n") if s.strip()]
for s in setup:
    con.execute(s)
cur = con.execute(query)
names = [d[0] for d in cur.description]


def value(v):
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(v, datetime.date):
        return v.isoformat()
    return v


print(json.dumps([{n: value(v) for n, v in zip(names, row)} for row in cur.fetchall()]))
