"""The README and docs/ agree with the code.

- every link of README.md and docs/*.md resolves (files and #anchors, as GitHub slugs headings);
- the README shows every command with an example, and the docs name every flag;
- the README's two commands are Makefile targets, and CI runs its test command;
- the ``--json`` schema in docs/results.md is ``JSON_SCHEMA_DOC`` of report.py, as it stands;
- docs/configuration.md names every key of bttackler.toml, with its default.

After a change to ``JSON_SCHEMA_DOC``, ``python tests/test_docs.py`` rewrites docs/results.md's
copy of it.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
RESULTS = DOCS / "results.md"
CONFIGURATION = DOCS / "configuration.md"
BEGIN = "<!-- JSON_SCHEMA_DOC begin: generated from bttackler/analysis/report.py, do not edit -->\n"
END = "<!-- JSON_SCHEMA_DOC end -->"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (their lines are not headings or links)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = defaultdict(int)
    found = set()
    for line in _prose(page.read_text()).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            base = slug(match.group(1))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def test_the_docs_exist() -> None:
    assert {p.name for p in PAGES} >= {"README.md", "cli.md", "configuration.md", "results.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in anchors(dest)):
            broken.append(target)
    assert not broken, f"{page.name}: links to nothing: {broken}"


def test_every_page_of_docs_is_linked_from_the_index() -> None:
    index = (DOCS / "README.md").read_text()
    assert [p.name for p in PAGES[1:] if p.name != "README.md" and f"({p.name})" not in index] == []
    assert "(docs/README.md)" in README.read_text()


def _commands() -> dict[str, Any]:
    from bttackler.cli import cli

    return dict(cli.commands)


def test_the_readme_shows_every_command_with_an_example() -> None:
    code = "\n".join(re.findall(r"^```\n(.*?)^```", README.read_text(), flags=re.S | re.M))
    missing = [
        name
        for name in _commands()
        if not re.search(rf"^(\.venv/bin/)?bttackler {name}( |$)", code, flags=re.M)
    ]
    assert not missing, f"README: no example of {missing}"


def test_the_docs_name_every_flag() -> None:
    from bttackler.cli import cli

    text = "\n".join(p.read_text() for p in PAGES)
    flags = [(None, p) for p in cli.params] + [
        (name, p) for name, command in _commands().items() for p in command.params
    ]
    missing = [
        f"{name or 'bttackler'} {opt}"
        for name, param in flags
        for opt in (*param.opts, *getattr(param, "secondary_opts", ()))
        if opt.startswith("--")
        and opt != "--help"
        and not re.search(re.escape(opt) + r"(?![\w-])", text)
    ]
    assert not missing, f"no page names {missing}"


def test_the_two_commands_are_make_targets_and_ci_runs_the_test_command() -> None:
    section = README.read_text().split("\n## The two commands\n", 1)[1]
    block = section.split("```\n", 2)[1]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for command in commands:
        assert re.search(rf"^{command.split()[1]}:", makefile, flags=re.M), command
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), flags=re.M)


def schema_block(schema: str) -> str:
    return f"{BEGIN}```\n{schema}```\n{END}"


def _current_block(text: str) -> str:
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


def test_the_json_schema_in_results_md_is_report_py_s() -> None:
    from bttackler.analysis import report

    assert _current_block(RESULTS.read_text()) == schema_block(report.JSON_SCHEMA_DOC), (
        "docs/results.md: the report schema differs from JSON_SCHEMA_DOC of "
        "bttackler/analysis/report.py; run `python tests/test_docs.py` to copy it"
    )


def _toml_keys() -> dict[str, dict[str, Any]]:
    """bttackler.toml as {table: {key: value}}, sub-tables as ``indicators.AGV``."""
    keys: dict[str, dict[str, Any]] = defaultdict(dict)

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(f"{prefix}.{key}" if prefix else key, value)
            else:
                keys[prefix][key] = value

    walk("", tomllib.loads((ROOT / "bttackler.toml").read_text()))
    return keys


def _documented() -> dict[str, dict[str, str]]:
    """docs/configuration.md's table rows as {table: {key: default cell}}. A heading naming a
    `[table]` sets the table; so does a row whose first cell is one; an empty first cell
    keeps the row's table."""
    keys: dict[str, dict[str, str]] = defaultdict(dict)
    table = None
    for line in CONFIGURATION.read_text().splitlines():
        if line.startswith("#"):
            match = re.search(r"`\[([\w.]+)\]`", line)
            table = match.group(1) if match else None
            continue
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells[0] in ("key", "table"):
            continue
        at = 0
        match = re.fullmatch(r"`\[([\w.]+)\]`", cells[0])
        if match:
            table, at = match.group(1), 1
        elif cells[0] == "":
            at = 1
        key = re.fullmatch(r"`(\w+)`", cells[at])
        assert key and table, f"docs/configuration.md: cannot read the row {line!r}"
        keys[table][key.group(1)] = cells[at + 1]
    return keys


def test_configuration_md_names_every_key_of_bttackler_toml() -> None:
    documented = _documented()
    missing = [
        f"[{table}] {key}"
        for table, keys in _toml_keys().items()
        for key in keys
        if key not in documented.get(table, {})
    ]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_configuration_md_gives_the_shipped_defaults() -> None:
    shipped = _toml_keys()
    wrong = []
    for table, keys in _documented().items():
        for key, cell in keys.items():
            literal = re.fullmatch(r"`([^`]+)`", cell)
            if key in shipped.get(table, {}) and literal:
                if tomllib.loads(f"v = {literal.group(1)}")["v"] != shipped[table][key]:
                    wrong.append(f"[{table}] {key} = {cell}")
    assert not wrong, f"docs/configuration.md: defaults unlike bttackler.toml: {wrong}"


# [run] keys the shipped file leaves out (or comments out), with a value the code accepts
RUN_KEYS_NOT_SHIPPED = {
    "space": "space.yaml",
    "name": "first",
    "task_options": {"epochs": "5"},
    "data_dir": "data",
    "etr": "lce",
    "max_trials": 5,
    "ray_address": "auto",
}


def test_configuration_md_names_only_keys_the_code_reads() -> None:
    from bttackler.core.config import run_settings

    shipped = _toml_keys()
    extra = {
        (table, key)
        for table, keys in _documented().items()
        for key in keys
        if key not in shipped.get(table, {})
    }
    assert {t for t, _ in extra} <= {"run"}, f"not in bttackler.toml: {sorted(extra)}"
    for _, key in sorted(extra):
        assert key in RUN_KEYS_NOT_SHIPPED, f"[run] {key} is neither shipped nor known"
        run = {
            key: RUN_KEYS_NOT_SHIPPED[key],
            **({"backend": "ray"} if key == "ray_address" else {}),
        }
        run_settings({"run": run})  # raises on an unknown key


def main() -> None:
    """Copy JSON_SCHEMA_DOC of report.py into docs/results.md."""
    sys.path.insert(0, str(ROOT))
    from bttackler.analysis import report

    text = RESULTS.read_text()
    RESULTS.write_text(text.replace(_current_block(text), schema_block(report.JSON_SCHEMA_DOC)))
    print(f"{RESULTS.relative_to(ROOT)}: the report schema copied from JSON_SCHEMA_DOC")


if __name__ == "__main__":
    main()
