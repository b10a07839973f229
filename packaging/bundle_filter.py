"""What the desktop bundle leaves out of what PyInstaller's hooks collect.

``bitnet-studio.spec`` passes every collected file's destination path (relative to the bundle's
``_internal`` folder, with ``/``) through ``dropped``. The app never uses these: torch's C++
headers, CMake files, test programs and test libraries; any CUDA or other GPU runtime (the
pinned torch is the CPU build: this is a guard); Qt's translations, QML and tools, and the Qt
plugins for printing, SQL, networking, Wayland compositors, embedded devices and the GTK theme;
type stubs. ``orphans`` then finds the system libraries only those files needed.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase

QT = "PySide6/Qt/"
DROP_GLOBS: tuple[str, ...] = (
    # torch: C++ SDK, build files, test programs and libraries
    "torch/include/*",
    "torch/share/*",
    "torch/bin/*",
    "torch/test/*",
    "torch/lib/*test*.so*",
    "torch/lib/libbackend_with_compiler.so",
    "torch/lib/libaoti_custom_ops.so",
    "torch/lib/libshm/*",
    "*.h",
    "*.hpp",
    "*.cuh",
    "*.cmake",
    "*.pyi",
    # GPU runtimes
    "nvidia/*",
    "triton/*",
    "*libcuda*",
    "*libcublas*",
    "*libcufft*",
    "*libcurand*",
    "*libcusparse*",
    "*libcusolver*",
    "*libcudnn*",
    "*libcupti*",
    "*libnccl*",
    "*libnvrtc*",
    "*libnvJitLink*",
    "*libnvToolsExt*",
    # Qt: what a widgets app on X11 or Wayland does not load
    QT + "translations/*",
    QT + "qml/*",
    QT + "metatypes/*",
    QT + "libexec/*",
    QT + "plugins/designer/*",
    QT + "plugins/printsupport/*",
    QT + "plugins/sqldrivers/*",
    QT + "plugins/qmltooling/*",
    QT + "plugins/qmllint/*",
    QT + "plugins/networkinformation/*",
    QT + "plugins/tls/*",
    QT + "plugins/egldeviceintegrations/*",
    QT + "plugins/wayland-graphics-integration-server/*",
    QT + "plugins/platforms/libqeglfs.so",
    QT + "plugins/platforms/libqlinuxfb.so",
    QT + "plugins/platforms/libqminimalegl.so",
    QT + "plugins/platforms/libqvnc.so",
    QT + "plugins/platforms/libqvkkhrdisplay.so",
    # the GTK theme plugin pulls GTK's stack (cairo, pango, ...); the app draws Fusion itself
    QT + "plugins/platformthemes/libqgtk3.so",
)

# Binaries stripped of their symbol tables (~115 MiB, most of it libtorch_cpu's). Only these:
# `strip` breaks libraries that auditwheel patched (numpy.libs/*: "ELF load command
# address/offset not page-aligned"), so stripping everything is not an option.
STRIP_GLOBS: tuple[str, ...] = (
    "torch/lib/libtorch_cpu.so",
    "torch/lib/libtorch_python.so",
    "libpython3.*.so.*",
    "tokenizers/tokenizers.abi3.so",
    "hf_xet/hf_xet.abi3.so",
)

# Python packages the analysis may reach through optional imports; none is used at run time.
EXCLUDED_MODULES: tuple[str, ...] = (
    "tkinter",
    "_tkinter",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "IPython",
    "matplotlib",
    "pytest",
    "_pytest",
    "pytestqt",
    "pip",
    "scikit_build_core",
    "nanobind",
    "cmake",
    "ninja",
    "ruff",
    "PyInstaller",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtPdf",
    "PySide6.QtNetwork",
    "PySide6.QtMultimedia",
    "PySide6.QtWebEngineCore",
    "PySide6.Qt3DCore",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtSql",
    "PySide6.QtPrintSupport",
    "PySide6.QtDBus",
    "PySide6.QtUiTools",
    "PySide6.QtXml",
    # pyqtgraph imports QtTest when present and copes without it (QtOpenGL it needs)
    "PySide6.QtTest",
)


# Exceptions to DROP_GLOBS: `import torch` checks that its shared-memory manager exists.
KEEP_GLOBS: tuple[str, ...] = ("torch/bin/torch_shm_manager",)


def dropped(dest: str) -> bool:
    """True when a collected file (its path inside the bundle) stays out of it."""
    if any(fnmatchcase(dest, glob) for glob in KEEP_GLOBS):
        return False
    return any(fnmatchcase(dest, glob) for glob in DROP_GLOBS)


def stripped(dest: str) -> bool:
    """True when a bundled binary gets its symbol table stripped."""
    return any(fnmatchcase(dest, glob) for glob in STRIP_GLOBS)


def orphans(
    kept: dict[str, str], gone: dict[str, str], needs: Callable[[str], set[str]]
) -> set[str]:
    """Top-level libraries (bundle path without ``/``) that only left-out files needed.

    ``kept`` and ``gone`` map a binary's path in the bundle to its source file; ``needs(src)``
    is the set of library names ``src`` loads, transitively (what ``ldd`` lists).
    """
    pulled = set().union(*(needs(src) for src in gone.values()))
    candidates = {dest for dest in kept if "/" not in dest and dest in pulled}
    users = set().union(*(needs(src) for dest, src in kept.items() if dest not in candidates))
    return candidates - users
