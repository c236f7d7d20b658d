"""W&B: the mode is chosen from the login state, and an unreachable server means offline, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from pretrainkit.run.tracking import WandbLogger
from pretrainkit.run.wandb_mode import wandb_logged_in, wandb_mode


def test_mode_follows_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    assert not wandb_logged_in() and wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    assert wandb_logged_in() and wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert wandb_mode() == "offline"
    assert wandb_mode("disabled") == "disabled"
    with pytest.raises(ValueError, match="logger.wandb.mode='onlin'"):
        wandb_mode("onlin")


def test_unreachable_server_falls_back_to_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import wandb

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)  # "logged in" ...
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # ... to a server that is down
    logger = WandbLogger(project="pk-test", save_dir=str(tmp_path), init_timeout=5)
    assert not logger.offline
    with pytest.warns(UserWarning, match="logging offline"):
        run = logger.experiment
    logger.log_metrics({"train/loss": 1.0}, step=0)
    assert logger.offline and list((tmp_path / "wandb").glob(f"offline-run-*-{run.id}"))
    wandb.finish()


def _given(logger: object) -> set[str]:
    return {k for k, v in logger._wandb_init.items() if v is not None}  # type: ignore[attr-defined]


def test_resuming_waits_for_a_run_id_still_held_by_a_killed_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from lightning.pytorch.loggers import WandbLogger as Lightning

    attempts: list[object] = []

    def held_twice(self: Lightning) -> object:
        attempts.append(self._wandb_init.get("id"))
        if len(attempts) <= 2:
            raise RuntimeError("run ID abc123 is in use")
        return "run"

    monkeypatch.setattr(Lightning, "experiment", property(held_twice))
    monkeypatch.setattr("pretrainkit.run.tracking.time.sleep", lambda s: None)
    logger = WandbLogger(save_dir=str(tmp_path), id="abc123", resume="allow")
    assert logger._start() == "run" and attempts == ["abc123"] * 3
    attempts.clear()  # held for good: a new run rather than a failed launch
    monkeypatch.setattr(
        Lightning,
        "experiment",
        # a new run: neither the id nor resume (which would take the directory's latest run)
        property(lambda self: held_twice(self) if {"id", "resume"} & _given(self) else "new"),
    )
    with pytest.warns(UserWarning, match="stayed in use"):
        assert logger._start(waits=2) == "new"
