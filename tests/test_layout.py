"""The architecture rules of the README's layout, checked on the source: what each package may import, and
no private name (one leading underscore) imported or read across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "kernels", "proofs_check")
FORBIDDEN = {  # package → our top-level names it must never import
    "theory": {"kernels", "proofs_check", "bench", "tests"},
    "kernels": {"theory", "proofs_check", "bench", "tests"},
    "proofs_check": {"bench", "tests"},
}


def _sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every import, at any depth (lazy imports included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def layering_violations(path: Path, package: str) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{_name(path)}:{line} imports {module}" for line, module, _ in _imports(tree)
            if module.split(".")[0] in FORBIDDEN[package]]  # fmt: skip


def private_crossings(path: Path) -> list[str]:
    """Imports of ``_name`` from our packages, and ``module._name`` reads of a module of ours."""
    tree = ast.parse(path.read_text())
    modules, found = set(), []
    for line, module, names in _imports(tree):
        if module.split(".")[0] not in PACKAGES:
            continue
        for name in names:
            if name.startswith("_") and not name.startswith("__"):
                found.append(f"{_name(path)}:{line} imports {module}.{name}")
        modules.update(names or [module.split(".")[0]])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):  # fmt: skip
            found.append(f"{_name(path)}:{node.lineno} reads {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_what_the_layout_allows(package):
    violations = [v for path in _sources(package) for v in layering_violations(path, package)]
    assert not violations, violations


def test_no_private_name_crosses_a_module():
    violations = [v for path in _sources(*PACKAGES, "bench", "tests") for v in private_crossings(path)]
    assert not violations, violations


def test_the_checks_catch_what_they_forbid(tmp_path):
    """Each check on a file that breaks its rule (the deliberate bug), so that a pass means something."""
    bad = tmp_path / "probe.py"
    bad.write_text("from kernels import delta_product\nfrom theory.groups import _planar_rep\n"
                   "import theory.programs.prove as p\nx = p._prove_group\n")  # fmt: skip
    assert layering_violations(bad, "theory") == ["probe.py:1 imports kernels"]
    assert layering_violations(bad, "proofs_check") == []
    assert private_crossings(bad) == ["probe.py:2 imports theory.groups._planar_rep", "probe.py:4 reads p._prove_group"]
