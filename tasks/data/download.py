"""Finding, downloading and verifying dataset files; no half-written file is ever left behind.

Where data is looked for, in order: the trial's ``--data-dir``, ``$BTTACKLER_DATA``, then
``~/.cache/bttackler``. Downloads go to the first of those directories, through a temporary
file in the same directory that is checked against its published checksum and only then
renamed into place (``os.replace`` is atomic on one filesystem). Any failure the user can fix
(file missing and no network, checksum mismatch, corrupt file) raises
:class:`bttackler.core.errors.BttacklerError` with one line saying what, where, and how to fix it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from bttackler.core.errors import BttacklerError

ENV_DATA_DIR = "BTTACKLER_DATA"
ENV_NO_DOWNLOAD = "BTTACKLER_NO_DOWNLOAD"  # set to 1 to never touch the network
DEFAULT_CACHE = Path("~/.cache/bttackler")
TIMEOUT_SECONDS = 30.0
CHUNK = 1 << 20


def search_dirs(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Directories to look in, most specific first, without duplicates."""
    candidates: list[Path] = []
    if data_dir:
        candidates.append(Path(data_dir))
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        candidates.append(Path(env))
    candidates.append(DEFAULT_CACHE)
    seen: set[Path] = set()
    out: list[Path] = []
    for path in candidates:
        path = path.expanduser()
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: Path, md5: str | None) -> None:
    """Raise a one-line :class:`BttacklerError` when ``path`` does not have checksum ``md5``."""
    if md5 is None:
        return
    actual = file_digest(path, "md5")
    if actual != md5:
        raise BttacklerError(
            f"{path} has md5 {actual}, expected {md5}: the file is damaged or not the "
            f"published one; delete it and run again to download a fresh copy"
        )


def find_file(names: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    """The first existing ``dir/name``, trying every name in every directory in order."""
    for directory in dirs:
        for name in names:
            path = directory / name
            if path.is_file():
                return path
    return None


def downloads_allowed() -> bool:
    return os.environ.get(ENV_NO_DOWNLOAD, "").strip() not in ("1", "true", "yes")


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """A temporary path beside ``dest``, renamed onto ``dest`` only if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download(url: str, dest: Path, *, md5: str | None, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``md5`` before the rename.

    Raises :class:`OSError` (``urllib.error.URLError`` included) when the network fails,
    and :class:`BttacklerError` when the downloaded bytes have the wrong checksum.
    """
    with atomic_path(dest) as tmp:
        digest = hashlib.md5()
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise BttacklerError(
                f"downloaded {url} has md5 {digest.hexdigest()}, expected {md5}; "
                f"the server sent something else; try again later or put a copy in {dest.parent}"
            )
    return dest


def missing_message(what: str, dirs: Sequence[Path], url: str, reason: str) -> str:
    """One line: which file is missing, where it was looked for, how to provide it."""
    where = ", ".join(str(d) for d in dirs)
    return (
        f"{what} not found in {where} and not downloadable ({reason}); "
        f"download {url} into one of those directories, or pass --data-dir DIR "
        f"(or set {ENV_DATA_DIR}=DIR) pointing at a copy"
    )


def fetch(
    filename: str,
    url: str,
    *,
    md5: str | None,
    data_dir: str | os.PathLike[str] | None = None,
    aliases: Sequence[str] = (),
    subdir: str = "",
    system_dirs: Sequence[Path] = (),
    verify_local: bool = True,
) -> Path:
    """Find ``filename`` (or one of ``aliases``) locally, else download it and verify ``md5``.

    Looks in :func:`search_dirs` and then in ``system_dirs`` (directories a system package
    manager fills; it has verified their files, which may be recompressed, so they are not
    md5-checked). A file found in a data directory under ``filename`` is md5-checked unless
    ``verify_local`` is false; an alias (for example an already decompressed copy) and an
    unverified file are the caller's to validate. Downloads are always md5-checked.
    ``subdir`` keeps files whose names collide across datasets apart (``fashion-mnist/``).
    """
    dirs = [d / subdir if subdir else d for d in search_dirs(data_dir)]
    found = find_file([filename, *aliases], dirs)
    if found is not None:
        if verify_local and found.name == filename:
            verify_md5(found, md5)
        return found
    found = find_file([filename, *aliases], system_dirs)
    if found is not None:
        return found
    looked = [*dirs, *system_dirs]
    if not downloads_allowed():
        raise BttacklerError(missing_message(filename, looked, url, f"{ENV_NO_DOWNLOAD} is set"))
    dest = dirs[0] / filename
    try:
        return download(url, dest, md5=md5)
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or repr(exc)
        raise BttacklerError(missing_message(filename, looked, url, str(reason))) from None
