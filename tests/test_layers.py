"""Dependencies point one way: a module imports only its own package and the layers below.

The layers are docs/architecture.md's; modules of one layer do not import each other's
packages either (ogc/ does not import api/, cli/ does not import app).
"""

import ast
from pathlib import Path

import minemap

# Lowest first.
LAYERS = (
    {"", "errors"},
    {"settings", "vocab", "resources"},
    {"kinds"},
    {"geo"},
    {"db"},
    {"store"},
    {"accounting"},
    {"write", "reports", "backup"},
    {"imports", "sample"},
    {"http"},
    {"api", "ogc", "webapp"},
    {"cli", "app"},
    {"__main__"},
)
LAYER = {package: depth for depth, packages in enumerate(LAYERS) for package in packages}
SOURCE = Path(minemap.__file__).parent


def imports_of(path: Path) -> set[str]:
    """The minemap packages (first name after minemap.) a module imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "minemap":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names
                      if a.name.startswith("minemap.")}
    return found


def test_no_module_imports_upward_or_sideways():
    wrong = []
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        package = "" if parts == ("__init__",) else parts[0]
        assert package in LAYER, f"{path}: add its package to LAYERS"
        for imported in imports_of(path) - {package}:
            target = LAYER.get(imported, LAYER[""])  # minemap.__version__ and the like
            if target >= LAYER[package]:
                wrong.append(f"{path.relative_to(SOURCE)} imports minemap.{imported}")
    assert wrong == []


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from minemap.api import schemas\nimport minemap.ogc.routes\n")
    assert imports_of(module) == {"api", "ogc"}
