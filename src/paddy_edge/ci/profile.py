"""Which pipeline a workflow job runs, and where: the real one (Kaggle data, in the checkout) when Kaggle
credentials are set, else the offline smoke profile (in `.smoke/`). A release may ask for either.

Every workflow takes the DVC cache's path from here, so that a cache saved by one workflow and restored
by another names the very same path string: actions/cache versions an entry by its path strings, and
`./.dvc/cache` never restores what `.dvc/cache` saved.

Standard library only: `python -m paddy_edge.ci.profile [--profile real|smoke] >> "$GITHUB_OUTPUT"`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

PROFILES = ("real", "smoke")


@dataclass(frozen=True)
class Profile:
    name: str
    workspace: str  # where dvc.yaml runs: the checkout, or make smoke's copy
    make: str  # the make targets that run its pipeline

    @property
    def dvc_cache(self) -> str:
        return ".dvc/cache" if self.workspace == "." else f"{self.workspace}/.dvc/cache"

    def outputs(self) -> str:
        """Lines for $GITHUB_OUTPUT."""
        return "\n".join(
            [
                f"profile={self.name}",
                f"workspace={self.workspace}",
                f"dvc_cache={self.dvc_cache}",
                f"make={self.make}",
            ]
        )


REAL = Profile("real", ".", "pull-cache repro")
SMOKE = Profile("smoke", ".smoke", "smoke")


def detect() -> Profile:
    from paddy_edge.data.kaggle_source import credential_source

    return REAL if credential_source() is not None else SMOKE


def choose(requested: str | None) -> Profile:
    """The profile asked for (a release's input or variable), or the one the credentials allow."""
    if not requested:
        return detect()
    if requested not in PROFILES:
        raise SystemExit(f"error: profile '{requested}' is not one of {', '.join(PROFILES)}")
    return REAL if requested == "real" else SMOKE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile", default="", help="real or smoke; empty: real when Kaggle credentials are set"
    )
    args = parser.parse_args(argv)
    print(choose(args.profile).outputs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
