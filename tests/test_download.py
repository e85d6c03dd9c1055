"""``prepare``: downloads from a loopback HTTP server and from local files; never the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from pcmci_edu.data import download as dl


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes), honours ``Range``, can cut a reply short."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        name = self.path.lstrip("/").split("?")[0]
        server.requests.append((name, self.headers.get("Range")))
        if name not in server.files:
            self.send_error(404, "no such file")
            return
        body = server.files[name]
        start = 0
        range_header = self.headers.get("Range")
        if range_header and server.honour_range:
            start = int(range_header.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if server.cut_after is not None:  # simulate a dropped connection
            self.wfile.write(payload[: server.cut_after])
            server.cut_after = None
            self.close_connection = True
            return
        self.wfile.write(payload)


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    httpd.files, httpd.requests, httpd.cut_after, httpd.honour_range = {}, [], None, True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pin(monkeypatch, dataset: str, index: int, **changes) -> None:
    """Pin the fixture's own hashes in place of the official ones, for this test only."""
    spec = dl.DATASETS[dataset]
    sources = list(spec.sources)
    sources[index] = replace(sources[index], **changes)
    monkeypatch.setitem(dl.DATASETS, dataset, replace(spec, sources=tuple(sources)))


def test_download_verifies_and_moves_into_place(server, tmp_path: Path):
    body = bytes(range(256)) * 4000
    server.files["blob.bin"] = body
    path = dl.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(body), progress=False)
    assert path.read_bytes() == body
    assert not (tmp_path / "blob.bin.part").exists()


def test_download_resumes_a_partial_file_with_a_range_request(server, tmp_path: Path):
    body = b"0123456789" * 50_000
    server.files["blob.bin"] = body
    server.cut_after = 123_456
    with pytest.raises(dl.DownloadError, match="resume"):
        dl.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(body), progress=False)
    partial = tmp_path / "blob.bin.part"
    assert partial.stat().st_size == 123_456 and not (tmp_path / "blob.bin").exists()
    dl.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(body), progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == body
    assert server.requests[-1] == ("blob.bin", "bytes=123456-")


def test_download_restarts_when_the_server_ignores_range(server, tmp_path: Path):
    body = b"abcdef" * 10_000
    server.files["blob.bin"] = body
    server.honour_range = False
    (tmp_path / "blob.bin.part").write_bytes(b"garbage that must not be kept")
    dl.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(body), progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == body


def test_a_complete_part_is_finished_after_416(server, tmp_path: Path):
    body = b"complete" * 100
    server.files["blob.bin"] = body
    (tmp_path / "blob.bin.part").write_bytes(body)
    dl.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=_sha(body), progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == body


def test_checksum_mismatch_is_an_error_and_leaves_nothing_in_place(server, tmp_path: Path):
    server.files["blob.bin"] = b"the server's version"
    with pytest.raises(dl.ChecksumError, match="blob.bin.*expected 00"):
        dl.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256="00" * 32, progress=False)
    assert not (tmp_path / "blob.bin").exists() and not (tmp_path / "blob.bin.part").exists()


def test_http_errors_name_the_url(server, tmp_path: Path):
    with pytest.raises(dl.DownloadError, match="missing.bin: HTTP 404"):
        dl.download(f"{server.url}/missing.bin", tmp_path / "missing.bin", progress=False)


