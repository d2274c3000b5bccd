"""Static checks of flutter_app/ (no Dart SDK here): every .dart file parses, the assets the code
loads are declared and are the ones the pipeline installs, and the committed placeholder model is
consistent with its card; the Android project holds the release rules of issue 9 (R8 off, API 24,
merged-manifest removals, the card contract on both sides, flutter create's files). `flutter analyze`,
`flutter test` and `flutter build apk` run in the flutter CI job and the release workflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_dart
import yaml

from paddy_edge.app.app_assets import APP_ASSETS, app_files, check_bundle
from paddy_edge.card import check_app_contract
from paddy_edge.errors import UserError
from paddy_edge.phone.contract import APP_INPUT_CONTRACT, APP_OUTPUT, APP_SCALE

from ..helpers import ROOT

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


# --- the Android project (issue 9): what can be read from files ------------------------------------------

ANDROID = APP / "android"


def _kotlin_block(source: str, *names: str) -> str:
    """The body of a nested Gradle Kotlin DSL block, e.g. ("android", "buildTypes", "release"), with
    // comments dropped."""
    text = re.sub(r"//[^\n]*", "", source)
    for name in names:
        match = re.search(rf"(?<![\w.]){re.escape(name)}\s*\{{", text)
        assert match, f"no `{name} {{` block"
        depth, start = 1, match.end()
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                text = text[start:index]
                break
    return text


def test_kotlin_block_finds_nested_blocks_and_ignores_comments() -> None:
    source = "android {\n // release { x }\n buildTypes { debug { a = 1 }\n release { b = 2 } } }"
    assert _kotlin_block(source, "android", "buildTypes", "release").strip() == "b = 2"


def test_release_build_keeps_r8_off_for_pytorch_and_says_why() -> None:
    gradle = (ANDROID / "app/build.gradle.kts").read_text()
    release = _kotlin_block(gradle, "android", "buildTypes", "release")
    assert re.search(r"^\s*isMinifyEnabled = false$", release, re.M)
    assert re.search(r"^\s*isShrinkResources = false$", release, re.M)
    assert "Module.initHybrid()" in gradle and "pytorch_lite's README" in gradle, "the reason, in a comment"
    assert "noCompress" not in gradle, "pytorch_lite copies the model out of the APK: noCompress did nothing"


def test_the_sdk_floor_is_flutters() -> None:
    default_config = _kotlin_block((ANDROID / "app/build.gradle.kts").read_text(), "android", "defaultConfig")
    assert re.search(r"^\s*minSdk = flutter\.minSdkVersion$", default_config, re.M)
    assert "21" not in default_config
    environment = yaml.safe_load((APP / "pubspec.yaml").read_text())["environment"]
    assert environment == {"sdk": "^3.9.0", "flutter": ">=3.35.0"}


