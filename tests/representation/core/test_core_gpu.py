"""CUDA-only checks (skipped without a GPU): autocast training steps and GradCache on device."""

import core_ddp_workers as workers
import pytest
import torch

from representation.losses import InfoNCELoss, SigLIPLoss, sum_losses
from representation.train import PairLoss, TrainConfig, Trainer, grad_cache_backward


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_training_runs_and_moves_weights(tmp_path, precision):
    torch.manual_seed(0)
    model = workers.PairTowers()
    loss = PairLoss(SigLIPLoss(chunk_size=8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(out_dir=str(tmp_path), total_steps=4, batch_size=16, micro_batch_size=8,
                      precision=precision, device="cuda", progress=False, log_every=1)
    out = Trainer(model, loss, workers.pair_dataset(64, dtype=torch.float32), cfg).fit()
    assert out["step"] == 4 and torch.isfinite(torch.tensor(out["last"]["loss"]))
    after = model.state_dict()
    assert all(after[k].device.type == "cuda" for k in after)
    assert any(not torch.equal(after[k].cpu(), before[k]) for k in after)


@pytest.mark.gpu
def test_grad_cache_equals_big_batch_on_cuda():
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = workers.PairTowers().double().to(dev)
    loss = PairLoss(InfoNCELoss.clip()).double().to(dev)
    ds = workers.pair_dataset(24)
    batch = (ds.tensors[0].to(dev), ds.tensors[1].to(dev))
    params = [*model.parameters(), *loss.parameters()]
    sum_losses(loss(model(batch), batch)).backward()
    big = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    grad_cache_backward(model, loss, batch, 5, device=dev)
    for a, p in zip(big, params, strict=True):
        torch.testing.assert_close(p.grad, a, rtol=1e-9, atol=1e-12)
