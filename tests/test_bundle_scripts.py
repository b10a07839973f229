"""The desktop bundle's pieces without building it: the filter rules of what stays out,
and install.sh / uninstall.sh run on a fake bundle folder in a temporary home."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
_spec = importlib.util.spec_from_file_location("bundle_filter", PACKAGING / "bundle_filter.py")
assert _spec is not None and _spec.loader is not None
bundle_filter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle_filter)


@pytest.mark.parametrize(
    "dest",
    [
        "torch/include/ATen/ATen.h",
        "torch/bin/test_api",
        "torch/test/ivalue_test",
        "torch/lib/libtorchbind_test.so",
        "nvidia/cublas/lib/libcublas.so.12",
        "libcudnn.so.9",
        "PySide6/Qt/translations/qt_de.qm",
        "PySide6/Qt/qml/QtQuick/qmldir",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
    ],
)
def test_left_out(dest: str) -> None:
    assert bundle_filter.dropped(dest)


@pytest.mark.parametrize(
    "dest",
    [
        "torch/lib/libtorch_cpu.so",
        "torch/bin/torch_shm_manager",  # `import torch` checks it exists
        "torch/_inductor/codegen/cpp.py",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "llama_cpp/lib/libllama.so",
        "resources/icons/hicolor/16x16/apps/bitnet-studio.png",
    ],
)
def test_kept(dest: str) -> None:
    assert not bundle_filter.dropped(dest)


def test_strips_only_named_binaries() -> None:
    assert bundle_filter.stripped("torch/lib/libtorch_cpu.so")
    assert bundle_filter.stripped("libpython3.11.so.1.0")
    # auditwheel-patched libraries break when stripped
    assert not bundle_filter.stripped("numpy.libs/libscipy_openblas64_-32a4b2a6.so")


def test_orphans_are_libraries_only_left_out_files_needed() -> None:
    needs = {
        "qgtk3": {"libgtk.so", "libpango.so", "libglib.so"},
        "qxcb": {"libglib.so", "libxcb-icccm.so"},
        "pango": {"libglib.so"},
        "glib": set(),
        "icccm": set(),
    }
    kept = {
        "PySide6/plugins/libqxcb.so": "qxcb",
        "libpango.so": "pango",
        "libglib.so": "glib",
        "libxcb-icccm.so": "icccm",
    }
    gone = {"PySide6/plugins/libqgtk3.so": "qgtk3"}
    assert bundle_filter.orphans(kept, gone, lambda src: needs[src]) == {"libpango.so"}


def _fake_bundle(where: Path) -> Path:
    """An unpacked archive's layout with a shell script as the program."""
    top = where / "bitnet-studio-9.9.9-linux-x86_64"
    program = top / "bitnet-studio" / "bitnet-studio"
    program.parent.mkdir(parents=True)
    program.write_text('#!/bin/sh\necho "fake bitnet-studio $*"\n')
    program.chmod(0o755)
    icons = top / "bitnet-studio" / "_internal" / "resources" / "icons"
    shutil.copytree(ROOT / "resources" / "icons", icons)
    for name in ("install.sh", "uninstall.sh", "bitnet-studio.desktop"):
        shutil.copy(PACKAGING / name, top / name)
    (top / "VERSION").write_text("9.9.9\n")
    return top


def _files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*")}


def _run(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    return subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with a foreign menu entry and command that the scripts must leave alone."""
    home = tmp_path / "my home"  # a space: the menu entry must quote the path
    (home / ".local" / "share" / "applications").mkdir(parents=True)
    (home / ".local" / "share" / "applications" / "other.desktop").write_text("x")
    (home / ".local" / "bin").mkdir()
    (home / ".local" / "bin" / "other").write_text("x")
    return home


def test_install_then_uninstall_restores_the_home(tmp_path: Path, home: Path) -> None:
    bundle = _fake_bundle(tmp_path / "unpacked")
    before = _files(home)
    done = _run(bundle / "install.sh", home)
    assert done.returncode == 0, done.stderr
    data = home / ".local" / "share"
    program = data / "bitnet-studio" / "9.9.9" / "bitnet-studio" / "bitnet-studio"
    link = home / ".local" / "bin" / "bitnet-studio"
    assert link.resolve() == program
    assert subprocess.run([link, "--version"], capture_output=True, text=True).stdout.startswith(
        "fake bitnet-studio --version"
    )
    entry = dict(
        line.split("=", 1)
        for line in (data / "applications" / "bitnet-studio.desktop").read_text().splitlines()
        if "=" in line
    )
    assert shlex.split(entry["Exec"]) == [str(program)]
    assert entry["TryExec"] == str(program)
    assert (data / "icons" / "hicolor" / "48x48" / "apps" / "bitnet-studio.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "bitnet-studio.svg").is_file()
    if validate := shutil.which("desktop-file-validate"):
        check = subprocess.run([validate, data / "applications" / "bitnet-studio.desktop"])
        assert check.returncode == 0

    again = _run(bundle / "install.sh", home)  # a second install replaces the first
    assert again.returncode == 0, again.stderr
    assert "removing the earlier installation" in again.stdout

    # the installed copy of uninstall.sh works once the archive is gone
    shutil.rmtree(bundle)
    gone = _run(program.parent.parent / "uninstall.sh", home)
    assert gone.returncode == 0, gone.stderr
    assert _files(home) == before
    twice = _run(PACKAGING / "uninstall.sh", home)
    assert twice.returncode == 0 and "nothing to remove" in twice.stdout


def test_install_refuses_to_replace_a_foreign_command(tmp_path: Path, home: Path) -> None:
    bundle = _fake_bundle(tmp_path / "unpacked")
    (home / ".local" / "bin" / "bitnet-studio").write_text("someone else's")
    before = _files(home)
    done = _run(bundle / "install.sh", home)
    assert done.returncode == 1
    assert "is not ours" in done.stderr
    assert _files(home) == before


@pytest.mark.parametrize("script", ["install.sh", "uninstall.sh"])
def test_help(script: str, tmp_path: Path) -> None:
    done = _run(PACKAGING / script, tmp_path, "--help")
    assert done.returncode == 0 and done.stdout.startswith("Usage:")
    wrong = _run(PACKAGING / script, tmp_path, "--nope")
    assert wrong.returncode == 2 and "unknown argument" in wrong.stderr
