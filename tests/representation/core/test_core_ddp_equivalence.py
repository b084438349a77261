"""Issue 4: 2-process gloo DDP on CPU trains to the same parameters as 1-process
full-batch training (tolerance 1e-5) for InfoNCE and SigLIP (all-gather and ring exchange)."""

import core_ddp_workers as workers
import torch


def test_ddp_training_equals_full_batch_infonce_and_siglip(ddp_suite):
    inputs, res = ddp_suite
    for kind in inputs["kinds"]:
        single = workers.train_two_tower(kind, inputs["xs"], inputs["ys"])
        init = workers.make_two_tower(kind).state_dict()
        moved = max(float((single[k] - init[k]).abs().max()) for k in single)
        assert moved > 1e-2, "training must actually change the parameters"
        for r in range(2):
            assert set(res[r]["two_tower"][kind]) == set(single)
            for name, p in single.items():
                torch.testing.assert_close(res[r]["two_tower"][kind][name], p, rtol=1e-5, atol=1e-5,
                                           msg=f"{kind} {name}")
