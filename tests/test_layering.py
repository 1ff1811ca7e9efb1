"""The core's layering: ``dfad_bench`` imports none of its plug-ins (DFAD-Mini, GazeCLIP, the
baselines); they reach it only through entry points."""

from __future__ import annotations

import ast
from pathlib import Path

import dfad_bench

CORE = Path(dfad_bench.__file__).resolve().parent
PLUGINS = ("dfad_mini", "gazeclip", "baselines")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import statement, also the lazy ones inside functions."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def plugin_imports(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        for line, module in imported_modules(ast.parse(path.read_text(), filename=str(path))):
            if module.split(".")[0] in PLUGINS:
                bad.append(f"{path.relative_to(root.parent)}:{line}: imports {module}")
    return bad


def test_the_core_imports_no_plugin() -> None:
    assert sorted(CORE.rglob("*.py")), CORE
    assert plugin_imports(CORE) == []


def test_the_check_sees_lazy_and_from_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from dfad_mini.build import x\n")
    (pkg / "b.py").write_text("import gazeclip.model\nimport baselinesx\nfrom . import baselines\n")
    assert plugin_imports(pkg) == ["core/a.py:2: imports dfad_mini.build", "core/b.py:1: imports gazeclip.model"]
