"""The last-level cache size from sysfs, where glibc's sysconf answers 0 (some VMs)."""

from __future__ import annotations

from pathlib import Path

from bitnet_studio.bench.bandwidth import sysfs_cache_bytes


def test_sysfs_cache_bytes_takes_the_largest(tmp_path: Path) -> None:
    for i, size in enumerate(("48K", "2048K", "491520K", "")):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "size").write_text(size + "\n")
    assert sysfs_cache_bytes(str(tmp_path)) == 491520 * 1024
    (tmp_path / "index4").mkdir()  # no size file: skipped
    assert sysfs_cache_bytes(str(tmp_path)) == 491520 * 1024
    assert sysfs_cache_bytes(str(tmp_path / "missing")) == 0
