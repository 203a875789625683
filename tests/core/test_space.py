from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace, load_space, space_from_mapping

ALL_TYPES = {
    "c": {"_type": "choice", "_value": ["relu", True, 3, 0.5]},
    "ri": {"_type": "randint", "_value": [2, 5]},
    "u": {"_type": "uniform", "_value": [-1.0, 1.0]},
    "qu": {"_type": "quniform", "_value": [16, 128, 16]},
    "quf": {"_type": "quniform", "_value": [0.0, 1.0, 0.1]},
    "lu": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 1000, 10]},
    "n": {"_type": "normal", "_value": [0, 2]},
    "qn": {"_type": "qnormal", "_value": [10, 3, 2]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [2, 0.5, 0.5]},
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_type_samples_valid_plain_values() -> None:
    space = space_from_mapping(ALL_TYPES, source="all")
    rng = np.random.default_rng(0)
    seen_choices = set()
    for _ in range(300):
        params = space.sample(rng)
        assert list(params) == list(ALL_TYPES)
        space.validate_params(params)
        seen_choices.add((type(params["c"]), params["c"]))
        assert type(params["ri"]) is int and 2 <= params["ri"] < 5
        assert type(params["u"]) is float and -1 <= params["u"] <= 1
        assert type(params["qu"]) is int and params["qu"] % 16 == 0 and 16 <= params["qu"] <= 128
        assert type(params["quf"]) is float and round(params["quf"] * 10) == params["quf"] * 10
        assert type(params["lu"]) is float and 1e-4 <= params["lu"] <= 1e-1
        assert type(params["qlu"]) is int and 1 <= params["qlu"] <= 1000
        assert type(params["n"]) is float
        assert type(params["qn"]) is int and params["qn"] % 2 == 0
        assert type(params["ln"]) is float and params["ln"] > 0
        assert type(params["qln"]) is float and params["qln"] >= 0
    assert seen_choices == {(str, "relu"), (bool, True), (int, 3), (float, 0.5)}
    json.dumps(params)


def test_randint_upper_is_exclusive() -> None:
    space = space_from_mapping({"k": {"_type": "randint", "_value": [0, 2]}})
    rng = np.random.default_rng(1)
    assert {space.sample(rng)["k"] for _ in range(100)} == {0, 1}
    assert not space.contains({"k": 2})


def test_kinds_and_counts() -> None:
    space = space_from_mapping(ALL_TYPES)
    assert space["c"].kind == "categorical"
    assert space["ri"].kind == space["qu"].kind == space["qln"].kind == "discrete"
    assert space["u"].kind == space["lu"].kind == space["ln"].kind == "continuous"
    assert space.counts() == {"continuous": 4, "discrete": 6, "categorical": 1}
    assert space.names == tuple(ALL_TYPES)


def test_contains_checks_types_bounds_and_names() -> None:
    space = space_from_mapping(ALL_TYPES)
    good = space.sample(np.random.default_rng(3))
    assert space.contains(good)
    assert not space.contains({**good, "c": 1})  # True is a choice, 1 is not
    assert not space.contains({**good, "ri": 2.0})
    assert not space.contains({**good, "u": 1.5})
    assert not space.contains({**good, "qu": 20})
    assert not space.contains({**good, "lu": "0.01"})
    assert not space.contains({k: v for k, v in good.items() if k != "n"})
    assert not space.contains({**good, "extra": 1})
    with pytest.raises(BttacklerError, match="parameter 'u'"):
        space.validate_params({**good, "u": 2.0})


def test_json_and_yaml_load_the_same(tmp_path: Path) -> None:
    from_json = load_space(write(tmp_path, "s.json", json.dumps(ALL_TYPES)))
    from_yaml = load_space(write(tmp_path, "s.yaml", yaml.safe_dump(ALL_TYPES, sort_keys=False)))
    from_yml = load_space(write(tmp_path, "s.yml", yaml.safe_dump(ALL_TYPES, sort_keys=False)))
    assert from_json.parameters == from_yaml.parameters == from_yml.parameters
    assert from_json.source.endswith("s.json")
    assert from_yaml["c"].values == ("relu", True, 3, 0.5)
    assert type(from_yaml["c"].values[1]) is bool


