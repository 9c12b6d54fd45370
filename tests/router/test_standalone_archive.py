"""The build archive a standalone router receives: deterministic digests, and unsafe archives refused whole."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from mephisto_core.router.build_archive import (
    UnsafeBuildError,
    build_digest,
    check_archive,
    pack_build,
    unpack_build,
)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


FILES = {"index.html": b"<p>task</p>", "assets/app.js": b"go()", "assets/img/logo.svg": b"<svg/>"}


def test_the_same_files_give_the_same_digest_whatever_their_times_modes_and_order(tmp_path: Path) -> None:
    first = _write(tmp_path / "a", FILES)
    second = _write(tmp_path / "b", dict(reversed(list(FILES.items()))))
    os.utime(second / "index.html", (1, 1))
    (second / "assets" / "app.js").chmod(0o600)
    packed = pack_build(first)
    assert packed.digest == pack_build(second).digest == build_digest(first) == build_digest(second)
    assert packed.digest == hashlib.sha256(packed.data).hexdigest()
    (second / "index.html").write_bytes(b"<p>changed</p>")
    assert build_digest(second) != packed.digest


def test_only_what_a_router_serves_is_packed(tmp_path: Path) -> None:
    build = _write(tmp_path / "build", {**FILES, ".env": b"SECRET=1", ".git/config": b"x"})
    (tmp_path / "outside.txt").write_bytes(b"outside")
    (build / "link-out").symlink_to(tmp_path / "outside.txt")
    (build / "link-in").symlink_to(build / "assets" / "app.js")
    (build / "link-hidden").symlink_to(build / ".git" / "config")  # the router never serves it
    (build / "loop").symlink_to(build / "loop")
    dest = tmp_path / "unpacked"
    packed = pack_build(build)
    unpack_build(packed.data, packed.digest, dest)
    assert _tree(dest) == {**FILES, "link-in": b"go()"}
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_a_packed_build_unpacks_to_the_same_files(tmp_path: Path) -> None:
    packed = pack_build(_write(tmp_path / "build", FILES))
    unpack_build(packed.data, packed.digest, tmp_path / "out")
    assert _tree(tmp_path / "out") == FILES
    assert build_digest(tmp_path / "out") == packed.digest


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> tuple[bytes, str]:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = out.getvalue()
    return raw, hashlib.sha256(raw).hexdigest()


def _info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


UNSAFE = {
    "absolute path": ([(_info("/etc/cron.d/evil"), b"x")], "absolute path"),
    "parent segment": ([(_info("../evil.html"), b"x")], "leaves its folder"),
    "parent deeper": ([(_info("a/../../evil.html"), b"x")], "leaves its folder"),
    "symlink": ([(_info("index.html", tarfile.SYMTYPE, "/etc/passwd"), None)], "a link"),
    "hard link": ([(_info("a.txt"), b"x"), (_info("b.txt", tarfile.LNKTYPE, "a.txt"), None)], "a link"),
    "char device": ([(_info("dev", tarfile.CHRTYPE), None)], "device"),
    "fifo": ([(_info("pipe", tarfile.FIFOTYPE), None)], "device, pipe"),
    "backslash": ([(_info("..\\evil.html"), b"x")], "invalid name"),
    "hidden file": ([(_info(".htaccess"), b"x")], "hidden file"),
    "twice": ([(_info("a.txt"), b"x"), (_info("a.txt"), b"y")], "twice"),
    "inside a file": ([(_info("a"), b"x"), (_info("a/b"), b"y")], "inside a file"),
    "file over a folder": ([(_info("a/b"), b"y"), (_info("a"), b"x")], "also a folder"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_an_unsafe_entry_refuses_the_whole_build_and_writes_nothing(tmp_path: Path, case: str) -> None:
    members, message = UNSAFE[case]
    raw, digest = _tar(*members)
    dest = tmp_path / "builds" / "new"
    with pytest.raises(UnsafeBuildError, match=message):
        unpack_build(raw, digest, dest)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_a_digest_that_does_not_match_is_refused(tmp_path: Path) -> None:
    packed = pack_build(_write(tmp_path / "build", FILES))
    with pytest.raises(UnsafeBuildError, match="not the announced"):
        check_archive(packed.data, "0" * 64)


def test_a_build_over_the_limit_is_refused(tmp_path: Path) -> None:
    packed = pack_build(_write(tmp_path / "build", FILES))
    with pytest.raises(UnsafeBuildError, match="more than this router's limit"):
        check_archive(packed.data, packed.digest, max_bytes=packed.size - 1)


def test_bytes_that_are_not_a_tar_are_refused() -> None:
    junk = b"\x00\x01 not a tar at all" * 100
    with pytest.raises(UnsafeBuildError, match="not a valid tar"):
        check_archive(junk, hashlib.sha256(junk).hexdigest())
