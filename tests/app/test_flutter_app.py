"""Static checks of flutter_app/ (no Dart SDK here): every .dart file parses, the assets the code
loads are declared and are the ones the pipeline installs, and the committed placeholder program is
consistent with its card; the app runs it through executorch_flutter at the pinned version, with the
preprocessing in Dart (checked against the Python side by test_dart_preprocess_cases.py and
test/preprocess_test.dart); the Android project holds the release rules (R8 on now that pytorch_lite's
fbjni is gone, API 24, only the camera permission, the card contract on both sides, flutter create's
files). `flutter analyze`, `flutter test` and `flutter build apk` run in the flutter CI job and the
release workflow."""

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
    return _pubspec()["flutter"]["assets"]


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
    source = _dart("src/executorch_classifier.dart")
    prepare = source[source.index("Future<Float32List> _prepare(") :].split("\n}\n")[0]
    assert re.findall(r"card\.(\w+);", prepare) == ["width", "height", "mean", "std"]
    assert "preparePhoto(photo, width, height, mean, std)" in prepare
    assert "shape: [1, 3, card.height, card.width]" in source
    assert "scores.length != card.numClasses" in source and "topK(probabilities, card.labels, 3)" in source
    for dart in (APP / "lib").rglob("*.dart"):
        assert not re.search(r"\b(224|256|0\.485|0\.229)\b", dart.read_text()), f"constant in {dart}"


def test_committed_placeholder_is_consistent_and_marked() -> None:
    card = check_bundle(app_files(APP))
    assert card["placeholder"] is True and card["num_classes"] == 10
    labels = (APP / "assets/labels/labels.txt").read_text()
    assert not labels.endswith("\n") and len(labels.split("\n")) == 10
    assert (APP / "assets/models/model.pte").stat().st_size < 100_000, "the committed placeholder stays small"
    assert not (APP / "assets/models/model.ptl").exists(), "the app runs the .pte: no lite model ships"


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
    """The committed program answers a tensor of the card's input size with one score per label, in
    ExecuTorch's own runtime (the exporter's version), as the app's forward call expects."""
    pytest.importorskip("executorch.runtime")
    import torch
    from executorch.runtime import Runtime

    card = check_bundle(app_files(APP))
    program = Runtime.get().load_program(APP / "assets/models/model.pte")
    photo = torch.rand(1, 3, card["input"]["height"], card["input"]["width"])
    (scores,) = program.load_method("forward").execute([photo])
    assert tuple(scores.shape) == (1, card["num_classes"])


# --- the plugin and its pin ---------------------------------------------------------------------------------

EXECUTORCH_FLUTTER = "0.9.0"
# What each executorch_flutter release bundles (its CHANGELOG on pub.dev: 0.8.0 "Upgraded to ExecuTorch
# 1.5.0", 0.9.0 "Upgraded to ExecuTorch 1.6.0").
BUNDLED_RUNTIME = {"0.8.0": (1, 5, 0), "0.9.0": (1, 6, 0)}


def _pubspec() -> dict:
    return yaml.safe_load((APP / "pubspec.yaml").read_text())


def test_the_plugin_is_pinned_exactly_and_pytorch_lite_is_gone() -> None:
    dependencies = _pubspec()["dependencies"]
    assert dependencies["executorch_flutter"] == EXECUTORCH_FLUTTER, "an exact version: a runtime is chosen"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(dependencies["image"])), "the decoder is pinned too"
    assert "pytorch_lite" not in dependencies and "camera" not in dependencies
    code = "\n".join(p.read_text() for p in APP.rglob("*") if p.suffix in {".dart", ".kts", ".yaml"})
    assert "package:pytorch_lite" not in code and "PytorchLite" not in code
    assert not (APP / "lib/src/pytorch_lite_classifier.dart").exists()


