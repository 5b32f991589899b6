"""Find the project's directories that are not Python packages (migrations/, data/)."""

from pathlib import Path

from minemap.errors import SetupError


def project_dir(name: str) -> Path:
    """Return `name` beside the source tree, else in the working directory (as in Docker)."""
    for candidate in (Path(__file__).parents[2] / name, Path.cwd() / name):
        if candidate.is_dir():
            return candidate
    raise SetupError(f"cannot find the {name}/ directory")
