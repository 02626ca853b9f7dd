"""docs/recipes.md's recipes, each run as written against a real server: a table's URL pasted
into pandas, Polars, DuckDB."""

from __future__ import annotations

import datetime
import urllib.request
from pathlib import Path

import duckdb
import pandas
import polars
import pytest

from support import http

TABLE = b"city\tday\tamount\nLima\t2024-01-02\t1,200\nOslo\t2024-03-04\t-5.5\nRiga\t\tNA\n"


@pytest.fixture
def url(server) -> str:
    """The download URL of a document holding TABLE, as the recipes write it (no .suffix)."""
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=sales.tsv", TABLE)
    return f"{server.url}/parser/api/docs/{doc['id']}/download"


def test_pandas_reads_parquet_excel_and_csv_by_url(url):
    frame = pandas.read_parquet(f"{url}.parquet")
    assert list(frame["city"]) == ["Lima", "Oslo", "Riga"]
    assert list(frame["amount"][:2]) == [1200.0, -5.5] and pandas.isna(frame["amount"][2])
    assert frame["day"][0] == datetime.date(2024, 1, 2)
    frame = pandas.read_excel(f"{url}.xlsx")
    assert list(frame["city"]) == ["Lima", "Oslo", "Riga"]
    assert str(frame["day"].dtype).startswith("datetime64")
    assert list(frame["amount"][:2]) == [1200.0, -5.5]
    frame = pandas.read_csv(f"{url}.csv")
    assert list(frame["city"]) == ["Lima", "Oslo", "Riga"]


def test_polars_reads_parquet_and_arrow_by_url(url):
    # (Polars' own reader: HEAD, then byte ranges, answered from the file kept)
    frame = polars.read_parquet(f"{url}.parquet")
    assert frame["city"].to_list() == ["Lima", "Oslo", "Riga"]
    assert frame.schema["day"] == polars.Date
    assert frame["amount"].to_list() == [1200.0, -5.5, None]
    frame = polars.scan_parquet(f"{url}.parquet").filter(polars.col("amount") > 0).collect()
    assert frame["city"].to_list() == ["Lima"]
    frame = polars.read_ipc_stream(f"{url}.arrow")
    assert frame["day"].to_list()[0] == datetime.date(2024, 1, 2)


def httpfs() -> str | None:
    """Why DuckDB cannot read a URL here (its httpfs extension is not bundled with the Python
    package, and installing it downloads it from extensions.duckdb.org), or None if it can."""
    try:
        duckdb.connect().execute("LOAD httpfs")
    except duckdb.Error as err:
        return f"DuckDB's httpfs extension does not load here (no internet to install it): {err}"
    return None


def test_duckdb_reads_parquet_by_url(url):
    reason = httpfs()
    if reason is not None:
        pytest.skip(reason)
    rows = duckdb.sql(f"SELECT city, amount FROM read_parquet('{url}.parquet')").fetchall()
    assert rows == [("Lima", 1200.0), ("Oslo", -5.5), ("Riga", None)]


def test_duckdb_reads_a_downloaded_parquet_file(url, tmp_path: Path):
    path = tmp_path / "sales.parquet"
    urllib.request.urlretrieve(f"{url}.parquet", path)
    rows = duckdb.sql(f"SELECT city, day, amount FROM read_parquet('{path}')").fetchall()
    assert rows == [
        ("Lima", datetime.date(2024, 1, 2), 1200.0),
        ("Oslo", datetime.date(2024, 3, 4), -5.5),
        ("Riga", None, None),
    ]


def test_a_view_and_an_old_version_are_query_parameters(url):
    frame = pandas.read_parquet(f"{url}.parquet?sort=2&order=desc&q=i")
    assert list(frame["city"]) == ["Lima", "Riga"]  # (Oslo has no i)
    frame = polars.read_parquet(f"{url}.parquet?version=1")
    assert frame.height == 3
