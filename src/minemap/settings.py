"""Settings read from MINEMAP_* environment variables (and an optional .env)."""

import datetime as dt

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


DEFAULT_BORDER_TOLERANCE_M = 5000.0


def sqlalchemy_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver, accepting plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def libpq_url(url: str) -> str:
    """Return `url` as libpq (psql, pg_dump, GDAL) understands it, without a driver name."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Settings(BaseSettings):
    """minemap's configuration; built once by the caller and passed down."""

    model_config = SettingsConfigDict(env_prefix="MINEMAP_", env_file=".env", extra="ignore")

    # None means: the private cluster under ./.minemap/ (started by `minemap db start`).
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_read: bool = True
    max_upload_mb: int = Field(200, ge=1)
    baseline_km2: float = Field(11667.0, gt=0, allow_inf_nan=False)
    baseline_date: dt.date = dt.date(2021, 1, 1)
    # How far beyond the loaded units' outline a feature may reach and still be stored (with a
    # warning): the 1:10m border line is accurate only to about a kilometre.
    border_tolerance_m: float = Field(DEFAULT_BORDER_TOLERANCE_M, ge=0, le=100_000)
    # Where the private cluster lives; relative to the working directory.
    home: str = ".minemap"
    cors_origins: list[str] = []

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if not url.startswith(("postgresql", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return sqlalchemy_url(url)
