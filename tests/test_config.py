"""Settings from flags, environment variables and defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tablecast import config


def load(argv: list[str], environ: dict[str, str]) -> config.Settings:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return config.load(parser.parse_args(argv), environ)


def test_defaults():
    settings = load([], {})
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 8080, Path("data"))
    assert settings.max_upload_bytes == 2 * 1024**3  # a gigabyte table fits (issue 17)
    assert settings.page_size == 100


def test_environment_then_flags():
    environ = {
        "TABLECAST_HOST": "0.0.0.0",
        "TABLECAST_PORT": "9000",
        "TABLECAST_DATA_DIR": "/srv/t",
        "TABLECAST_MAX_UPLOAD_BYTES": "1GiB",
    }
    settings = load([], environ)
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 9000, Path("/srv/t"))
    assert settings.max_upload_bytes == 1024**3
    settings = load(["--port", "9100", "--data-dir", "d"], environ)
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 9100, Path("d"))


@pytest.mark.parametrize(
    ("text", "size"), [("4096", 4096), ("64KiB", 65536), ("10M", 10 * 2**20), ("1 gb", 2**30)]
)
def test_sizes(text, size):
    assert config.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("15m", 900), ("2h", 7200), ("1.5s", 1.5)]
)
def test_durations(text, seconds):
    assert config.parse_duration(text) == seconds


def test_bad_values_stop_with_a_clear_message():
    with pytest.raises(SystemExit, match="TABLECAST_PORT"):
        load([], {"TABLECAST_PORT": "eighty"})
    with pytest.raises(SystemExit, match="--max-upload-bytes"):
        load(["--max-upload-bytes", "lots"], {})
    with pytest.raises(SystemExit, match="page size"):
        load(["--page-size", "0"], {})


def test_legacy_pages_never_exceed_100_rows():
    assert load(["--page-size", "500"], {}).legacy_page_size == 100
    assert load(["--page-size", "50"], {}).legacy_page_size == 50
