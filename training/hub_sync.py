"""A training run on the Hub while it goes: `--hub_strategy` as in transformers' Trainer, and `--resume_from_checkpoint`
from a checkpoint pushed there.

- `end`: the pipeline and its card are pushed once, when the run ends.
- `every_save`: also at every checkpoint, the pipeline of that step and its card.
- `checkpoint`: as `every_save`, and the checkpoint itself goes to `last-checkpoint/` (replacing the one before), so
  that a run on a machine that can be taken away resumes elsewhere with `--resume_from_checkpoint hub`.

Uploads during the run go through `HfApi.run_as_future` (one background thread, in order), from a staging copy of the
files, so that training neither waits for them nor changes the files under them. While an upload is still running,
the next save skips its push (as the Trainer does); an upload that failed is logged as a warning and retried with the
files of the next save. A failed upload never stops the run; only the final push, when the run is over, raises.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import RepositoryNotFoundError

from mogent_hf.model_card import is_hub_id

logger = logging.getLogger(__name__)
HUB_STRATEGIES = ("end", "every_save", "checkpoint")
LAST_CHECKPOINT = "last-checkpoint"
# what a pushed output directory leaves out: local checkpoints (a `checkpoint` push has its own folder), trackers
IGNORED = ["checkpoint-*/*", ".tmp-checkpoint-*/*", "logs/*", "samples/*", ".hub-*/*"]


def hub_repo_id(args) -> str:
    """The run's repository: `--hub_model_id`, else the output directory's name."""
    return args.hub_model_id or Path(args.output_dir).name


def _link_tree(source: Path, target: Path) -> None:
    """A copy of `source` made of hard links (cheap, and safe from a later pruning of `source`)."""

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


class HubSync:
    """Pushes a run's saves to `repo_id` according to `strategy` (see the module docstring)."""

    def __init__(self, repo_id: str, strategy: str, token: str | None = None):
        if strategy not in HUB_STRATEGIES:
            raise ValueError(f"`--hub_strategy` must be one of {HUB_STRATEGIES}, got {strategy!r}")
        self.api, self.strategy = HfApi(token=token), strategy
        self.repo_id, self.created = repo_id, False
        self.future, self.future_step = None, None

    def create_repo(self) -> str:
        """Creates the repository if needed; returns its full id (`namespace/name`)."""
        if not self.created:
            self.repo_id = self.api.create_repo(self.repo_id, exist_ok=True).repo_id
            self.created = True
        return self.repo_id

    def _upload(self, staging: Path, step: int) -> None:
        try:
            delete = [f"{LAST_CHECKPOINT}/*"] if (staging / LAST_CHECKPOINT).is_dir() else None
            self.api.upload_folder(repo_id=self.repo_id, folder_path=staging, commit_message=f"Training step {step}",
                                   delete_patterns=delete)  # fmt: skip
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _previous_upload_settled(self, step: int) -> bool:
        """False while the last upload still runs; warns once about an upload that failed."""
        if self.future is None:
            return True
        if not self.future.done():
            logger.warning(f"Hub: the upload of step {self.future_step} is still running; step {step} is not pushed")
            return False
        error = self.future.exception()
        if error is not None:
            logger.warning(f"Hub: the upload of step {self.future_step} to {self.repo_id} failed ({error}); "
                           f"retrying with step {step}")  # fmt: skip
        self.future = None
        return True

    def on_save(self, step: int, checkpoint: Path, write_pipeline: Callable[..., None]) -> None:
        """At a checkpoint (main process): with `every_save` or `checkpoint`, stages the pipeline of this step
        (`write_pipeline(folder, location=repo_id)` writes it with its card) and, with `checkpoint`, the checkpoint,
        then uploads them in the background."""
        if self.strategy == "end" or not self._previous_upload_settled(step):
            return
        try:
            self.create_repo()
        except Exception as error:  # the Hub is unreachable: the run goes on, the next save tries again
            logger.warning(f"Hub: could not create {self.repo_id} ({error}); step {step} is not pushed")
            return
        staging = Path(tempfile.mkdtemp(prefix=".hub-staging-", dir=checkpoint.parent))  # same disk: hard links
        write_pipeline(staging, location=self.repo_id)
        if self.strategy == "checkpoint":
            _link_tree(checkpoint, staging / LAST_CHECKPOINT)
        self.future, self.future_step = self.api.run_as_future(self._upload, staging, step), step

    def on_end(self, output_dir: Path, step: int) -> str:
        """Waits for the upload in flight, then pushes the finished output directory (raises if that fails)."""
        if self.future is not None:
            logger.info(f"Hub: waiting for the upload of step {self.future_step}")
            if self.future.exception() is not None:
                logger.warning(f"Hub: the upload of step {self.future_step} failed ({self.future.exception()}); "
                               "pushing the final pipeline")  # fmt: skip
            self.future = None
        self.create_repo()
        self.api.upload_folder(repo_id=self.repo_id, folder_path=output_dir, commit_message=f"Training step {step}",
                               ignore_patterns=IGNORED)  # fmt: skip
        return self.repo_id


def fetch_hub_checkpoint(resume_from: str | None, args, output_dir: Path) -> str | None:
    """`--resume_from_checkpoint hub` (the run's own repository) or a Hub id → the local `checkpoint-{step}`
    directory of that repository's `last-checkpoint/`, downloaded into `output_dir`; anything else unchanged.

    A local checkpoint of the same step is used as it is; the download is renamed into place only when complete."""
    if resume_from is None or resume_from == "latest" or Path(resume_from).exists():
        return resume_from
    if resume_from == "hub":
        repo_id = hub_repo_id(args)
        if "/" not in repo_id:  # the repository push_to_hub creates: in the token's own namespace
            repo_id = f"{HfApi(token=args.hub_token).whoami()['name']}/{repo_id}"
    elif is_hub_id(resume_from):
        repo_id = resume_from
    else:
        return resume_from  # a local path that does not exist: train.py says so
    staging = output_dir / f".hub-{LAST_CHECKPOINT}"
    output_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        snapshot_download(repo_id, allow_patterns=[f"{LAST_CHECKPOINT}/*"], local_dir=staging, token=args.hub_token)
    except RepositoryNotFoundError:
        raise FileNotFoundError(f"`--resume_from_checkpoint` {resume_from}: no Hub repository {repo_id}") from None
    downloaded = staging / LAST_CHECKPOINT
    if not (downloaded / "training_state.json").exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise FileNotFoundError(
            f"`--resume_from_checkpoint` {resume_from}: the Hub repository {repo_id} has no {LAST_CHECKPOINT}/ "
            "(push one with --hub_strategy checkpoint)"
        )
    step = json.loads((downloaded / "training_state.json").read_text())["global_step"]
    local = output_dir / f"checkpoint-{step}"
    if not local.exists():
        os.replace(downloaded, local)
    shutil.rmtree(staging, ignore_errors=True)
    logger.info(f"Downloaded {repo_id}/{LAST_CHECKPOINT} (step {step}) to {local}")
    return str(local)
