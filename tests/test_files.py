"""write_atomically: a cache file is either wholly written or not there at all; and a model
folder's weights are checked by their safetensors header without loading them."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import IO

import pytest

from rerank_lab.course.files import safetensors_header, write_atomically


def test_writes_the_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "entry.bin"
    write_atomically(target, lambda handle: handle.write(b"all of it"))
    assert target.read_bytes() == b"all of it"
    assert [p.name for p in target.parent.iterdir()] == ["entry.bin"]


def test_file_is_readable_by_others(tmp_path: Path) -> None:
    """Temporary files start private; a cache a teacher copies to classroom machines must not."""
    target = tmp_path / "entry.bin"
    write_atomically(target, lambda handle: handle.write(b"x"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "entry.bin"
    target.write_bytes(b"old")

    def broken(handle: IO[bytes]) -> None:
        handle.write(b"half an array")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.bin"]


def test_checksum_matches_hashlib_and_notices_a_changed_file(tmp_path: Path) -> None:
    import hashlib

    from rerank_lab.course.files import checksum

    path = tmp_path / "model.onnx"
    path.write_bytes(b"weights" * 1000)
    assert checksum(path) == hashlib.blake2b(b"weights" * 1000, digest_size=16).hexdigest()
    assert checksum(path, "sha256") == hashlib.sha256(b"weights" * 1000).hexdigest()
    path.write_bytes(b"damaged")  # a new size (and mtime): the remembered digest is not reused
    assert checksum(path) == hashlib.blake2b(b"damaged", digest_size=16).hexdigest()
    with pytest.raises(ValueError, match="must be 'blake2b' or 'sha256'"):
        checksum(path, "md5")


# --- safetensors headers ------------------------------------------------------------------------


def test_safetensors_header_of_a_real_file(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2, 3)}, str(tmp_path / "model.safetensors"))
    header = safetensors_header(tmp_path / "model.safetensors")
    assert header["weight"]["shape"] == [2, 3]
    assert header["weight"]["dtype"] == "F32"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n", "header size"),
        (b"", "header size"),
        ((5).to_bytes(8, "little") + b"[1,2]", "not a JSON object"),
        ((9).to_bytes(8, "little") + b'{"a": 1', "Expecting"),  # cut short: not JSON
    ],
)
def test_safetensors_header_rejects_what_is_not_one(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        safetensors_header(path)


def test_safetensors_header_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        safetensors_header(tmp_path / "model.safetensors")