def test_unpack_refuses_members_outside_the_target(tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        dl.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_unpack_a_tar_archive_keeps_the_prefix_members_and_checks_hashes(tmp_path: Path):
    archive = tmp_path / "features.tar.gz"
    payload = {"data/features/a.npy": b"aaaa", "data/features/sub/b.npy": b"bb", "data/README": b"r"}
    with tarfile.open(archive, "w:gz") as bundle:
        for name, content in payload.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    written = dl.unpack(archive, tmp_path / "out", member_prefix="data/features/",
                        member_sha256={"a.npy": _sha(b"aaaa")}, progress=False)
    assert sorted(written) == [tmp_path / "out" / "a.npy", tmp_path / "out" / "sub" / "b.npy"]
    assert (tmp_path / "out" / "sub" / "b.npy").read_bytes() == b"bb"
    assert not (tmp_path / "out" / "README").exists()
    with pytest.raises(dl.ChecksumError):
        dl.unpack(archive, tmp_path / "again", member_prefix="data/features/",
                  member_sha256={"a.npy": _sha(b"other")}, progress=False)


def _charades_zip(train_csv: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("Charades/Charades_v1_train.csv", train_csv)
        bundle.writestr("Charades/README.txt", "readme")
        bundle.writestr("other/ignored.txt", "not under the prefix")
    return buffer.getvalue()


def test_prepare_charades_from_a_loopback_mirror(server, tmp_path: Path, monkeypatch):
    csv = b"id,subject,scene\nAAAAA,s1,Kitchen\n"
    _pin(monkeypatch, "charades", 0, member_sha256={"Charades_v1_train.csv": _sha(csv)})
    server.files["Charades.zip"] = _charades_zip(csv)
    with pytest.raises(dl.LicenceNotAccepted, match="non-commercial"):
        dl.prepare("charades", tmp_path, mirror=server.url, progress=False)
    report = dl.prepare("charades", tmp_path, mirror=server.url, accept_licence=True, progress=False)
    folder = tmp_path / "charades"
    assert (folder / "Charades_v1_train.csv").read_bytes() == csv
    assert (folder / "README.txt").exists() and not (folder / "ignored.txt").exists()
    assert not (tmp_path / "downloads" / "charades" / "Charades.zip").exists()  # archive removed
    manifest = json.loads((folder / "prepared.json").read_text())
    assert manifest["annotations"]["sha256"] == _sha(server.files["Charades.zip"])
    assert manifest["annotations"]["verified"] is True
    assert "annotations" in report.summary()
    # a second run finds the manifest and downloads nothing
    count = len(server.requests)
    dl.prepare("charades", tmp_path, mirror=server.url, accept_licence=True, progress=False)
    assert len(server.requests) == count


def test_a_corrupt_archive_member_is_rejected(server, tmp_path: Path):
    server.files["Charades.zip"] = _charades_zip(b"not the official csv\n")
    with pytest.raises(dl.ChecksumError, match="Charades_v1_train.csv"):
        dl.prepare("charades", tmp_path, mirror=server.url, accept_licence=True, progress=False)
    assert not (tmp_path / "charades" / "Charades_v1_train.csv").exists()


def test_prepare_coin_from_local_files_lists_the_manual_steps(tmp_path: Path, monkeypatch):
    local = tmp_path / "already_downloaded"
    local.mkdir()
    coin_json = {"database": {"LtRSn-ntcLY": {"class": "ReplaceCDDriveWithSSD"},
                              "abcdefghijk": {"class": "ChangeCarTire"}}}
    (local / "COIN.json").write_text(json.dumps(coin_json))
    (local / "taxonomy.xlsx").write_bytes(b"xlsx bytes of the fixture")
    _pin(monkeypatch, "coin", 1, sha256=_sha(b"xlsx bytes of the fixture"))
    report = dl.prepare("coin", tmp_path / "data", components=("annotations", "videos"),
                        local_dir=local, accept_licence=True, progress=False)
    folder = tmp_path / "data" / "coin"
    assert json.loads((folder / "COIN.json").read_text()) == coin_json
    urls = (folder / "videos_to_fetch.txt").read_text().split()
    assert urls == ["https://www.youtube.com/watch?v=LtRSn-ntcLY",
                    "https://www.youtube.com/watch?v=abcdefghijk"]
    assert report.prepared["taxonomy"]["verified"] is True
    assert report.prepared["annotations"]["verified"] is False  # no pinned hash: recorded only
    summary = report.summary()
    assert "To fetch by hand" in summary and "yt-dlp -a" in summary and "videos_to_fetch.txt" in summary


def test_manual_only_components_need_no_licence_flag(tmp_path: Path):
    report = dl.prepare("breakfast", tmp_path, components=("videos",))
    assert len(report.manual) == 1 and "serre-lab" in report.manual[0]
    assert str(tmp_path) in report.manual[0]


def test_pinned_hashes_match_the_shared_annotation_files(data_root: Path):
    """The pinned sha256s are those of the real files in $PCMCI_DATA_ROOT."""
    breakfast = dl.DATASETS["breakfast"].sources
    assert dl.sha256sum(data_root / "breakfast/malmm/train.json") == breakfast[0].sha256
    assert dl.sha256sum(data_root / "breakfast/mapping.txt") == breakfast[2].member_sha256["mapping.txt"]
    assert dl.sha256sum(data_root / "coin/taxonomy.xlsx") == dl.DATASETS["coin"].sources[1].sha256
    for name, digest in dl.DATASETS["charades"].sources[0].member_sha256.items():
        assert dl.sha256sum(data_root / "charades" / name) == digest, name


def test_unknown_dataset_and_component_are_clear_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="expected one of breakfast, coin, charades"):
        dl.prepare("kinetics", tmp_path)
    with pytest.raises(ValueError, match="unknown component"):
        dl.prepare("coin", tmp_path, components=("frames",))


def test_prepare_verifies_the_real_charades_annotations(data_root: Path, tmp_path: Path):
    """An archive laid out as the official Charades.zip, holding the real annotation files:
    every pinned member hash matches, and the files land unchanged."""
    local = tmp_path / "downloaded"
    local.mkdir()
    members = dl.DATASETS["charades"].sources[0].member_sha256
    with zipfile.ZipFile(local / "Charades.zip", "w") as bundle:
        for name in members:
            bundle.write(data_root / "charades" / name, f"Charades/{name}")
    report = dl.prepare("charades", tmp_path / "data", local_dir=local, accept_licence=True, progress=False)
    assert report.prepared["annotations"]["verified"] is True
    assert "non-commercial" in report.summary()
    for name, digest in members.items():
        assert dl.sha256sum(tmp_path / "data" / "charades" / name) == digest
