"""The docs site and the README that points into it: `mkdocs build --strict` (what `make docs-build` and
CI's docs job run) passes, and fails on a broken link or anchor; the README stays short and its links
land; the pins agree; the layout page names every room of the package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip(
    "mkdocs", reason="mkdocs is not installed: make setup installs it (the dev extra pulls in the docs extra)"
)
pytest.importorskip("material", reason="mkdocs-material is not installed: make setup installs it")

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "mkdocs.yml").is_file())
DOCS = ROOT / "docs"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target): inline markdown links and images
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")
QUIET = {"NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner about its successor, on every build


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict`, as make docs-build runs it, into `site` (never the checkout's site/)."""
    command = ["build", "--strict", "--config-file", str(config), "--site-dir", str(site)]
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *command],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **QUIET},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = _build(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _relative_links(markdown: str) -> list[str]:
    """Links to files of this repository: no scheme (https:, mailto:), not an anchor on the same page."""
    return [t for t in LINK.findall(markdown) if not SCHEME.match(t) and not t.startswith("#")]


def test_the_site_builds_strict_and_every_page_is_in_the_nav(site: Path) -> None:
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    in_nav = {next(iter(entry.values())) for entry in config["nav"]}
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert in_nav == pages
    for page in pages:
        html = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert html.is_file(), page
    assert config["site_dir"].endswith("site") and config["strict"]


@pytest.mark.parametrize(
    ("link", "said"),
    [
        ("[gone](no-such-page.md)", "no-such-page.md"),
        ("[gone](pipeline.md#no-such-section)", "no-such-section"),
        ("[gone](../src/paddy_edge/cli.py)", "cli.py"),  # outside docs/: it would 404 on the site
    ],
)
def test_a_broken_link_fails_the_strict_build(tmp_path: Path, link: str, said: str) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs/getting-started.md"
    page.write_text(page.read_text() + f"\nSee {link}.\n")
    result = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert said in result.stdout + result.stderr and "strict mode" in result.stdout + result.stderr


def test_readme_is_short_and_its_links_land(site: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    # a newcomer's five minutes, the two commands first; the rest is in docs/
    assert len(readme.splitlines()) <= 200
    assert readme.index("make smoke") < readme.index("make test") < readme.index("## ")
    links = _relative_links(readme)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        path, _, anchor = link.partition("#")
        assert (ROOT / path).exists(), f"README links {link}, which is not in the repository"
        if anchor and path.startswith("docs/") and path.endswith(".md"):
            page = path.removeprefix("docs/").removesuffix(".md")
            html = (site / ("index.html" if page == "index" else f"{page}/index.html")).read_text()
            assert f'id="{anchor}"' in html, f"README links {link}: the page has no such section"


def test_docs_pins_agree_and_make_setup_installs_them() -> None:
    def pins(lines: list[str]) -> dict[str, str]:
        found = (re.match(r"^([\w.-]+)==(\S+)", line) for line in lines)
        return {m[1].lower().replace("_", "-"): m[2] for m in found if m}

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = pins(project["optional-dependencies"]["docs"])
    tree = pins((ROOT / "requirements/docs.txt").read_text().splitlines())
    full = pins((ROOT / "requirements/constraints.txt").read_text().splitlines())
    assert set(extra) == {"mkdocs", "mkdocs-material"}
    assert all(tree[name] == version for name, version in extra.items())
    assert all(full[name] == version for name, version in tree.items()), "docs.txt and constraints.txt differ"
    assert "paddy-edge[docs]" in project["optional-dependencies"]["dev"]  # so make setup brings mkdocs


def test_the_layout_page_names_every_room_of_the_package() -> None:
    layout = (DOCS / "layout.md").read_text()
    picture = layout.split("```mermaid", 1)[1].split("```", 1)[0]
    package = ROOT / "src/paddy_edge"
    rooms = sorted(d.name for d in package.iterdir() if (d / "__init__.py").is_file())
    assert rooms
    for room in rooms:
        assert f"{room}/" in picture, f"src/paddy_edge/{room}/ is missing from docs/layout.md's picture"
