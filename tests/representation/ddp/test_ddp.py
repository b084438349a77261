"""Issue 14: the DDP suite, at W = 2 and W = 3, in the default run. ONE spawn per world size runs
everything (worker start-up dominates the time; a single test per world size keeps pytest-xdist from
spawning twice):

* every loss with a gather is exact under DDP with uneven batch sizes (hence uneven anchor counts)
  per rank, under every exact GatherSpec, including ``GatherSpec(local_loss=False, with_grad=False)``
  (once a silent 1/W gradient): each rank's value is the full-batch loss and the DDP-averaged
  gradients (inputs and loss parameters) equal the full-batch gradients;
* the uneven gather is the exact concatenation (no hang), gradients reach their owners;
* real DistributedDataParallel training ends on the full-batch parameters: two-tower InfoNCE and
  SigLIP (all-gather and ring; W = 3 catches a reversed ring), a model with an expert unused on one
  rank, a model owning a Hydra loss, and the Trainer with GradCache micro-batches and a stop + resume;
* the cross-batch memory is replicated on every rank and exact.
"""

from __future__ import annotations

import core_ddp_workers as core
import ddp_workers as workers
import pytest
import torch

from representation.testing.ddp import run_ddp
from representation.testing.equivalence import assert_equivalent, case_sizes, full_batch


def check_every_loss_with_a_gather_equals_full_batch(ddp_run: dict, tmp_path) -> None:
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


def check_uneven_sizes_are_real(ddp_run: dict, tmp_path) -> None:
    for name, sizes in ddp_run["sizes"].items():
        if "ring" not in name:
            assert len(set(sizes)) == ddp_run["world"], (name, sizes)


def check_uneven_gather_is_the_exact_concatenation(ddp_run: dict, tmp_path) -> None:
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


def check_ddp_training_with_an_unused_expert_equals_full_batch(ddp_run: dict, tmp_path) -> None:
    _assert_trained_like_full_batch(ddp_run, "moe", workers.train_moe(), workers.MoEModel().state_dict())


def check_ddp_training_of_model_with_hydra_loss_equals_full_batch(ddp_run: dict, tmp_path) -> None:
    _assert_trained_like_full_batch(ddp_run, "hydra", workers.train_hydra(), workers.HydraTower().state_dict())


def check_cross_batch_memory_is_replicated_and_exact(ddp_run: dict, tmp_path) -> None:
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


def check_process_group_basics(ddp_run: dict, tmp_path) -> None:
    world = ddp_run["world"]
    infos = [r["info"] for r in ddp_run["results"]]
    assert [i["rank"] for i in infos] == list(range(world))
    assert all(i["world"] == world and i["total"] == world * (world + 1) / 2 for i in infos)
    for i in infos:
        torch.testing.assert_close(i["gathered"], torch.arange(12.0).reshape(6, 2))


def check_ddp_training_equals_full_batch_infonce_and_siglip(ddp_run: dict, tmp_path) -> None:
    train = workers.training_inputs()
    for kind in train["kinds"]:
        single = core.train_two_tower(kind, train["xs"], train["ys"])
        init = core.make_two_tower(kind).state_dict()
        assert max(float((single[k] - init[k]).abs().max()) for k in single) > 1e-2, "training must move"
        for r in ddp_run["results"]:
            for name, p in single.items():
                torch.testing.assert_close(r["two_tower"][kind][name], p, rtol=1e-5, atol=1e-5, msg=f"{kind} {name}")


def check_ddp_trainer_with_grad_cache_and_resume_equals_single_process(ddp_run: dict, tmp_path) -> None:
    world = ddp_run["world"]
    single = core.run_trainer(str(tmp_path / "single"), 6 * world, 5, micro=4)
    for r in ddp_run["results"]:
        for k, v in single.items():
            torch.testing.assert_close(r["trainer"][k], v, rtol=1e-8, atol=1e-10, msg=k)



CHECKS = [check_every_loss_with_a_gather_equals_full_batch, check_uneven_sizes_are_real,
          check_uneven_gather_is_the_exact_concatenation, check_ddp_training_with_an_unused_expert_equals_full_batch,
          check_ddp_training_of_model_with_hydra_loss_equals_full_batch, check_cross_batch_memory_is_replicated_and_exact,
          check_process_group_basics, check_ddp_training_equals_full_batch_infonce_and_siglip,
          check_ddp_trainer_with_grad_cache_and_resume_equals_single_process]


@pytest.mark.parametrize("world", [2, 3], ids=["W2", "W3"])
def test_ddp_suite(world: int, tmp_path) -> None:
    cases = workers.build_cases()
    sizes = {c.name: case_sizes(c, world) for c in cases}
    (tmp_path / "trainer").mkdir()
    results = run_ddp(workers.suite, world_size=world, args=(cases, sizes, str(tmp_path / "trainer")), timeout_s=300)
    ddp_run = {"world": world, "cases": cases, "sizes": sizes, "results": results}
    failures = []
    for check in CHECKS:
        try:
            check(ddp_run, tmp_path)
        except AssertionError as exc:
            failures.append(f"{check.__name__}: {exc}")
    assert not failures, "\n\n".join(failures)
