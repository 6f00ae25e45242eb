from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from digitrec.data import (
    MNIST_SOURCE,
    OPTDIGITS_SOURCE,
    FetchError,
    default_cache_dir,
    fetch_file,
    resolve_mirrors,
)
from digitrec.registry import DATASETS

SOURCES = {name: d.files() for name, d in DATASETS.items() if d.source is not None}

LABELS = MNIST_SOURCE.file("t10k-labels-idx1-ubyte.gz")  # 4,542 bytes


def leftovers(cache: Path) -> list[Path]:
    """Everything in the cache except the (empty) per-dataset directories."""
    return sorted(p for p in cache.rglob("*") if not (p.is_dir() and p.parent == cache))


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("source", SOURCES.values(), ids=list(SOURCES))
def test_built_in_checksums_match_the_shared_files(dataset_files: Path, source) -> None:
    for remote in source.files:
        path = dataset_files / source.name / remote.name
        assert path.stat().st_size == remote.size, remote.name
        assert sha256(path) == remote.sha256, remote.name


def test_default_mirrors() -> None:
    assert MNIST_SOURCE.mirrors == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    assert OPTDIGITS_SOURCE.mirrors[0].startswith("https://archive.ics.uci.edu/")
    with pytest.raises(KeyError, match="no file 'nope'"):
        MNIST_SOURCE.file("nope")


@pytest.mark.parametrize("kind", ["directory", "file-url", "http"])
def test_fetch_from_each_kind_of_mirror(
    kind: str, dataset_files: Path, serve: Callable[..., str], cache: Path
) -> None:
    directory = dataset_files / "mnist"
    if kind == "directory":
        mirror = str(directory)
    elif kind == "file-url":
        mirror = directory.as_uri()
    else:
        mirror = serve(directory)
    path = fetch_file(LABELS, [mirror], cache, progress=False)
    assert path == cache / "mnist" / LABELS.name
    assert path.read_bytes() == (directory / LABELS.name).read_bytes()
    assert leftovers(cache) == [path]


def test_fetch_all_of_optdigits_over_http(
    dataset_files: Path, serve: Callable[..., str], cache: Path
) -> None:
    url = serve(dataset_files / "optdigits")
    for remote in OPTDIGITS_SOURCE.files:
        path = fetch_file(remote, [url], cache, progress=False)
        assert sha256(path) == remote.sha256
    assert [p.name for p in leftovers(cache)] == ["optdigits.tes", "optdigits.tra"]


def test_cached_file_is_used_without_any_mirror(
    dataset_files: Path, closed_port_url: str, cache: Path
) -> None:
    first = fetch_file(LABELS, [str(dataset_files / "mnist")], cache, progress=False)
    again = fetch_file(LABELS, [closed_port_url], cache, progress=False)
    assert again == first
    assert sha256(again) == LABELS.sha256


def test_corrupted_cached_file_is_fetched_again(dataset_files: Path, cache: Path) -> None:
    path = fetch_file(LABELS, [str(dataset_files / "mnist")], cache, progress=False)
    flip_byte(path)
    assert sha256(path) != LABELS.sha256
    again = fetch_file(LABELS, [str(dataset_files / "mnist")], cache, progress=False)
    assert again == path
    assert sha256(again) == LABELS.sha256
    assert leftovers(cache) == [path]


def test_corrupted_cached_file_is_removed_when_no_mirror_works(
    dataset_files: Path, closed_port_url: str, cache: Path
) -> None:
    path = fetch_file(LABELS, [str(dataset_files / "mnist")], cache, progress=False)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(FetchError, match="unreachable"):
        fetch_file(LABELS, [closed_port_url], cache, progress=False)
    assert leftovers(cache) == []


@pytest.mark.parametrize("over_http", [False, True], ids=["directory", "http"])
def test_checksum_mismatch(
    over_http: bool,
    mirror_dir: Path,
    copy_to: Callable[[str, Path], Path],
    serve: Callable[..., str],
    cache: Path,
) -> None:
    bad = copy_to(f"mnist/{LABELS.name}", mirror_dir)
    flip_byte(bad)
    mirror = serve(mirror_dir) if over_http else str(mirror_dir)
    with pytest.raises(FetchError) as info:
        fetch_file(LABELS, [mirror], cache, progress=False)
    assert f"checksum mismatch: got sha256 {sha256(bad)}, expected {LABELS.sha256}" in str(
        info.value
    )
    assert leftovers(cache) == []


