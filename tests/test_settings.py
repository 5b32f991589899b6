"""Settings come from MINEMAP_* variables, validated."""

import datetime as dt

import pytest
from pydantic import ValidationError

from minemap.settings import Settings, libpq_url


def test_defaults_follow_the_contract(monkeypatch):
    for name in ("MINEMAP_DATABASE_URL", "MINEMAP_PUBLIC_READ", "MINEMAP_BASELINE_KM2"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.database_url is None
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.public_read is True
    assert s.max_upload_mb == 200
    assert s.baseline_km2 == 11667
    assert s.baseline_date == dt.date(2021, 1, 1)


def test_environment_and_plain_postgresql_url(monkeypatch):
    monkeypatch.setenv("MINEMAP_DATABASE_URL", "postgresql://anama@db.example:5433/mines")
    monkeypatch.setenv("MINEMAP_PUBLIC_READ", "false")
    monkeypatch.setenv("MINEMAP_BASELINE_DATE", "2022-06-30")
    s = Settings(_env_file=None)
    assert s.database_url == "postgresql+psycopg://anama@db.example:5433/mines"
    assert libpq_url(s.database_url) == "postgresql://anama@db.example:5433/mines"
    assert s.public_read is False
    assert s.baseline_date == dt.date(2022, 6, 30)


@pytest.mark.parametrize(
    ("field", "value"),
    [("database_url", "mysql://root@localhost/x"), ("port", 0), ("baseline_km2", -1),
     ("baseline_km2", "inf"),
     ("max_upload_mb", 0), ("baseline_date", "yesterday")],
)
def test_bad_values_are_refused(field, value):
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **{field: value})


def test_env_file_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("MINEMAP_PORT", raising=False)
    env = tmp_path / ".env"
    env.write_text("MINEMAP_PORT=8123\n")
    assert Settings(_env_file=env).port == 8123
