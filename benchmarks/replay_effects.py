"""What each diagnosis change saves and what it costs, measured by replay on baseline runs.

A baseline run (``--no-diagnosis``) records every epoch of every trial to its end, so
``bttackler replay`` can judge it again under other settings, as if they had acted live. For
every baseline run under the given folders this script replays:

* ``all``: the default settings (the paper's seven indicators, the three pace indicators
  and the two that judge inside epoch 1, LAR1 and PLC1);
* ``no-early``: the default settings without LAR1 and PLC1 (what the inside-epoch-1 verdicts
  add is the difference to ``all``; runs recorded before the probe wrote its record inside
  epoch 1 have none, and both variants agree there);
* ``+PLC1``: the default settings with PLC1 too (it is off by default);
* ``paper``: the paper's seven only (``--indicators AGV,EAG,ERG,PLC,LAR,ULC,NMG``);
* ``sticky``: the default indicators with the guard protecting for good once it protected
  (``guard_sticky = true``, the paper authors' code) instead of re-judging every epoch;

and prints, summed over the runs, per variant: trials claimed, the trial time that stopping
them would have saved, the share of claims made inside epoch 1 (before its end: LAR1, PLC1,
a NaN gradient), by the end of epoch 1 and of epoch 2, and the claims
on trials of each run's final top 10 that are not benign (false alarms; the target is 0);
then per indicator of ``all``: claims, time saved, false alarms. Every number is replay's.

``--config FILE`` replays with those settings over each run's own (for instance the current
defaults, ``--config bttackler.toml``, on runs recorded with older thresholds).

Usage: python benchmarks/replay_effects.py [--config FILE] DIR [DIR ...]   (runs found
       recursively)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import ROOT

PAPER = "AGV,EAG,ERG,PLC,LAR,ULC,NMG"
EARLY = ("LAR1", "PLC1")


def baselines(folders: list[Path]) -> list[Path]:
    """Run folders whose store says diagnosis was off (and no ETR rule acted)."""
    import sqlite3

    found = []
    for folder in folders:
        for db in sorted(folder.rglob("experiment.db")):
            meta = dict(sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
                "SELECT key, value FROM meta"
            ).fetchall())  # fmt: skip
            if json.loads(meta.get("diagnosis", "true")) is False and meta.get("etr") in (
                None, "null"
            ):  # fmt: skip
                found.append(db.parent)
    return found


def replay(run: Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bttackler.cli", "replay", str(run), "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"replay of {run} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def _with_sticky_guard(toml: str) -> str:
    """``toml`` with ``guard_sticky = true`` in its ``[diagnosis]`` table."""
    import tomli_w
    import tomllib

    config = tomllib.loads(toml)
    config.setdefault("diagnosis", {})["guard_sticky"] = True
    return tomli_w.dumps(config)


def _enabled(toml: str) -> list[str]:
    """``[indicators] enabled`` of ``toml`` over the package's defaults (bttackler.toml)."""
    import tomllib

    given = tomllib.loads(toml).get("indicators", {}).get("enabled")
    if given is None:
        given = tomllib.loads((ROOT / "bttackler.toml").read_text())["indicators"]["enabled"]
    return [str(name) for name in given]


def summarise(docs: list[dict[str, Any]]) -> dict[str, Any]:
    total = {"claimed": 0, "saved": 0.0, "false": 0, "in1": 0, "by1": 0, "by2": 0, "trials": 0}
    per: dict[str, dict[str, float]] = defaultdict(lambda: {"claimed": 0, "saved": 0.0, "false": 0})
    for doc in docs:
        total["trials"] += doc["replayed_trials"]
        for row in doc["indicators"]:
            if row["indicator"] == "all":
                total["claimed"] += row["claimed"]
                total["saved"] += row["saved_seconds"]
                total["false"] += len(row["false_alarms"])
                epochs = {int(k): v for k, v in row["epochs"].items()}
                total["by1"] += sum(v for k, v in epochs.items() if k <= 1)
                total["by2"] += sum(v for k, v in epochs.items() if k <= 2)
                total["in1"] += sum(1 for c in row["claims"] if c["epoch_count"] == 0)
            else:
                p = per[row["indicator"]]
                p["claimed"] += row["claimed"]
                p["saved"] += row["saved_seconds"]
                p["false"] += len(row["false_alarms"])
    return {"total": total, "per": dict(per)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, help="settings over each run's own")
    args = parser.parse_args()
    runs = baselines(args.folders)
    if not runs:
        raise SystemExit(
            "no baseline runs (diagnosis off) under " + ", ".join(map(str, args.folders))
        )
    with tempfile.TemporaryDirectory() as tmp:
        base = args.config.read_text() if args.config else ""
        plain = Path(tmp) / "plain.toml"
        plain.write_text(base)
        sticky = Path(tmp) / "sticky.toml"
        sticky.write_text(_with_sticky_guard(base))
        given = ("--config", str(plain))
        enabled = _enabled(base)
        variants = {
            "all": [replay(r, *given) for r in runs],
            "no-early": [
                replay(r, *given, "--indicators", ",".join(i for i in enabled if i not in EARLY))
                for r in runs
            ],
            "+PLC1": [replay(r, *given, "--indicators", ",".join([*enabled, "PLC1"])) for r in runs]
            if "PLC1" not in enabled
            else [],
            "paper": [replay(r, *given, "--indicators", PAPER) for r in runs],
            "sticky": [replay(r, "--config", str(sticky)) for r in runs],
        }
    print(f"replay of {len(runs)} baseline run(s): {', '.join(r.name for r in runs)}")
    print(f"{'variant':<8} {'trials':>6} {'claimed':>8} {'saved (s)':>10} {'in epoch 1':>10} "
          f"{'by epoch 1':>10} {'by epoch 2':>10} {'top-10 false alarms':>20}")  # fmt: skip
    for name, docs in variants.items():
        if not docs:
            continue
        t = summarise(docs)["total"]
        claimed = max(1, t["claimed"])
        print(f"{name:<8} {t['trials']:>6} {t['claimed']:>8} {t['saved']:>10.1f} "
              f"{100 * t['in1'] / claimed:>9.0f}% "
              f"{100 * t['by1'] / claimed:>9.0f}% {100 * t['by2'] / claimed:>9.0f}% "
              f"{t['false']:>20}")  # fmt: skip
    print("\nper indicator (default settings; each judged alone, so claims overlap):")
    print(f"{'indicator':<10} {'claimed':>8} {'saved (s)':>10} {'top-10 false alarms':>20}")
    for name, p in summarise(variants["all"])["per"].items():
        print(f"{name:<10} {int(p['claimed']):>8} {p['saved']:>10.1f} {int(p['false']):>20}")


if __name__ == "__main__":
    main()
