"""Sources whose ``path`` is a URL: fetched through Snakemake's storage support, checked,
kept under the results folder.

A source's ``path`` may be a URL (``https://...``; ``s3://`` and the other schemes of
Snakemake's storage plugins where they are installed). The rule ``download_source`` takes it
as a ``storage()`` input, so the storage plugin fetches it (``snakemake-storage-plugin-http``
for http and https), and :func:`finish` checks it before anything reads it:

* against the source's ``sha256`` / ``md5``, or, for the official CIFAR archives
  (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``), their published MD5;
* that a tar archive reads to its end (a download cut short fails here, checksum or not);

then writes it, atomically, to ``<results>/downloads/<source>/<file name>``, which
``prepare_source`` reads. A check that fails deletes the fetched copy too, so that the next
run downloads the file again instead of trusting it, and stops the job with one message
naming the source and the URL. Before any job, :func:`check_reachable` asks the server for
the file (an HTTP HEAD), so that a wrong URL or a server that cannot be reached stops the
run at once with one message.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from vabal import io
from vabal.errors import DataError

#: where a source's download is kept, under the results folder
DOWNLOADS = "downloads/{source}/{name}"


def is_url(path) -> bool:
    return isinstance(path, str) and "://" in path


def file_name(url: str) -> str:
    """The file name a URL's path ends with (``download`` if none)."""
    return PurePosixPath(urlparse(url).path).name or "download"


def download_path(source: str, url: str) -> str:
    """The download of ``source`` under the results folder."""
    return DOWNLOADS.format(source=source, name=file_name(url))


def check_reachable(url: str, timeout: float = 20.0) -> None:
    """Ask an http(s) server for ``url`` (HEAD): one DataError when it cannot be reached or
    answers with an error. Other schemes are their plugin's business."""
    import urllib.error
    import urllib.request

    if urlparse(url).scheme not in ("http", "https"):
        return
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            pass
    except urllib.error.HTTPError as exc:
        raise DataError(
            f"{url} answered HTTP {exc.code} {exc.reason}; check the URL (or point the "
            "source's path at a local copy)"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"cannot download {url} ({reason}); check the URL and the network (or point the "
            "source's path at a local copy)"
        ) from None


def finish(source: str, url: str, fetched, out, sha256: str | None, md5: str | None) -> None:
    """Check the fetched file and keep it at ``out``; on failure delete it (the next run
    downloads it again) and raise one DataError naming the source and the URL."""
    from vabal.data.sources import _OFFICIAL_MD5, verify_checksum

    fetched = Path(fetched)
    try:
        if sha256 or md5:
            verify_checksum(fetched, sha256=sha256, md5=md5)
        elif file_name(url) in _OFFICIAL_MD5:
            verify_checksum(fetched, md5=_OFFICIAL_MD5[file_name(url)])
        if ".tar" in file_name(url) or file_name(url).endswith(".tgz"):
            read_through(fetched)
        with io.atomic_path(out) as tmp:
            shutil.copyfile(fetched, tmp)
    except DataError as exc:
        fetched.unlink(missing_ok=True)
        raise DataError(
            f"sources.{source} ({url}): {exc}; the download was deleted, the next run "
            "fetches it again"
        ) from None


def read_through(path: Path) -> None:
    """Read every member of a tar archive to its end: a truncated or corrupt download fails."""
    import lzma
    import zlib

    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile():
                    stream = tar.extractfile(member)
                    while stream.read(1 << 20):
                        pass
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        raise DataError(f"{path.name} is truncated or not a tar archive ({exc})") from None
