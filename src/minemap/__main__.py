"""Allow `python -m minemap`."""

from minemap.cli import app

app(prog_name="minemap")