@pytest.mark.parametrize("over_http", [False, True], ids=["directory", "http"])
def test_truncated(
    over_http: bool,
    mirror_dir: Path,
    copy_to: Callable[[str, Path], Path],
    serve: Callable[..., str],
    cache: Path,
) -> None:
    bad = copy_to(f"mnist/{LABELS.name}", mirror_dir)
    bad.write_bytes(bad.read_bytes()[:4000])
    mirror = serve(mirror_dir) if over_http else str(mirror_dir)
    with pytest.raises(FetchError, match="truncated: got 4000 of 4542 bytes"):
        fetch_file(LABELS, [mirror], cache, progress=False)
    assert leftovers(cache) == []


def test_connection_dropped_mid_body(
    dataset_files: Path, mirror_dir: Path, serve: Callable[..., str], cache: Path
) -> None:
    # The server announces the right length but closes the connection after 1,000 bytes.
    body = (dataset_files / "mnist" / LABELS.name).read_bytes()[:1000]
    url = serve(mirror_dir, lies={f"/{LABELS.name}": (LABELS.size, body)})
    with pytest.raises(FetchError, match="truncated: got 1000 of 4542 bytes"):
        fetch_file(LABELS, [url], cache, progress=False)
    assert leftovers(cache) == []


def test_too_large_in_a_directory(
    mirror_dir: Path, copy_to: Callable[[str, Path], Path], cache: Path
) -> None:
    bad = copy_to(f"mnist/{LABELS.name}", mirror_dir)
    bad.write_bytes(bad.read_bytes() + b"\0" * 10_000_000)
    with pytest.raises(FetchError, match="too large: more than the expected 4542 bytes"):
        fetch_file(LABELS, [str(mirror_dir)], cache, progress=False)
    assert leftovers(cache) == []


def test_too_large_announced_over_http(
    dataset_files: Path, mirror_dir: Path, serve: Callable[..., str], cache: Path
) -> None:
    body = (dataset_files / "mnist" / LABELS.name).read_bytes() + b"\0"
    url = serve(mirror_dir, lies={f"/{LABELS.name}": (len(body), body)})
    with pytest.raises(FetchError, match="too large: server announces 4543 bytes, expected 4542"):
        fetch_file(LABELS, [url], cache, progress=False)
    assert leftovers(cache) == []


def test_too_large_without_content_length_over_http(
    dataset_files: Path, mirror_dir: Path, serve: Callable[..., str], cache: Path
) -> None:
    # No Content-Length: the body ends when the server closes, so extra bytes do arrive.
    good = (dataset_files / "mnist" / LABELS.name).read_bytes()
    url = serve(
        mirror_dir,
        lies={
            f"/{LABELS.name}": (None, good + b"\0" * 100),
            f"/exact/{LABELS.name}": (None, good),
        },
    )
    with pytest.raises(FetchError, match="too large: more than the expected 4542 bytes"):
        fetch_file(LABELS, [url], cache, progress=False)
    assert leftovers(cache) == []
    path = fetch_file(LABELS, [url + "exact"], cache, progress=False)
    assert sha256(path) == LABELS.sha256


def test_not_found(mirror_dir: Path, serve: Callable[..., str], cache: Path) -> None:
    url = serve(mirror_dir)
    with pytest.raises(FetchError) as info:
        fetch_file(LABELS, [url, str(mirror_dir), mirror_dir.as_uri()], cache, progress=False)
    lines = str(info.value).splitlines()
    assert lines[1] == f"  - {url}{LABELS.name}: not found (HTTP 404)"
    assert lines[2] == f"  - {mirror_dir / LABELS.name}: not found"
    assert lines[3] == f"  - {mirror_dir.as_uri()}/{LABELS.name}: not found"