def test_the_bundled_runtime_runs_what_the_exporter_writes() -> None:
    """A .pte runs on a runtime of its own ExecuTorch release or a later one (pytorch/executorch
    runtime/COMPATIBILITY.md): the plugin's runtime must be at least the exporter's minor."""
    from importlib import metadata

    try:
        exporter = metadata.version("executorch")
    except metadata.PackageNotFoundError:
        pytest.skip("executorch is not installed here")
    major, minor = (int(x) for x in exporter.split(".")[:2])
    assert BUNDLED_RUNTIME[EXECUTORCH_FLUTTER][:2] >= (major, minor), (
        f"executorch_flutter {EXECUTORCH_FLUTTER} bundles ExecuTorch "
        f"{'.'.join(map(str, BUNDLED_RUNTIME[EXECUTORCH_FLUTTER]))}, older than the exporter ({exporter}): "
        "pin a plugin whose runtime is the exporter's minor or newer"
    )


def test_the_native_build_is_prebuilt_xnnpack() -> None:
    defines = _pubspec()["hooks"]["user_defines"]
    assert "executorch_flutter" not in defines, "since 0.6.1 the key is executorch_dart, which owns the build"
    assert defines["executorch_dart"] == {"build_mode": "prebuilt", "backends": ["xnnpack"]}


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


def test_release_build_runs_r8_now_that_pytorch_is_gone_and_says_why() -> None:
    gradle = (ANDROID / "app/build.gradle.kts").read_text()
    release = _kotlin_block(gradle, "android", "buildTypes", "release")
    assert re.search(r"^\s*isMinifyEnabled = true$", release, re.M)
    assert re.search(r"^\s*isShrinkResources = true$", release, re.M)
    assert "dart:ffi" in gradle and "fbjni" in gradle, "the reason, in a comment"
    code = re.sub(r"//[^\n]*", "", gradle)
    pytorch_only = ("Module.initHybrid", "org.pytorch", "com.facebook", "pickFirst", "libfbjni", "noCompress")
    for workaround in pytorch_only:
        assert workaround not in code, f"{workaround}: only pytorch_lite needed it"


def test_the_sdk_floor_is_flutters() -> None:
    default_config = _kotlin_block((ANDROID / "app/build.gradle.kts").read_text(), "android", "defaultConfig")
    assert re.search(r"^\s*minSdk = flutter\.minSdkVersion$", default_config, re.M)
    assert "21" not in default_config and "23" not in default_config
    environment = _pubspec()["environment"]
    # executorch_flutter 0.9.0's floor: Flutter 3.38 (native-assets hooks), Dart 3.10.
    assert environment == {"sdk": "^3.10.0", "flutter": ">=3.38.0"}


