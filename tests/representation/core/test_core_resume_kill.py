"""Issue 14: resume after a REAL kill. A training process is SIGKILLed several times at random
moments: right after an optimizer step (between checkpoints, so steps are replayed from an older
checkpoint), in the middle of a checkpoint write, and as a save begins. Each time it is restarted and
resumes from the newest complete checkpoint. The final weights equal those of an uninterrupted run
bit for bit (CPU, fixed seed), so the data order and RNG streams continue exactly; no half-written
checkpoint is ever picked. The training processes are forked from the test process (a real separate
process, killed with SIGKILL; forking skips re-importing torch, which dominated the test's time)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import resume_script
import torch
from safetensors.torch import load_file

from representation.train import checkpoint as ckpt

SEED = int(os.environ.get("RESUME_KILL_SEED", str(time.time_ns() % 10_000)))


def _kill_plan(rng: random.Random) -> list[tuple[str, int, float]]:
    """(event, occurrence, delay in s before SIGKILL): between checkpoints (a step that is not a
    checkpoint step, so steps are replayed), inside a checkpoint write, again between
    checkpoints, and as a save begins (a random delay may land anywhere in the write)."""
    return [("STEP", rng.choice([2, 4, 5]), rng.uniform(0.0, 0.02)), ("SAVE-MID", rng.choice([1, 2]), 0.0),
            ("STEP", rng.choice([1, 2]), rng.uniform(0.0, 0.02)), ("SAVE-BEGIN", 1, rng.uniform(0.0, 0.03))]


def _child(out_dir: str, write_fd: int) -> None:
    sys.stdout = os.fdopen(write_fd, "w", buffering=1)
    resume_script.run_marked(out_dir)
    sys.stdout.flush()
    os._exit(0)


def _run_until(out_dir: Path, event: str, count: int, delay: float = 0.0) -> list[str]:
    """Fork a training process, read its markers, SIGKILL it after the ``count``-th ``event``."""
    read_fd, write_fd = os.pipe()
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(str(out_dir), write_fd))
    proc.start()
    os.close(write_fd)
    seen, lines = 0, []
    with os.fdopen(read_fd) as stream:
        for line in stream:
            lines.append(line.strip())
            if line.startswith(event):
                seen += 1
                if seen == count:
                    time.sleep(delay)
                    os.kill(proc.pid, signal.SIGKILL)
                    break
    proc.join(60)
    assert not proc.is_alive()
    return lines


def _steps_done(out_dir: Path) -> int:
    found = ckpt.latest_checkpoint(out_dir)
    return 0 if found is None else int(found.name.split("-")[1])


@pytest.mark.timeout(300)
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path: Path) -> None:
    reference = resume_script.train(str(tmp_path / "uninterrupted"))
    out = tmp_path / "killed"
    plan = _kill_plan(random.Random(SEED))
    note = f"(RESUME_KILL_SEED={SEED}, plan {plan})"
    runs = []
    for event, count, delay in plan:
        before = _steps_done(out)
        lines = _run_until(out, event, count, delay)
        assert "DONE" not in lines, f"the run finished before the kill at {event} #{count} {note}"
        runs.append([int(line.split()[1]) for line in lines if line.startswith("STEP")])
        if event == "SAVE-MID":  # killed inside the write: the half checkpoint is never picked
            assert any(p.name.startswith(".tmp-checkpoint-") for p in out.iterdir()), note
            assert _steps_done(out) == before + resume_script.CHECKPOINT_EVERY * (count - 1), note
        for done in ckpt.list_checkpoints(out):  # every checkpoint that resume may pick is complete
            assert {p.name for p in done.iterdir()} >= {ckpt.WEIGHTS, ckpt.STATE, "rng_rank0.pt"}, note
    final = _run_until(out, "DONE", 1)
    assert final[-1] == "DONE", f"{final} {note}"
    # the first kill came between checkpoints: the next run replayed steps already done once
    assert runs[1] and runs[0] and runs[1][0] <= runs[0][-1], f"{runs} {note}"
    assert _steps_done(out) == resume_script.TOTAL_STEPS
    assert not any(p.name.startswith((".tmp-", ".old-")) for p in out.iterdir())
    got = load_file(str(out / f"checkpoint-{resume_script.TOTAL_STEPS:08d}" / ckpt.WEIGHTS))
    assert set(got) == set(reference)
    for name, value in reference.items():
        assert torch.equal(got[name], value), f"{name} differs from the uninterrupted run {note}"
    rows = (out / "metrics.jsonl").read_text().splitlines()
    steps = [int(r.split('"step": ')[1].split(",")[0]) for r in rows]
    assert steps == list(range(1, resume_script.TOTAL_STEPS + 1)), f"replayed metrics rows kept {note}"
