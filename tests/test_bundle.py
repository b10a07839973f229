"""The desktop bundle end to end: ``packaging/build.sh`` builds the archive (in a temporary
folder, ~3-4 min on two cores), it is unpacked and installed into a temporary home, the
installed program passes ``--selftest`` headless, the menu entry validates and starts the
installed program, and ``uninstall.sh`` leaves the home as it found it.

``BITNET_STUDIO_TEST_BUNDLE=dist/bitnet-studio-....tar.gz`` tests that archive instead of
building one (it is then the caller's word that the archive matches the tree).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent


def _files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*")}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if given := os.environ.get("BITNET_STUDIO_TEST_BUNDLE"):
        yield Path(given).resolve()
        return
    out = tmp_path_factory.mktemp("bundle")
    env = {
        **os.environ,
        "BITNET_STUDIO_VENV": sys.prefix,
        "BITNET_STUDIO_DIST": str(out / "dist"),
        "BITNET_STUDIO_BUNDLE_WORK": str(out / "work"),
    }
    build = subprocess.run(
        ["bash", "packaging/build.sh"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    print("\n".join(line for line in build.stdout.splitlines() if line.startswith("bundle:")))
    shutil.rmtree(out / "work")  # ~1.5 GB of PyInstaller work files
    [tgz] = (out / "dist").glob("bitnet-studio-*-linux-*.tar.gz")
    yield tgz
    shutil.rmtree(out)  # pytest keeps its last temporary folders: not this ~350 MB


class Installed:
    def __init__(self, home: Path, top: Path, env: dict[str, str], before: set[str]) -> None:
        self.home, self.top, self.env, self.before = home, top, env, before
        self.data = home / ".local" / "share"
        self.version = (top / "VERSION").read_text().strip()
        self.program = self.data / "bitnet-studio" / self.version / "bitnet-studio"
        self.program = self.program / "bitnet-studio"
        self.link = home / ".local" / "bin" / "bitnet-studio"
        self.desktop = self.data / "applications" / "bitnet-studio.desktop"

    def run(self, *cmd: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(c) for c in cmd], env=self.env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="module")
def installed(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("install")
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(tmp)], check=True)
    [top] = tmp.glob("bitnet-studio-*")
    home = tmp / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "keep.txt").write_text("not ours")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
    env["QT_QPA_PLATFORM"] = "offscreen"
    inst = Installed(home, top, env, _files(home))
    done = inst.run("bash", top / "install.sh")
    assert done.returncode == 0, done.stdout + done.stderr
    yield inst
    shutil.rmtree(tmp)  # ~1.5 GB unpacked and installed


def test_installed_program_passes_its_selftest(installed: Installed) -> None:
    assert installed.link.resolve() == installed.program
    done = installed.run(installed.link, "--selftest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "selftest: all passed"
    assert done.stdout.startswith("ok   kernels:")
    from bitnet_studio.engine.registry import DEFAULT_MODELS

    for name in DEFAULT_MODELS:  # the trained twins too: resources/models travel in the bundle
        assert f"ok   {name}:" in done.stdout, name
    version = installed.run(installed.link, "--version")
    assert version.stdout.strip() == f"bitnet-studio {installed.version}"


def test_menu_entry_validates_and_starts_the_installed_program(installed: Installed) -> None:
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate is not installed (scripts/system-deps.sh installs it)")
    check = installed.run(validate, installed.desktop)
    assert check.returncode == 0, check.stdout + check.stderr
    entry = dict(
        line.split("=", 1) for line in installed.desktop.read_text().splitlines() if "=" in line
    )
    assert shlex.split(entry["Exec"]) == [str(installed.program)]
    assert entry["TryExec"] == str(installed.program)
    assert entry["Icon"] == "bitnet-studio"
    icon = installed.data / "icons" / "hicolor" / "256x256" / "apps" / "bitnet-studio.png"
    assert icon.is_file()


def test_uninstall_leaves_the_home_as_it_was(installed: Installed) -> None:
    script = installed.program.parent.parent / "uninstall.sh"
    done = installed.run("bash", script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _files(installed.home) == installed.before
    again = installed.run("bash", installed.top / "uninstall.sh")
    assert again.returncode == 0 and "nothing to remove" in again.stdout