def _manifest(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
TOOLS_NS = "{http://schemas.android.com/tools}"


def test_the_manifest_asks_for_the_camera_only_and_keeps_it_optional() -> None:
    """pytorch_lite pulled in the camera plugin, whose CameraX manifest merged RECORD_AUDIO,
    WRITE_EXTERNAL_STORAGE and a required camera into the app; the manifest removed them. With it gone,
    nothing merges them: the manifest declares the one permission the app uses, removes nothing, and
    keeps every camera feature optional (the gallery works without one)."""
    root = _manifest(ANDROID / "app/src/main/AndroidManifest.xml")
    permissions = {e.get(ANDROID_NS + "name"): e.get(TOOLS_NS + "node") for e in root.iter("uses-permission")}
    assert permissions == {"android.permission.CAMERA": None}
    features = {e.get(ANDROID_NS + "name"): e for e in root.iter("uses-feature")}
    cameras = {"android.hardware.camera.any", "android.hardware.camera", "android.hardware.camera.autofocus"}
    assert cameras <= set(features)
    for feature in features.values():
        assert feature.get(ANDROID_NS + "required") == "false"
        assert feature.get(TOOLS_NS + "replace") is None, "no plugin declares a camera feature now"
    from paddy_edge.app.apk_check import ALLOWED_PERMISSIONS

    assert set(permissions) <= ALLOWED_PERMISSIONS, "the APK check allows what the manifest asks for"


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

    def exported(resample: str) -> dict:
        """model_metadata's card with the phone section write_bundle adds once model.pte is written."""
        program = {"bytes": 1, "sha256": "ab" * 32}
        phone = {"format": "executorch", "file": "model.pte", "sha256": program["sha256"], "int8": False}
        spec = ModelSpec("any", ["a", "b"], 64, IMAGENET_MEAN, IMAGENET_STD)
        return {**model_metadata(spec, resample, None), "files": {"model.pte": program}, "phone": phone}

    check_app_contract(exported("nearest"), Path("model_card.json"))
    with pytest.raises(
        UserError, match=r"input\.resample is \"bilinear\".*evaluate\.resample in params\.yaml"
    ):
        check_app_contract(exported("bilinear"), Path("model_card.json"))
    without_program = {k: v for k, v in exported("nearest").items() if k != "phone"}
    with pytest.raises(UserError, match=r"no 'phone' section"):
        check_app_contract(without_program, Path("model_card.json"))


def test_scores_are_raw_logits_through_a_stable_softmax() -> None:
    classifier_source = _dart("src/executorch_classifier.dart")
    assert classifier_source.count("_scores(model, card, ") == 2, "the warm-up and the classification"
    assert classifier_source.count("model.forward([tensor])") == 1
    assert "softmax(logits)" in classifier_source and "TensorType.float32" in classifier_source
    classifier = _dart("src/classifier.dart")
    softmax = classifier[classifier.index("List<double> softmax(") :]
    assert "math.exp(x - largest)" in softmax and "logits.reduce(math.max)" in softmax


def test_the_preprocessing_is_pure_dart_and_the_one_the_classifier_uses() -> None:
    """preprocess.dart is the mapping the fixture checks: no Flutter, no plugin, no decoder in it, and
    the classifier reaches it only through preparePhoto (decode, then appInput)."""
    preprocess = _dart("src/preprocess.dart")
    assert re.findall(r"^import '([^']+)';", preprocess, re.M) == ["dart:typed_data"]
    assert "Float32List appInput(" in preprocess and "List<int> squishIndices(" in preprocess
    decode = _dart("src/photo_decode.dart")
    assert "img.decodeImage(bytes)" in decode
    assert "return appInput(pixels, width, height, mean, std);" in decode
    assert "package:flutter" not in decode and "executorch" not in decode
    assert "Isolate.run(() => preparePhoto(" in _dart("src/executorch_classifier.dart")
    test = (APP / "test/preprocess_test.dart").read_text()
    assert "test/fixtures/preprocess_cases.json" in test and "closeTo(expected[i], 1e-6)" in test


def test_the_dart_tests_take_the_class_count_from_the_card() -> None:
    test = (APP / "test/model_card_test.dart").read_text()
    assert "numClasses, 10" not in test and "expect(card.numClasses, json['num_classes']);" in test


def test_the_warm_up_image_is_a_valid_png() -> None:
    import io

    from PIL import Image

    source = _dart("src/executorch_classifier.dart")
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
    classifier = _dart("src/executorch_classifier.dart")
    assert "throw describeInferenceFailure(error);" in classifier
    for failure in ("ExecuTorchMemoryException", "ExecuTorchValidationException", "ExecuTorchModelException"):
        assert f"error is {failure}" in classifier, "each ExecuTorch failure reads as what happened"
    assert "throw const ImageDecodeException(decodeFailureMessage);" in _dart("src/photo_decode.dart")
    assert "class ImageDecodeException" in _dart("src/classifier.dart")
    assert "recoverLostPhoto: recoverLostPhoto ?? recoverWithImagePicker" in _dart("main.dart")
    assert "ExecuTorchClassifier()" in _dart("main.dart")
