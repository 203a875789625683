"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer`` serving one
page, its static files (shipped in this package: no network at run time) and JSON endpoints
that the page polls while a run is going.

Endpoints (GET): ``/`` the page; ``/static/NAME``; ``/api/runs`` the runs list;
``/api/run?run=KEY`` a run's trials and figures; ``/api/trial?run=KEY&trial=N`` a trial's
curves and per-layer statistics; ``/api/compare?run=KEY&run=KEY`` several runs' figures
overlaid. ``KEY`` is a name the runs list gave: no path from a request is ever opened.
A store that cannot be read at the moment answers 503 with ``{"error": ...}``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bttackler.analysis.dashboard import data
from bttackler.core.errors import BttacklerError
from bttackler.core.jsonsafe import finite_or_none
from bttackler.core.objective import CountRule

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def encode(doc: Any) -> bytes:
    return json.dumps(finite_or_none(doc), separators=(",", ":"), allow_nan=False).encode()


class Registry:
    """The runs the dashboard shows: the ones named on the command line and those found in
    the folders named there (re-scanned on every runs list, so new runs appear), each under a
    unique key; and a cache of each store's last read, kept while the store is unchanged."""

    def __init__(self, targets: Sequence[Path], count: CountRule) -> None:
        self.targets = [Path(t) for t in targets]
        self.count = count
        self._lock = threading.Lock()
        self._keys: dict[str, Path] = {}
        self._cache: dict[Path, data.Snapshot] = {}
        self._docs: dict[tuple[str, tuple[int, ...]], bytes] = {}
        # the parallel-coordinates view of each run's last store version: a live run's page is
        # rebuilt on every refresh, its troubles only when the store changed
        self._parallel: dict[str, tuple[tuple[int, ...], dict[str, Any] | None]] = {}

    def scan(self) -> dict[str, Path]:
        runs = data.discover(self.targets)
        with self._lock:
            known = {p: k for k, p in self._keys.items()}
            for path in runs:
                if path in known:
                    continue
                key = path.name
                n = 2
                while key in self._keys:
                    key, n = f"{path.name}~{n}", n + 1
                self._keys[key] = path
                known[path] = key
            return {known[p]: p for p in runs}

    def path(self, key: str) -> Path:
        with self._lock:
            path = self._keys.get(key)
        if path is None:
            self.scan()
            with self._lock:
                path = self._keys.get(key)
        if path is None:
            raise LookupError(f"no run {key!r}")
        return path

    def snapshot(self, path: Path) -> data.Snapshot:
        version = data.store_version(path)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached.version == version:
            return cached
        snap = data.read_run(path)
        with self._lock:
            self._cache[path] = snap
        return snap

    # ------------------------------------------------------------ documents
    def runs_doc(self) -> dict[str, Any]:
        runs = []
        for key, path in self.scan().items():
            try:
                runs.append(data.run_summary(key, self.snapshot(path), self.count))
            except BttacklerError as exc:
                runs.append({"key": key, "name": path.name, "path": str(path),
                             "state": "unreadable", "error": str(exc)})  # fmt: skip
        single = len(self.targets) == 1 and data.is_run(self.targets[0])
        return {"targets": [str(t) for t in self.targets], "single_run": single,
                "count": self.count.value, "runs": runs}  # fmt: skip

    def run_bytes(self, key: str) -> bytes:
        path = self.path(key)
        snap = self.snapshot(path)
        cache_key = (f"run:{key}", snap.version)
        with self._lock:
            cached = self._docs.get(cache_key)
        if cached is not None and data.run_state(snap) != "running":
            return cached
        body = encode(data.run_doc(key, snap, self.count, self._parallel_view(key, snap)))
        with self._lock:
            self._docs = {k: v for k, v in self._docs.items() if k[0] != cache_key[0]}
            self._docs[cache_key] = body
        return body

    def _parallel_view(self, key: str, snap: data.Snapshot) -> dict[str, Any] | None:
        with self._lock:
            kept = self._parallel.get(key)
        if kept is not None and kept[0] == snap.version:
            return kept[1]
        view = data.parallel(snap.run, self.count)
        with self._lock:
            self._parallel[key] = (snap.version, view)
        return view

    def trial_doc(self, key: str, trial_id: int) -> dict[str, Any]:
        return data.trial_doc(self.path(key), trial_id, self.count)

    def compare_doc(self, keys: Sequence[str]) -> dict[str, Any]:
        snaps = {key: self.snapshot(self.path(key)) for key in keys}
        return {
            "runs": [data.run_summary(k, s, self.count) for k, s in snaps.items()],
            "count": self.count.value,
            "count_label": self.count.label,
            "figures": data.overlay_figures(snaps, self.count),
        }


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # quiet: the terminal keeps the one line saying where the page is

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, doc: Any, status: int = 200) -> None:
        self._send(status, doc if isinstance(doc, bytes) else encode(doc), "application/json")

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        query = parse_qs(url.query)
        registry = self.server.registry
        try:
            if url.path in ("/", "/index.html"):
                self._static("index.html")
            elif url.path.startswith("/static/"):
                self._static(url.path[len("/static/") :])
            elif url.path == "/api/runs":
                self._json(registry.runs_doc())
            elif url.path == "/api/run":
                self._json(registry.run_bytes(query["run"][0]))
            elif url.path == "/api/trial":
                self._json(registry.trial_doc(query["run"][0], int(query["trial"][0])))
            elif url.path == "/api/compare":
                self._json(registry.compare_doc(query["run"]))
            else:
                self._json({"error": f"no page {url.path}"}, HTTPStatus.NOT_FOUND)
        except (KeyError, ValueError, LookupError, data.NoSuchTrial) as exc:
            self._json({"error": f"bad request: {exc}"}, HTTPStatus.NOT_FOUND)
        except BttacklerError as exc:
            self._json({"error": str(exc)}, HTTPStatus.SERVICE_UNAVAILABLE)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _static(self, name: str) -> None:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        path = files.get(name)
        if path is None:
            self._json({"error": f"no file {name}"}, HTTPStatus.NOT_FOUND)
            return
        self._send(200, path.read_bytes(), CONTENT_TYPES.get(path.suffix, "text/plain"))


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], registry: Registry) -> None:
        self.registry = registry
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)


def start(targets: Sequence[Path], host: str, port: int, count: CountRule) -> DashboardServer:
    """Check the targets (each run's store is read once), then bind ``host:port``.

    Raises:
        BttacklerError: a target is not a run nor a folder of runs; a run named on its own
            cannot be read now (a writer holds its lock); the port is in use or not allowed.
    """
    registry = Registry(targets, count)
    for path in registry.scan().values():
        try:
            registry.snapshot(path)
        except BttacklerError:
            if any(Path(t) == path for t in registry.targets):
                raise
            # in a folder of runs: listed as unreadable, the others are shown
    try:
        return DashboardServer((host, port), registry)
    except OSError as exc:
        if exc.errno == 98 or "in use" in str(exc):
            raise BttacklerError(
                f"port {port} on {host} is in use (another dashboard?): choose another with "
                "--port, or --port 0 for any free one"
            ) from exc
        raise BttacklerError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
