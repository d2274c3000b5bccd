"""Static checks of flutter_app/ (no Dart SDK here): every .dart file parses, the assets the code
loads are declared and are the ones the pipeline installs, and the committed placeholder model is
consistent with its card. `flutter analyze`, `flutter test` and `flutter build apk` run in the
release workflow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_dart
import yaml

from paddy_edge.app_assets import APP_ASSETS, app_files, check_bundle

from ..conftest import ROOT

APP = ROOT / "flutter_app"
DART_FILES = sorted(APP.rglob("*.dart"))


def _parse_errors(source: bytes) -> list[str]:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_dart.language()))
    tree = parser.parse(source)
    errors, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line = node.start_point[0] + 1
            errors.append(f"line {line}: {source[node.start_byte : node.end_byte][:60]!r}")
        stack.extend(node.children)
    return errors


def test_there_is_an_app_with_tests() -> None:
    names = {p.relative_to(APP).as_posix() for p in DART_FILES}
    assert {"lib/main.dart", "test/widget_test.dart"} <= names


@pytest.mark.parametrize("dart", DART_FILES, ids=lambda p: p.relative_to(APP).as_posix())
def test_dart_file_parses(dart: Path) -> None:
    assert _parse_errors(dart.read_bytes()) == []


def test_the_parser_does_catch_syntax_errors() -> None:
    assert _parse_errors(b"void main() { final x = ; }")


def _pubspec_assets() -> list[str]:
    return yaml.safe_load((APP / "pubspec.yaml").read_text())["flutter"]["assets"]


def test_pubspec_declares_every_asset_the_code_loads_and_the_pipeline_installs() -> None:
    declared = set(_pubspec_assets())
    loaded = {
        m for p in (APP / "lib").rglob("*.dart") for m in re.findall(r"'(assets/[^']+)'", p.read_text())
    }
    assert loaded, "the app loads its model from assets"
    assert loaded <= declared
    assert set(APP_ASSETS.values()) == declared
    for asset in declared:
        assert (APP / asset).is_file(), asset


def test_the_app_takes_size_normalization_and_classes_from_the_card() -> None:
    source = (APP / "lib/src/pytorch_lite_classifier.dart").read_text()
    call = source[source.index("loadClassificationModel(") :].split(");")[0]
    assert re.findall(r"card\.(\w+)", call) == ["width", "height", "numClasses"]
    assert "mean: card.mean" in source and "std: card.std" in source
    for dart in (APP / "lib").rglob("*.dart"):
        assert not re.search(r"\b(224|256|0\.485|0\.229)\b", dart.read_text()), f"constant in {dart}"


def test_committed_placeholder_is_consistent_and_marked() -> None:
    card = check_bundle(app_files(APP))
    assert card["placeholder"] is True and card["num_classes"] == 10
    labels = (APP / "assets/labels/labels.txt").read_text()
    assert not labels.endswith("\n") and len(labels.split("\n")) == 10
    assert (APP / "assets/models/model.ptl").stat().st_size < 100_000, "the committed placeholder stays small"


def test_android_identity_lives_in_one_place_and_release_needs_no_network() -> None:
    properties = (APP / "android/gradle.properties").read_text()
    assert "paddyEdge.applicationId=" in properties and "paddyEdge.appName=" in properties
    gradle = (APP / "android/app/build.gradle.kts").read_text()
    assert 'gradleProperty("paddyEdge.applicationId")' in gradle and "applicationId = appId" in gradle
    assert "key.properties" in gradle and 'getByName(if (hasReleaseKey) "release" else "debug")' in gradle
    manifest = (APP / "android/app/src/main/AndroidManifest.xml").read_text()
    assert 'android:label="${appName}"' in manifest
    assert "android.permission.INTERNET" not in manifest


def test_placeholder_model_outputs_one_score_per_label() -> None:
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter

    card = check_bundle(app_files(APP))
    model = _load_for_lite_interpreter(str(APP / "assets/models/model.ptl"))
    photo = torch.rand(1, 3, card["input"]["height"], card["input"]["width"])
    assert tuple(model(photo).shape) == (1, card["num_classes"])
