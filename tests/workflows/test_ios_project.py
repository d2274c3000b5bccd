"""The iOS jobs' patch of the generated ios/ folder (python -m paddy_edge.ci.ios_project), run as the jobs
run it, on files shaped as `flutter create --platforms=ios` writes them: the usage strings image_picker
needs, and the deployment target executorch_flutter needs, without lowering or overwriting what is set."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from paddy_edge.ci import ios_project

from ..helpers import ROOT

# As flutter create's app template writes them (abridged): build-setting variables stay unexpanded.
INFO_PLIST = {
    "CFBundleDevelopmentRegion": "$(DEVELOPMENT_LANGUAGE)",
    "CFBundleDisplayName": "Paddy Edge App",
    "CFBundleExecutable": "$(EXECUTABLE_NAME)",
    "CFBundleIdentifier": "$(PRODUCT_BUNDLE_IDENTIFIER)",
    "CFBundleShortVersionString": "$(FLUTTER_BUILD_NAME)",
    "CFBundleVersion": "$(FLUTTER_BUILD_NUMBER)",
    "UILaunchStoryboardName": "LaunchScreen",
    "UISupportedInterfaceOrientations": ["UIInterfaceOrientationPortrait"],
    "UIApplicationSupportsIndirectInputEvents": True,
}
PBXPROJ = """\t\t97C147031CF9000F007C117D /* Debug */ = {
\t\t\tbuildSettings = {
\t\t\t\tIPHONEOS_DEPLOYMENT_TARGET = 12.0;
\t\t\t\tSDKROOT = iphoneos;
\t\t\t};
\t\t};
\t\t97C147041CF9000F007C117D /* Release */ = {
\t\t\tbuildSettings = {
\t\t\t\tIPHONEOS_DEPLOYMENT_TARGET = 12.0;
\t\t\t};
\t\t};
\t\t249021D3217E4FDB00AE95B9 /* Profile */ = {
\t\t\tbuildSettings = {
\t\t\t\tIPHONEOS_DEPLOYMENT_TARGET = 12.0;
\t\t\t};
\t\t};
"""
PODFILE = """# Uncomment this line to define a global platform for your project
# platform :ios, '12.0'

# CocoaPods analytics sends network stats synchronously affecting flutter build latency.
ENV['COCOAPODS_DISABLE_STATS'] = 'true'

target 'Runner' do
  use_frameworks!
end
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    ios = tmp_path / "flutter_app" / "ios"
    (ios / "Runner").mkdir(parents=True)
    (ios / "Runner.xcodeproj").mkdir()
    (ios / "Runner" / "Info.plist").write_bytes(plistlib.dumps(INFO_PLIST))
    (ios / "Runner.xcodeproj" / "project.pbxproj").write_text(PBXPROJ)
    (ios / "Podfile").write_text(PODFILE)
    return tmp_path / "flutter_app"


def _run(app: Path) -> subprocess.CompletedProcess:
    """As the workflow step runs it: `python3 -m paddy_edge.ci.ios_project --app flutter_app`."""
    return subprocess.run(
        [sys.executable, "-m", "paddy_edge.ci.ios_project", "--app", app.name],
        cwd=app.parent,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_generated_project_gets_the_usage_strings_and_ios_13(app: Path) -> None:
    result = _run(app)
    assert result.returncode == 0, result.stdout + result.stderr
    info = plistlib.loads((app / "ios/Runner/Info.plist").read_bytes())
    for key in ("NSCameraUsageDescription", "NSPhotoLibraryUsageDescription"):
        assert info[key] == ios_project.USAGE_DESCRIPTIONS[key] and "rice leaf" in info[key]
    assert {k: v for k, v in info.items() if k in INFO_PLIST} == INFO_PLIST, "the template's keys untouched"
    pbxproj = (app / "ios/Runner.xcodeproj/project.pbxproj").read_text()
    assert pbxproj.count("IPHONEOS_DEPLOYMENT_TARGET = 13.0;") == 3 and "= 12.0;" not in pbxproj
    assert pbxproj.replace("13.0;", "12.0;") == PBXPROJ, "nothing else in the project changed"
    podfile = (app / "ios/Podfile").read_text()
    assert "\nplatform :ios, '13.0'\n" in podfile and "# platform" not in podfile
    assert "NSCameraUsageDescription" in result.stdout and "Podfile" in result.stdout


def test_a_second_run_changes_nothing(app: Path) -> None:
    assert _run(app).returncode == 0
    before = {p: p.read_bytes() for p in (app / "ios").rglob("*") if p.is_file()}
    again = _run(app)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert {p: p.read_bytes() for p in (app / "ios").rglob("*") if p.is_file()} == before


def test_what_is_already_set_is_kept(app: Path) -> None:
    plist = app / "ios/Runner/Info.plist"
    plist.write_bytes(plistlib.dumps({**INFO_PLIST, "NSCameraUsageDescription": "Our own words."}))
    pbxproj = app / "ios/Runner.xcodeproj/project.pbxproj"
    pbxproj.write_text(PBXPROJ.replace("12.0", "15.0"))
    podfile = app / "ios/Podfile"
    podfile.write_text(PODFILE.replace("# platform :ios, '12.0'", "platform :ios, '14.2'"))
    assert _run(app).returncode == 0
    info = plistlib.loads(plist.read_bytes())
    assert info["NSCameraUsageDescription"] == "Our own words." and info["NSPhotoLibraryUsageDescription"]
    assert pbxproj.read_text() == PBXPROJ.replace("12.0", "15.0"), "a higher target is never lowered"
    assert "platform :ios, '14.2'" in podfile.read_text()


def test_an_empty_usage_string_counts_as_missing(app: Path) -> None:
    plist = app / "ios/Runner/Info.plist"
    plist.write_bytes(plistlib.dumps({**INFO_PLIST, "NSPhotoLibraryUsageDescription": "  "}))
    assert _run(app).returncode == 0
    assert plistlib.loads(plist.read_bytes())["NSPhotoLibraryUsageDescription"].startswith("paddy-edge")


def test_a_podfile_without_a_platform_line_gets_one_and_no_podfile_is_fine(app: Path) -> None:
    podfile = app / "ios/Podfile"
    podfile.write_text("target 'Runner' do\nend\n")
    assert _run(app).returncode == 0
    assert podfile.read_text() == "platform :ios, '13.0'\ntarget 'Runner' do\nend\n"
    podfile.unlink()  # flutter build writes one; CocoaPods then takes the Runner project's target
    result = _run(app)
    assert result.returncode == 0 and not podfile.exists()


def test_without_a_generated_ios_folder_it_fails_saying_how_to_make_one(tmp_path: Path) -> None:
    app = tmp_path / "flutter_app"
    app.mkdir()
    result = _run(app)
    assert result.returncode == 1
    assert result.stdout.startswith("::error::") and "flutter create --platforms=ios" in result.stdout


def test_a_project_without_a_deployment_target_is_not_flutter_creates(app: Path) -> None:
    (app / "ios/Runner.xcodeproj/project.pbxproj").write_text("// !$*UTF8*$!\n{}\n")
    result = _run(app)
    assert result.returncode == 1 and "IPHONEOS_DEPLOYMENT_TARGET" in result.stdout


def test_the_target_is_the_plugins_floor() -> None:
    assert ios_project.IOS_DEPLOYMENT_TARGET == "13.0"  # executorch_flutter: iOS 13.0+
