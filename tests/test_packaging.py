"""The package: one `infill` import namespace, from an editable install and from a wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "infill.server",
    "infill.cli",
    "infill.harness",
    "infill.context",
    "infill.prompts",
    "infill.backends",
    "infill.postprocess",
]
IMPORT_ALL = "import " + ", ".join(MODULES) + "; import infill; print(infill.__file__)"


def test_editable_install_imports_from_anywhere(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(result.stdout.strip()) == ROOT / "server" / "__init__.py"


def test_wheel_holds_only_the_infill_namespace_and_imports(tmp_path: Path):
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--wheel-dir", str(tmp_path), str(ROOT)),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("infill-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))

    assert {name.split("/")[0] for name in names} == {
        "infill",
        wheel.name.split("-py")[0] + ".dist-info",
    }
    for module in MODULES:
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module
    assert "infill/__main__.py" in names
    assert b"infill = infill.cli:main" in entry_points

    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(result.stdout.strip()) == site / "infill" / "__init__.py"
    version = subprocess.run(
        [sys.executable, "-m", "infill", "--version"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("infill ")
