"""Real DistributedDataParallel training at W = 2 and W = 3 (same spawn as the loss suite):
two-tower models trained with InfoNCE (learnable scale) and SigLIP (learnable scale and bias,
chunked; all-gather and ring exchange) end on the full-batch parameters, and the Trainer (GradCache
micro-batches, a stop and resume, rank 1 starting from a different loss scale) ends on the weights of
one process with the W-times larger batch."""

from __future__ import annotations

import core_ddp_workers as core
import ddp_workers as workers
import torch


def test_process_group_basics(ddp_run: dict) -> None:
    world = ddp_run["world"]
    infos = [r["info"] for r in ddp_run["results"]]
    assert [i["rank"] for i in infos] == list(range(world))
    assert all(i["world"] == world and i["total"] == world * (world + 1) / 2 for i in infos)
    for i in infos:
        torch.testing.assert_close(i["gathered"], torch.arange(12.0).reshape(6, 2))


def test_ddp_training_equals_full_batch_infonce_and_siglip(ddp_run: dict) -> None:
    train = workers.training_inputs()
    for kind in train["kinds"]:
        single = core.train_two_tower(kind, train["xs"], train["ys"])
        init = core.make_two_tower(kind).state_dict()
        assert max(float((single[k] - init[k]).abs().max()) for k in single) > 1e-2, "training must move"
        for r in ddp_run["results"]:
            for name, p in single.items():
                torch.testing.assert_close(r["two_tower"][kind][name], p, rtol=1e-5, atol=1e-5, msg=f"{kind} {name}")


def test_ddp_trainer_with_grad_cache_and_resume_equals_single_process(ddp_run: dict, tmp_path) -> None:
    world = ddp_run["world"]
    single = core.run_trainer(str(tmp_path / "single"), 6 * world, 5, micro=4)
    for r in ddp_run["results"]:
        for k, v in single.items():
            torch.testing.assert_close(r["trainer"][k], v, rtol=1e-8, atol=1e-10, msg=k)