def test_unreachable(closed_port_url: str, cache: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_file(LABELS, [closed_port_url], cache, progress=False)
    assert f"{closed_port_url}{LABELS.name}: unreachable: " in str(info.value)
    assert "refused" in str(info.value).lower()
    assert leftovers(cache) == []


def test_one_message_names_the_file_and_every_mirror(
    mirror_dir: Path,
    copy_to: Callable[[str, Path], Path],
    serve: Callable[..., str],
    closed_port_url: str,
    tmp_path: Path,
    cache: Path,
) -> None:
    bad = copy_to(f"mnist/{LABELS.name}", mirror_dir)
    flip_byte(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    mirrors = [closed_port_url, serve(empty), str(mirror_dir), "ftp://example.org/mnist"]
    with pytest.raises(FetchError) as info:
        fetch_file(LABELS, mirrors, cache, progress=False)
    error = info.value
    message = str(error)
    assert message.splitlines()[0] == (
        f"Could not fetch mnist/{LABELS.name} (expected 4542 bytes, sha256 {LABELS.sha256}) "
        "from any of 4 mirrors:"
    )
    assert [location for location, _ in error.failures] == [
        f"{closed_port_url}{LABELS.name}",
        f"{mirrors[1]}{LABELS.name}",
        str(mirror_dir / LABELS.name),
        f"ftp://example.org/mnist/{LABELS.name}",
    ]
    reasons = [reason for _, reason in error.failures]
    assert reasons[0].startswith("unreachable: ")
    assert reasons[1] == "not found (HTTP 404)"
    assert reasons[2].startswith("checksum mismatch: got sha256 ")
    assert reasons[3].startswith("unsupported URL scheme 'ftp'")
    assert "DIGITREC_MIRRORS" in message
    assert error.remote == LABELS
    assert leftovers(cache) == []


def test_no_mirrors(cache: Path) -> None:
    with pytest.raises(FetchError, match="no mirrors were given"):
        fetch_file(LABELS, [], cache, progress=False)


def test_later_good_mirror_is_used_after_bad_ones(
    dataset_files: Path,
    mirror_dir: Path,
    copy_to: Callable[[str, Path], Path],
    serve: Callable[..., str],
    closed_port_url: str,
    tmp_path: Path,
    cache: Path,
) -> None:
    bad = copy_to(f"mnist/{LABELS.name}", mirror_dir)
    bad.write_bytes(bad.read_bytes()[:-1])
    empty = tmp_path / "empty"
    empty.mkdir()
    mirrors = [
        closed_port_url,
        serve(empty),
        serve(mirror_dir),
        str(mirror_dir),
        (dataset_files / "mnist").as_uri(),
    ]
    path = fetch_file(LABELS, mirrors, cache, progress=False)
    assert sha256(path) == LABELS.sha256
    assert leftovers(cache) == [path]


def test_progress_bar_only_for_large_http_downloads(
    dataset_files: Path, serve: Callable[..., str], tmp_path: Path, capsys
) -> None:
    images = MNIST_SOURCE.file("t10k-images-idx3-ubyte.gz")  # 1.6 MB
    url = serve(dataset_files / "mnist")
    fetch_file(images, [url], tmp_path / "quiet", progress=False)
    fetch_file(LABELS, [url], tmp_path / "small", progress=True)
    fetch_file(images, [str(dataset_files / "mnist")], tmp_path / "local", progress=True)
    assert capsys.readouterr() == ("", "")
    fetch_file(images, [url], tmp_path / "shown", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert images.name in captured.err
    assert "100%" in captured.err


def test_resolve_mirrors_precedence() -> None:
    defaults = ("https://a/", "https://b/")
    assert resolve_mirrors([], defaults, environ={}) == list(defaults)
    assert resolve_mirrors(["/data"], defaults, environ={}) == ["/data"]
    assert resolve_mirrors(["/data"], defaults, environ={"DIGITREC_MIRRORS": ""}) == ["/data"]
    assert resolve_mirrors(["/data"], defaults, environ={"DIGITREC_MIRRORS": " \n"}) == ["/data"]
    env = {"DIGITREC_MIRRORS": " file:///m1, http://h/m2\t/m3,,"}
    assert resolve_mirrors(["/data"], defaults, environ=env) == [
        "file:///m1",
        "http://h/m2",
        "/m3",
    ]


def test_resolve_mirrors_reads_the_process_environment(monkeypatch) -> None:
    monkeypatch.setenv("DIGITREC_MIRRORS", "/x /y")
    assert resolve_mirrors(["/data"], ["https://a/"]) == ["/x", "/y"]
    monkeypatch.delenv("DIGITREC_MIRRORS")
    assert resolve_mirrors(["/data"], ["https://a/"]) == ["/data"]


def test_default_cache_dir() -> None:
    home = {"HOME": "/home/u"}
    assert default_cache_dir(home) == Path("/home/u/.cache/digitrec")
    assert default_cache_dir({**home, "XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/digitrec")
    env = {**home, "XDG_CACHE_HOME": "/xdg", "DIGITREC_CACHE": "/c"}
    assert default_cache_dir(env) == Path("/c")
    assert default_cache_dir({**home, "DIGITREC_CACHE": "", "XDG_CACHE_HOME": ""}) == Path(
        "/home/u/.cache/digitrec"
    )


def test_a_dataset_placeholder_lets_one_mirror_serve_every_dataset(
    dataset_files: Path, cache: Path
) -> None:
    mirror = f"file://{dataset_files}/{{dataset}}/"
    for source in (MNIST_SOURCE, OPTDIGITS_SOURCE):
        remote = source.files[-1]
        path = fetch_file(remote, [mirror], cache, progress=False)
        assert sha256(path) == remote.sha256