def _manifest(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
TOOLS_NS = "{http://schemas.android.com/tools}"


def test_the_manifest_removes_what_camerax_merges_in_and_keeps_the_camera_optional() -> None:
    root = _manifest(ANDROID / "app/src/main/AndroidManifest.xml")
    permissions = {e.get(ANDROID_NS + "name"): e.get(TOOLS_NS + "node") for e in root.iter("uses-permission")}
    assert permissions == {
        "android.permission.RECORD_AUDIO": "remove",
        "android.permission.WRITE_EXTERNAL_STORAGE": "remove",
        "android.permission.CAMERA": None,
    }
    features = {e.get(ANDROID_NS + "name"): e for e in root.iter("uses-feature")}
    assert {"android.hardware.camera.any", "android.hardware.camera"} <= set(features)
    for feature in features.values():
        assert feature.get(ANDROID_NS + "required") == "false"
    any_camera = features["android.hardware.camera.any"]
    assert any_camera.get(TOOLS_NS + "replace") == "android:required", "camerax declares it required"


def test_the_manifest_is_complete_as_flutter_create_writes_it() -> None:
    root = _manifest(ANDROID / "app/src/main/AndroidManifest.xml")
    application = root.find("application")
    assert application is not None and application.get(ANDROID_NS + "icon") == "@mipmap/ic_launcher"
    actions = {a.get(ANDROID_NS + "name") for a in root.iterfind("queries/intent/action")}
    assert actions == {"android.intent.action.PROCESS_TEXT", "android.media.action.IMAGE_CAPTURE"}
    process_text = next(
        i
        for i in root.iterfind("queries/intent")
        if i.find("action").get(ANDROID_NS + "name").endswith("TEXT")
    )
    assert process_text.find("data").get(ANDROID_NS + "mimeType") == "text/plain"
    profile = _manifest(ANDROID / "app/src/profile/AndroidManifest.xml")
    assert [e.get(ANDROID_NS + "name") for e in profile.iter("uses-permission")] == [
        "android.permission.INTERNET"
    ]


def test_gradle_has_the_templates_jvm_heap() -> None:
    properties = dict(
        line.split("=", 1)
        for line in (ANDROID / "gradle.properties").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    jvmargs = properties["org.gradle.jvmargs"].split()
    assert (
        "-Xmx8G" in jvmargs
        and "-XX:MaxMetaspaceSize=4G" in jvmargs
        and "-XX:ReservedCodeCacheSize=512m" in jvmargs
    )


def _ignored(*paths: str) -> set[str]:
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *[f"flutter_app/{p}" for p in paths]],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return {line.removeprefix("flutter_app/") for line in result.stdout.splitlines()}


def test_gitignore_keeps_generated_and_secret_files_out_and_the_lock_in() -> None:
    generated = [
        "android/app/src/main/java/io/flutter/plugins/GeneratedPluginRegistrant.java",
        "android/.kotlin/sessions/x.salive",
        "android/app/.cxx/Debug/x",
        "android/.gradle/8.12/x",
        "android/local.properties",
        "android/key.properties",
        "android/app/upload-keystore.jks",
        "build/app/outputs/flutter-apk/app-release.apk",
        ".dart_tool/package_config.json",
    ]
    committed = [
        "pubspec.lock",
        "android/app/src/profile/AndroidManifest.xml",
        "android/app/src/main/res/mipmap-hdpi/ic_launcher.png",
        "icon/launcher_icon.png",
    ]
    assert _ignored(*generated, *committed) == set(generated)


def test_launcher_icons_are_generated_from_the_committed_source(tmp_path: Path) -> None:
    from PIL import Image

    from paddy_edge.app import launcher_icons

    with Image.open(APP / launcher_icons.SOURCE) as source:
        assert source.width == source.height >= launcher_icons.MIN_SOURCE_SIDE
    assert (APP / launcher_icons.SOURCE).stat().st_size < 20_000, "keep the source small"
    shutil.copytree(APP / "icon", tmp_path / "icon")
    written = launcher_icons.generate(tmp_path)
    assert len(written) == 5
    for target, side in launcher_icons.icon_paths(APP).items():
        fresh = tmp_path / target.relative_to(APP)
        with Image.open(target) as committed, Image.open(fresh) as regenerated:
            assert committed.size == (side, side), target
            assert committed.convert("RGBA").tobytes() == regenerated.convert("RGBA").tobytes(), (
                f"{target} is stale: run `python -m paddy_edge.app.launcher_icons`"
            )


def test_a_bad_icon_source_is_refused_by_name(tmp_path: Path) -> None:
    from PIL import Image

    from paddy_edge.app import launcher_icons
    from paddy_edge.errors import UserError

    (tmp_path / "icon").mkdir()
    Image.new("RGBA", (300, 200)).save(tmp_path / launcher_icons.SOURCE)
    with pytest.raises(UserError, match=r"launcher_icon\.png is 300x200: .* must be square"):
        launcher_icons.generate(tmp_path)


# --- the model card contract, on both sides ---------------------------------------------------------------


def _dart(path: str) -> str:
    return (APP / "lib" / path).read_text()


def test_the_app_and_the_pipeline_hold_the_same_card_contract() -> None:
    source = _dart("src/model_card.dart")
    body = re.search(r"const Map<String, Object> appInputContract = \{(.*?)\};", source, re.S)
    assert body, "appInputContract in model_card.dart"
    dart_contract = {
        key: int(number) if number else text
        for key, text, number in re.findall(r"'(\w+)': (?:'([^']*)'|(\d+))", body.group(1))
    }
    assert dart_contract == APP_INPUT_CONTRACT
    assert "const double appInputScale = 1 / 255;" in source and APP_SCALE == 1 / 255
    assert f"const String appOutput = '{APP_OUTPUT}';" in source
    assert "checkAppContract(json);" in source, "fromJson enforces it"


def test_the_pipelines_export_meets_the_contract() -> None:
    from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
    from paddy_edge.stages.export import model_metadata

    spec = ModelSpec("any", ["a", "b"], 64, IMAGENET_MEAN, IMAGENET_STD)
    card = model_metadata(spec, "nearest", None)
    check_app_contract(card, Path("model_card.json"))
    with pytest.raises(
        UserError, match=r"input\.resample is \"bilinear\".*evaluate\.resample in params\.yaml"
    ):
        check_app_contract(model_metadata(spec, "bilinear", None), Path("model_card.json"))


def test_scores_are_raw_logits_through_a_stable_softmax() -> None:
    lib = "\n".join(p.read_text() for p in (APP / "lib").rglob("*.dart"))
    assert ".getImagePredictionListProbabilities(" not in lib and ".getProbabilities(" not in lib
    assert lib.count("model.getImagePredictionList(") == 2, "the warm-up and the classification"
    classifier = _dart("src/classifier.dart")
    softmax = classifier[classifier.index("List<double> softmax(") :]
    assert "math.exp(x - largest)" in softmax and "logits.reduce(math.max)" in softmax
    assert "softmax(logits)" in _dart("src/pytorch_lite_classifier.dart")


def test_the_dart_tests_take_the_class_count_from_the_card() -> None:
    test = (APP / "test/model_card_test.dart").read_text()
    assert "numClasses, 10" not in test and "expect(card.numClasses, json['num_classes']);" in test


def test_the_warm_up_image_is_a_valid_png() -> None:
    import io

    from PIL import Image

    source = _dart("src/pytorch_lite_classifier.dart")
    literal = re.search(r"warmUpPng = Uint8List\.fromList\(const \[(.*?)\]\);", source, re.S)
    assert literal
    png = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", literal.group(1)))
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.format == "PNG" and image.size == (1, 1)


def test_errors_a_person_can_read() -> None:
    photo = _dart("src/photo_source.dart")
    pick = photo[photo.index("Future<Uint8List?> pickWithImagePicker(") :]
    assert re.search(r"try \{\s*file = await ImagePicker\(\)\.pickImage\(", pick)
    assert "on PlatformException catch" in pick
    assert "ImagePicker().retrieveLostData()" in photo
    for code in ("camera_access_denied", "no_available_camera", "photo_access_denied"):
        assert f"case '{code}':" in photo
    classifier = _dart("src/pytorch_lite_classifier.dart")
    assert "throw describeInferenceFailure(error);" in classifier and "ImageDecodeException" in _dart(
        "src/classifier.dart"
    )
    assert "recoverLostPhoto: recoverLostPhoto ?? recoverWithImagePicker" in _dart("main.dart")
