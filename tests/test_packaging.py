"""The installed distribution is one import namespace, `hubcensus`, built from the design card's folders."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = out.glob("hubcensus-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"hubcensus"}
    for module in ("crawler/hub.py", "crawler/formats/safetensors.py", "db/schema.py", "db/views.sql",
                   "analysis/report.py", "fakehub/server.py", "cli.py"):  # fmt: skip
        assert f"hubcensus/{module}" in names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


def test_installed_wheel_imports_only_hubcensus(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure wheel's install is its unpacked tree
    probe = (
        "import importlib.util as u, sys\n"
        "missing = [n for n in ('db', 'crawler', 'analysis', 'fakehub') if u.find_spec(n) is not None]\n"
        "spec = u.find_spec('hubcensus.db')\n"
        "print(missing, spec.submodule_search_locations[0].startswith(sys.argv[1]))\n"
    )
    # -S: no site-packages (and so no editable finder of this checkout); run outside the checkout
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(site)], cwd=tmp_path, env={"PYTHONPATH": str(site)},
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.split() == ["[]", "True"]
