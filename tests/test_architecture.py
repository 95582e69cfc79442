"""The shape of the code: domain layers (import-linter), no import dodging them, no module
grown past a newcomer's reading without saying why."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ["shops", "orders", "payments", "referrals", "disputes", "reviews"]
# The outer layer may import any app (DESIGN.md); everything else in an app is domain code.
OUTER = {"views", "merchant_views", "api", "api_urls", "urls", "admin", "tasks", "forms", "demo", "apps"}


def _domain_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT / app).parts
            if parts[0] in ("migrations", "management") or path.stem in OUTER:
                continue
            yield app, path


def _function_local_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    found.append((inner.lineno, inner.module.split(".")[0]))
                elif isinstance(inner, ast.Import):
                    found.extend((inner.lineno, alias.name.split(".")[0]) for alias in inner.names)
    return found


def test_the_domain_layers_contract_is_kept():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_no_domain_module_imports_another_app_inside_a_function():
    dodges = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for app, path in _domain_modules()
        for line, module in _function_local_imports(path)
        if module in APPS and module != app
    ]
    assert dodges == []


def test_the_scan_finds_a_function_local_import(tmp_path):
    # The control for the test above: a planted dodge is found.
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from payments.services import refund_create\n")
    assert _function_local_imports(planted) == [(2, "payments")]


def test_no_app_module_is_longer_than_400_lines_without_a_reason_at_its_top():
    long = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            text = path.read_text()
            if "migrations" in path.parts or text.count("\n") <= 400:
                continue
            if "Longer than 400 lines" not in text[:1500]:
                long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert long == []
