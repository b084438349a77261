"""Issue 14: every loss with a gather is exact under DDP at W = 2 and W = 3, with uneven batch
sizes (hence uneven anchor counts) per rank, under every exact GatherSpec, including
``GatherSpec(local_loss=False, with_grad=False)`` (once a silent 1/W gradient): each rank's value
is the full-batch loss and the DDP-averaged gradients (inputs and loss parameters) equal the
full-batch gradients. Also: uneven gathers, real DistributedDataParallel training, the
cross-batch memory."""

from __future__ import annotations

import ddp_workers as workers
import torch

from representation.testing.equivalence import assert_equivalent, full_batch


def test_every_loss_with_a_gather_equals_full_batch(ddp_run: dict) -> None:
    failures = []
    for case in ddp_run["cases"]:
        full = full_batch(case)
        assert torch.isfinite(full["loss"]), case.name
        assert full["grads"], f"{case.name}: no input gradient"
        per_rank = [r["cases"][case.name] for r in ddp_run["results"]]
        try:
            assert_equivalent(case, full, per_rank)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_uneven_sizes_are_real(ddp_run: dict) -> None:
    for name, sizes in ddp_run["sizes"].items():
        if "ring" not in name:
            assert len(set(sizes)) == ddp_run["world"], (name, sizes)


def test_uneven_gather_is_the_exact_concatenation(ddp_run: dict) -> None:
    world = ddp_run["world"]
    res = [r["gather"] for r in ddp_run["results"]]
    sizes = res[0]["sizes"]
    expect = torch.cat([(torch.arange(s, dtype=torch.float64) + 100 * r).unsqueeze(1).repeat(1, 2)
                        for r, s in enumerate(sizes)])
    weights = torch.arange(sum(sizes), dtype=torch.float64) + 1
    for r in range(world):
        torch.testing.assert_close(res[r]["tensor"], expect)
        assert res[r]["offset"] == sum(sizes[:r])
        assert res[r]["labels"].tolist() == list(range(sum(sizes[:r]), sum(sizes[:r + 1])))
        # the gradient of gathered row j (weight j + 1, summed over the W ranks) reaches its owner
        own = weights[sum(sizes[:r]):sum(sizes[:r + 1])] * world
        torch.testing.assert_close(res[r]["grad"], own.unsqueeze(1).repeat(1, 2))
        assert res[r]["flags"].dtype == torch.bool
        assert res[r]["flags"].tolist() == [q % 2 == 0 for q, s in enumerate(sizes) for _ in range(s)]


def _assert_trained_like_full_batch(ddp_run: dict, key: str, ref: dict, init: dict) -> None:
    assert max(float((ref[k] - init[k]).abs().max()) for k in ref) > 1e-3, "training must move"
    for r in ddp_run["results"]:
        for k, v in ref.items():
            torch.testing.assert_close(r[key][k], v, atol=1e-6, rtol=1e-5, msg=k)


def test_ddp_training_with_an_unused_expert_equals_full_batch(ddp_run: dict) -> None:
    _assert_trained_like_full_batch(ddp_run, "moe", workers.train_moe(), workers.MoEModel().state_dict())


def test_ddp_training_of_model_with_hydra_loss_equals_full_batch(ddp_run: dict) -> None:
    _assert_trained_like_full_batch(ddp_run, "hydra", workers.train_hydra(), workers.HydraTower().state_dict())


def test_cross_batch_memory_is_replicated_and_exact(ddp_run: dict) -> None:
    ref = workers.xbm_steps()
    world = ddp_run["world"]
    for r in ddp_run["results"]:
        torch.testing.assert_close(r["xbm"]["memory"], ref["memory"])
        assert r["xbm"]["filled"] == ref["filled"] == 16
    for step in range(2):
        for r in ddp_run["results"]:
            torch.testing.assert_close(r["xbm"]["steps"][step]["loss"], ref["steps"][step]["loss"])
        grads = torch.cat([r["xbm"]["steps"][step]["grad"] for r in ddp_run["results"]])
        torch.testing.assert_close(grads, ref["steps"][step]["grad"])
    assert world in (2, 3)