def test_yaml_booleans_and_strings_are_kept(tmp_path: Path) -> None:
    text = "opt:\n  _type: choice\n  _value: [adam, sgd, true, 1, 1.5]\n"
    space = load_space(write(tmp_path, "b.yaml", text))
    assert [type(v) for v in space["opt"].values] == [str, str, bool, int, float]


ERRORS = [
    ([1, 2], "expected a mapping of parameter names"),
    ({}, "the space is empty"),
    ({"lr": {"_type": "gauss", "_value": [0, 1]}}, "parameter 'lr': unknown _type 'gauss'"),
    ({"lr": {"_type": "uniform"}}, "parameter 'lr': uniform is missing \"_value\""),
    ({"lr": {"_type": "uniform", "_value": [0]}}, "parameter 'lr': uniform needs 2 values"),
    ({"lr": {"_type": "quniform", "_value": [0, 1]}}, "parameter 'lr': quniform needs 3 values"),
    ({"lr": {"_type": "uniform", "_value": [0, "a"]}}, "parameter 'lr': uniform needs finite"),
    ({"lr": {"_type": "uniform", "_value": [1, 1]}}, "parameter 'lr': uniform needs low < high"),
    ({"lr": {"_type": "randint", "_value": [5, 2]}}, "parameter 'lr': randint needs lower < upper"),
    ({"lr": {"_type": "randint", "_value": [0.5, 2]}}, "parameter 'lr': randint needs integer"),
    (
        {"lr": {"_type": "loguniform", "_value": [0, 1]}},
        "parameter 'lr': loguniform needs 0 < low < high, got [0, 1]",
    ),
    ({"lr": {"_type": "qloguniform", "_value": [-1, 1, 1]}}, "qloguniform needs 0 < low"),
    ({"lr": {"_type": "quniform", "_value": [0, 1, 0]}}, "parameter 'lr': quniform needs q > 0"),
    ({"lr": {"_type": "normal", "_value": [0, 0]}}, "parameter 'lr': normal needs sigma > 0"),
    ({"lr": {"_type": "qlognormal", "_value": [0, 1, -1]}}, "qlognormal needs q > 0"),
    ({"lr": {"_type": "choice", "_value": []}}, "parameter 'lr': choice needs at least one"),
    (
        {"lr": {"_type": "choice", "_value": [{"_name": "a", "x": {}}]}},
        "parameter 'lr': nested choices are not supported",
    ),
    ({"lr": 0.1}, "parameter 'lr': expected a mapping"),
    ({"lr": {"_type": "uniform", "_value": 3}}, "parameter 'lr': \"_value\" must be a list"),
]


@pytest.mark.parametrize(("mapping", "message"), ERRORS)
def test_validation_errors_name_file_and_parameter(
    tmp_path: Path, mapping: object, message: str
) -> None:
    path = write(tmp_path, "x.json", json.dumps(mapping))
    with pytest.raises(BttacklerError) as info:
        load_space(path)
    text = str(info.value)
    assert text.startswith(f"search space {path}: ")
    assert message in text
    assert "\n" not in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BttacklerError, match="nope.yaml: file not found"):
        load_space(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"lr": ', "not valid JSON"),
        ("bad.yaml", "lr: [1, 2\n  x: }", "not valid YAML"),
    ],
)
def test_unparseable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(BttacklerError) as info:
        load_space(write(tmp_path, name, text))
    assert name in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_space_is_frozen() -> None:
    space = space_from_mapping(ALL_TYPES)
    assert isinstance(space, SearchSpace)
    with pytest.raises(AttributeError):
        space.source = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: {_typ: uniform, _value: [0, 1]}\n", 'has no "_type" (its keys: _typ, _value)'),
        ("", "the file is empty"),
        ("lr: {_type: uniform\n", "not valid YAML (while parsing a flow mapping in space.yaml"),
    ],
)
def test_space_file_mistakes_are_named_plainly(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BttacklerError) as err:
        load_space(write(tmp_path, "space.yaml", text))
    assert message in str(err.value)
    assert "<unicode string>" not in str(err.value) and "NoneType" not in str(err.value)
