"""push-hub: upload an export folder to the Hugging Face Hub (create_repo + upload_folder).

Everything that can fail without the network fails first, before any work: no
HF_TOKEN in the environment, HF_HUB_OFFLINE=1 (the Makefile's default), or a
folder whose card does not parse. The token is read from the environment only
and is never printed.

    HF_HUB_OFFLINE=0 HF_TOKEN=... python -m medinstruct_publish.hub \\
        --repo you/medinstruct --kind dataset --folder exports/dataset
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from huggingface_hub import DatasetCard, ModelCard, constants

TOKEN_ENV = "HF_TOKEN"
Kind = Literal["dataset", "model"]


class HubError(RuntimeError):
    """The upload cannot start; the message says which setting or file to fix."""


class HubApi(Protocol):
    """The two HfApi calls the upload makes (a test double implements just these)."""

    def create_repo(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        repo_type: str | None = None,
        exist_ok: bool = False,
    ) -> Any: ...

    def upload_folder(
        self,
        *,
        repo_id: str,
        folder_path: str | Path,
        commit_message: str | None = None,
        repo_type: str | None = None,
    ) -> Any: ...


def require_token(env: Mapping[str, str]) -> str:
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise HubError(
            f"{TOKEN_ENV} is not set: export a write token "
            "(https://huggingface.co/settings/tokens) in the environment, never in a file"
        )
    return token


def require_online(offline: bool) -> None:
    """huggingface_hub reads HF_HUB_OFFLINE at import: it must be off when Python starts."""
    if offline:
        raise HubError("HF_HUB_OFFLINE=1 blocks uploads: run with HF_HUB_OFFLINE=0")


def check_folder(folder: Path, kind: Kind) -> None:
    """The folder is an export: a card that parses locally, with a license in its metadata."""
    readme = folder / "README.md"
    if not readme.is_file():
        raise HubError(
            f"{folder}: no README.md; make it with `python -m medinstruct_publish.{kind}`"
        )
    card = (DatasetCard if kind == "dataset" else ModelCard).load(readme)
    if not getattr(card.data, "license", None):
        raise HubError(f"{readme}: field 'license' is missing from the card metadata")


def push(api: HubApi, folder: Path, repo: str, kind: Kind, *, private: bool, message: str) -> str:
    """Create the repo if needed and upload the folder as one commit; return the commit URL."""
    api.create_repo(repo_id=repo, repo_type=kind, private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo, repo_type=kind, folder_path=str(folder), commit_message=message
    )
    return str(getattr(info, "commit_url", info))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medinstruct_publish.hub",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--repo", required=True, help="owner/name on the Hub")
    parser.add_argument("--kind", required=True, choices=("dataset", "model"))
    parser.add_argument("--folder", type=Path, required=True, help="an export folder")
    parser.add_argument("--public", action="store_true",
                        help="create the repo public (default: private; existing repos keep theirs)")  # fmt: skip
    parser.add_argument("--message", default="", help="commit message")
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    api: HubApi | None = None,
) -> int:
    """Exit 2 when the upload cannot start (nothing was sent), 1 when the Hub refuses it."""
    args = parse_args(argv)
    try:
        token = require_token(os.environ if env is None else env)
        require_online(constants.HF_HUB_OFFLINE)
        check_folder(args.folder, args.kind)
    except (HubError, ValueError) as exc:
        print(f"push-hub: {exc}", file=sys.stderr)
        return 2
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    message = args.message or f"Upload the medinstruct {args.kind} export"
    try:
        url = push(api, args.folder, args.repo, args.kind, private=not args.public, message=message)
    except Exception as exc:  # the Hub's HTTP errors, network errors: report and exit 1
        print(
            f"push-hub: upload to {args.repo} failed: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return 1
    print(f"push-hub: {args.folder} -> {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
