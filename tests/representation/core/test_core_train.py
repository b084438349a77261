import itertools
import json
import math

import core_ddp_workers as workers
import pytest
import torch

from representation.losses import InfoNCELoss, sum_losses
from representation.train import PairLoss, TrainConfig, grad_cache_backward, warmup_cosine_factor
from representation.train.checkpoint import list_checkpoints
from representation.train.schedule import warmup_cosine_scheduler


def test_warmup_cosine_factor_shape():
    f = [warmup_cosine_factor(s, 4, 14, 0.1) for s in range(16)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4] == pytest.approx(1.0) and f[14] == pytest.approx(0.1) and f[15] == pytest.approx(0.1)
    assert f[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in itertools.pairwise(f[4:]))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = warmup_cosine_scheduler(opt, 4, 14, 0.1)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([2.0 * v for v in f[:6]])


def _big_and_cached_grads(micro, features_as="tuple"):
    torch.manual_seed(0)
    model = workers.PairTowers().double()
    loss = PairLoss(InfoNCELoss.clip()).double()
    ds = workers.pair_dataset(10)
    batch = (ds.tensors[0], ds.tensors[1])
    params = [*model.parameters(), *loss.parameters()]
    sum_losses(loss(model(batch), batch)).backward()
    big = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    out = grad_cache_backward(model, loss, batch, micro, device=torch.device("cpu"))
    return big, [p.grad.clone() for p in params], out


@pytest.mark.parametrize("micro", [1, 3, 5])
def test_grad_cache_equals_big_batch_gradient(micro):
    big, cached, out = _big_and_cached_grads(micro)
    assert "infonce_loss" in out
    for a, b in zip(big, cached, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_grad_cache_replays_dropout_masks():
    torch.manual_seed(0)
    model = workers.PairTowers(dropout=0.5).double()
    seen = []
    model.img.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    loss = PairLoss(InfoNCELoss(temperature=0.1)).double()
    ds = workers.pair_dataset(9)
    grad_cache_backward(model.train(), loss, (ds.tensors[0], ds.tensors[1]), 4, device=torch.device("cpu"))
    assert len(seen) == 6  # 3 cached passes, then 3 replays
    for cached, replay in zip(seen[:3], seen[3:], strict=True):
        torch.testing.assert_close(replay, cached, rtol=0, atol=0)
    assert not torch.equal(seen[0], model.img(ds.tensors[0][:4]))  # dropout is really active


def test_stop_then_resume_gives_same_weights_as_uninterrupted(tmp_path):
    """In-process stop (``fit(stop_at_step=5)`` saves and returns); the real SIGKILL test is
    test_core_resume_kill.py."""
    kw = {"micro": 4, "dropout": 0.3, "checkpoint_every": 2}
    full = workers.run_trainer(str(tmp_path / "a"), 8, 9, **kw)
    # stopped after step 5 (mid-epoch 1: 6 batches per epoch), then a fresh trainer with
    # a differently initialised model resumes from the newest checkpoint
    workers.run_trainer(str(tmp_path / "b"), 8, 9, stop_at=5, **kw)
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == ["checkpoint-00000004", "checkpoint-00000005"]
    resumed = workers.run_trainer(str(tmp_path / "b"), 8, 9, model_seed=123, **kw)
    assert set(full) == set(resumed)
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], rtol=0, atol=0, msg=k)
    # and it did train: the no-resume baseline with the other init differs
    other = workers.run_trainer(str(tmp_path / "c"), 8, 9, model_seed=123, **kw)
    assert any(not torch.equal(other[k], full[k]) for k in full)
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 10))
    assert all("infonce_loss" in r and "lr" in r and "grad_norm" in r for r in rows)
    assert (tmp_path / "b" / "checkpoint-00000009" / "weights.safetensors").exists()


def test_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(out_dir="x", total_steps=1, batch_size=4, micro_batch_size=8)
    with pytest.raises(ValueError):
        TrainConfig(out_dir="x", total_steps=1, batch_size=4, precision="fp8")


def test_dataset_smaller_than_a_batch_is_a_user_error(tmp_path):
    from representation.errors import DataError
    from representation.train import Trainer

    cfg = TrainConfig(out_dir=str(tmp_path), total_steps=2, batch_size=8, progress=False, device="cpu")
    trainer = Trainer(workers.PairTowers().double(), PairLoss(InfoNCELoss()), workers.pair_dataset(4), cfg)
    with pytest.raises(DataError, match="smaller than one global batch"):
        trainer.fit()


def test_example_script_trains_and_checkpoints(tmp_path, capsys):
    from representation.train.example import main

    main(["--out", str(tmp_path), "--steps", "3", "--batch-size", "32", "--micro-batch-size", "16",
          "--device", "cpu"])
    assert "done: step 3" in capsys.readouterr().out
    assert (tmp_path / "checkpoint-00000003" / "weights.safetensors").exists()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 3 and math.isfinite(rows[-1]["infonce_loss"])
