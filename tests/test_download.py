"""A source whose path is a URL, through Snakemake's storage plugin for http, against an HTTP
server on 127.0.0.1 (Python's http.server) serving a small archive of the official CIFAR-10
format: the download, its checksum, and the four ways it can go wrong."""

from __future__ import annotations

import copy
import hashlib
import shutil
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, run_snakemake
from test_sources import _cifar10_folder, _pack

pytestmark = pytest.mark.slow

META = "results/data/cifar10/meta.json"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(folder served, base URL) of a local HTTP server, and a CIFAR-10-format archive."""
    root = tmp_path_factory.mktemp("served")
    top, _ = _cifar10_folder(tmp_path_factory.mktemp("src"), per_batch=4, test_n=3)
    archive = _pack(root / "standin-cifar-10.tar.gz", top, "cifar-10-batches-py")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", archive
    httpd.shutdown()


def config_for(url: str, **checksum) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["sources"] = {"cifar10": {"kind": "cifar10", "path": url, **checksum}}
    config["datasets"] = {"c10": {"source": "cifar10", "budget": 5, "rounds": 1}}
    config["figures"] = {}
    return config


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(work: Path) -> list[Path]:
    """Files of the download left anywhere: the kept copy or Snakemake's storage copy."""
    places = [work / "results" / "downloads", work / ".snakemake" / "storage"]
    return [p for place in places if place.exists() for p in place.rglob("*") if p.is_file()]


def test_a_url_is_downloaded_once_checked_and_prepared(server, tmp_path):
    root, base, archive = server
    url = f"{base}/{archive.name}"
    config = config_for(url, sha256=sha256(archive))
    proc = run_snakemake(tmp_path, config, targets=[META])
    assert "download_source" in proc.stdout + proc.stderr
    kept = tmp_path / "results" / "downloads" / "cifar10" / archive.name
    assert kept.read_bytes() == archive.read_bytes()
    assert (tmp_path / META).exists()
    again = run_snakemake(tmp_path, config, targets=[META], extra=["-n"])
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_local_path_still_overrides_the_url(server, tmp_path):
    _, _, archive = server
    config = config_for(str(archive))
    run_snakemake(tmp_path, config, targets=[META])
    assert not (tmp_path / "results" / "downloads").exists()


def _fails(work: Path, config: dict, needles: list[str], startup: bool):
    proc = run_snakemake(work, config, targets=[META], check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for needle in needles:
        assert needle in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    if startup:  # stopped before any job, with one message
        assert "Job stats" not in out and proc.stderr.count("error:") == 1, out[-3000:]
    assert not (work / META).exists() and leftovers(work) == []
    return out


def test_an_unreachable_server_stops_the_run_at_start(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"
    _fails(tmp_path, config_for(url), ["sources.cifar10.path", f"cannot download {url}"], True)


def test_an_http_error_stops_the_run_at_start(server, tmp_path):
    _, base, _ = server
    url = f"{base}/no-such-file.tar.gz"
    _fails(tmp_path, config_for(url), [f"{url} answered HTTP 404"], True)


def test_a_checksum_mismatch_deletes_the_download(server, tmp_path):
    _, base, archive = server
    url = f"{base}/{archive.name}"
    needles = [f"sources.cifar10 ({url})", "checksum mismatch", "the download was deleted"]
    _fails(tmp_path, config_for(url, sha256="0" * 64), needles, False)


def test_a_truncated_download_is_fetched_again_by_the_next_run(server, tmp_path):
    root, base, archive = server
    cut = root / "cut-cifar-10.tar.gz"
    data = archive.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    url = f"{base}/{cut.name}"
    needles = [f"sources.cifar10 ({url})", "truncated", "the download was deleted"]
    _fails(tmp_path, config_for(url), needles, False)
    shutil.copyfile(archive, cut)  # the server has the whole file now
    run_snakemake(tmp_path, config_for(url), targets=[META])
    assert (tmp_path / "results" / "downloads" / "cifar10" / cut.name).read_bytes() == data
