"""Cases and module-level workers of the W=2 / W=3 gloo DDP suite (importable by spawn)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from representation.distributed import GatherSpec, gather, rank_offset_labels
from representation.miners.mixup import MixupPairGenerator
from representation.testing.equivalence import DDPCase, _rank_worker, uneven_sizes

N, D = 12, 6
SPECS = {"local": {"local_loss": True, "with_grad": True}, "global": {"local_loss": False, "with_grad": True},
         "global_nograd": {"local_loss": False, "with_grad": False}}


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build_cases() -> list[DDPCase]:
    """Every loss with a gather, on N = 12 rows, under every exact GatherSpec."""
    g = _g(0)
    q = torch.randn(N, D, generator=g, dtype=torch.float64)
    k = q + 0.7 * torch.randn(N, D, generator=g, dtype=torch.float64)
    neg = torch.randn(N, D, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 4, 2, 5, 1, 6])  # 3, 4, 5, 6 unique: anchors without positive
    same = (labels[:, None] == labels[None, :]).double()
    soft = same.clone()
    soft[5] = 0  # a row without mass
    soft_neg = torch.cat([soft, torch.zeros(N, N, dtype=torch.float64)], dim=1)
    soft_neg[2, N + 7] = 0.5  # a hard negative that is also a (soft) positive of row 2
    mask = torch.ones(N, 2 * N, dtype=torch.bool)
    mask[0, 3] = mask[4, 10] = mask[7, N + 1] = False
    memory = torch.randn(5, D, generator=g, dtype=torch.float64)
    soft_mem = torch.cat([soft, torch.zeros(N, 5, dtype=torch.float64)], dim=1)
    soft_mem[1, N + 2] = soft_mem[6, N + 4] = 1.0  # memory positives (row 6 has no in-batch positive)
    views = torch.randn(N, 2, D, generator=g, dtype=torch.float64)
    paths = [("EU", "FR", f"c{i % 3}") if i % 2 else ("EU", "DE", f"c{i % 4}") for i in range(N)]
    neg_valid = torch.tensor([True, False] + [True] * (N - 2))
    img_v = torch.randn(2, N, D, generator=g, dtype=torch.float64)
    txt_v = torch.randn(2, N, D, generator=g, dtype=torch.float64)
    texts = torch.randn(N, 3, D, generator=g, dtype=torch.float64)
    patches = torch.randn(N, 5, D, generator=g, dtype=torch.float64)
    y2 = torch.tensor([1, 0, 2, 0, 2, 1, 0, 1, 1, 2, 0, 2]) % 3
    y3 = labels % 3
    teacher = torch.randn(N, N, generator=g, dtype=torch.float64)
    y_float = torch.tensor([0.0, 1.0, 0.0, 2.0, 1.0, 3.0, 2.0, 4.0, 5.0, 0.5, 1.5, 3.0], dtype=torch.float64)
    plan = MixupPairGenerator(2, 2).plan(y_float, _g(5))
    logits = torch.randn(N, 7, generator=g, dtype=torch.float64)
    teacher_logits = torch.randn(N, 7, generator=g, dtype=torch.float64)
    fmap_q = torch.randn(N, 4, 3, 3, generator=g, dtype=torch.float64)
    fmap_k = torch.randn(N, 4, 3, 3, generator=g, dtype=torch.float64)
    boxes_q = torch.tensor([[0.0, 0.0, 8.0, 8.0]]).repeat(N, 1).double()
    boxes_k = boxes_q + torch.rand(N, 4, generator=g, dtype=torch.float64) * 3
    cls_labels = torch.randint(0, 40, (N,), generator=g)
    from representation.targets.label_kernel import LabelEmbeddingKernel

    kernel = LabelEmbeddingKernel(torch.randn(7, 5, generator=g), temperature=0.3)
    cands = torch.randn(N, 4, D, generator=g, dtype=torch.float64)  # UDR: 4 ranked candidates per query
    cand_len = torch.tensor([4, 2, 4, 3, 4, 4, 1, 4, 2, 4, 4, 3])
    lm_logits = torch.randn(N, 6, 11, generator=g, dtype=torch.float64)  # packed rows of 6 tokens, V = 11
    lm_labels = torch.randint(0, 11, (N, 6), generator=g)
    lm_labels[torch.rand(N, 6, generator=g) < 0.4] = -100
    lm_segments = torch.tensor([1, 1, 1, 2, 2, 0]).repeat(N, 1)
    views3 = torch.randn(N, 3, 4, generator=g, dtype=torch.float64)
    perms3 = torch.stack([torch.randperm(4, generator=g) for _ in range(3)])
    seg_mask = torch.rand(N, 5, generator=g) > 0.3
    seg_mask[:, 0] = True
    words, regions = torch.randn(N, 4, D, generator=g, dtype=torch.float64), torch.randn(N, 3, D, generator=g, dtype=torch.float64)
    cases: list[DDPCase] = []
    for spec_name, spec in SPECS.items():
        def add(name: str, loss: dict, **kw) -> None:
            cases.append(DDPCase(f"{name}[{spec_name}]", {**loss, "gather": spec}, **kw))

        pair = {"inputs": {"q": q, "k": k}, "sharded": ("q", "k"), "args": ("q", "k")}
        add("infonce_clip", {"type": "infonce", "learn_scale": True}, **pair)
        add("infonce_mnrl_negatives_soft_mask",
            {"type": "infonce", "temperature": 0.1, "symmetric": False},
            inputs={"q": q, "k": k, "neg": neg, "t": soft_neg, "m": mask}, sharded=("q", "k", "neg"),
            args=("q", "k"), kwargs={"negatives": "neg", "targets": "t", "mask": "m"})
        add("infonce_symmetric_targets_memory", {"type": "infonce", "temperature": 0.2, "label_smoothing": 0.1},
            inputs={"q": q, "k": k, "t": soft_mem, "mem": memory}, sharded=("q", "k"), args=("q", "k"),
            kwargs={"targets": "t", "memory": "mem"})
        add("soft_contrastive_kernel", {"type": "soft_contrastive", "temperature": 0.1},
            inputs={"q": q, "k": k, "y": labels}, sharded=("q", "k", "y"), args=("q", "k"), kwargs={"labels": "y"},
            runtime={"kernel": kernel})
        add("multi_positive", {"type": "multi_positive", "temperature": 0.1, "symmetric": True},
            inputs={"q": q, "k": k, "t": same.bool()}, sharded=("q", "k"), args=("q", "k"), kwargs={"targets": "t"})
        add("supcon_unique_labels", {"type": "supcon", "temperature": 0.2},
            inputs={"z": q, "y": labels}, sharded=("z", "y"), args=("z", "y"))
        add("supcon_views_mask_memory", {"type": "supcon", "temperature": 0.3},
            inputs={"z": views, "y": labels, "m": mask[:, :N + 5], "mem": memory, "my": torch.tensor([0, 1, 9, 9, 4])},
            sharded=("z", "y"), args=("z", "y"), kwargs={"mask": "m", "memory": "mem", "memory_labels": "my"})
        add("simclr", {"type": "supcon", "temperature": 0.5}, inputs={"z": views}, sharded=("z",), args=("z",))
        add("space2", {"type": "space2", "temperature": 0.2}, inputs={"z": views, "paths": paths},
            sharded=("z",), args=("z", "paths"))
        add("negclip", {"type": "negclip", "learn_scale": True},
            inputs={"i": q, "t": k, "nt": neg, "nv": neg_valid, "ni": neg.flip(0)}, sharded=("i", "t", "nt", "nv", "ni"),
            args=("i", "t"), kwargs={"neg_text": "nt", "neg_text_valid": "nv", "neg_image": "ni"})
        add("cl2l", {"type": "cl2l", "learn_scale": True, "label_smoothing": 0.1},
            inputs={"i": q, "t": k, "iv": img_v, "tv": txt_v}, sharded=("i", "t", "iv", "tv"),
            shard_dims={"iv": 1, "tv": 1}, args=("i", "t"), kwargs={"image_views": "iv", "text_views": "tv"})
        add("dreamlip_reference", {"type": "dreamlip", "learn_scale": True},
            inputs={"i": q, "t": texts, "p": patches}, sharded=("i", "t", "p"), args=("i", "t"), kwargs={"patches": "p"})
        add("dreamlip_options", {"type": "dreamlip", "temperature": 0.1, "multipos": "softce", "clip_captions": "mean"},
            inputs={"i": q, "t": texts, "p": patches}, sharded=("i", "t", "p"), args=("i", "t"), kwargs={"patches": "p"})
        add("siglip_gather", {"type": "siglip", "chunk_size": 5},
            inputs={"q": q, "k": k, "t": same.clamp(max=1.0)}, sharded=("q", "k"), args=("q", "k"), kwargs={"targets": "t"})
        for denominator in ("per_positive", "supcon"):
            add(f"hydra_{denominator}", {"type": "hydra", "num_classes": 7, "dim": D, "denominator": denominator,
                                         "gate_style": "mlp", "gate_embed_dim": 8, "gate_hidden": 8, "probe_dim": D},
                inputs={"z": q, "y": labels, "y2": y2, "pf": k}, sharded=("z", "y", "y2", "pf"), args=("z", "y"),
                kwargs={"partner_labels": "y2", "probe_features": "pf"})
        add("dcd", {"type": "dcd", "num_negatives": 3, "temperature": 0.1},
            inputs={"q": q, "k": k, "ts": teacher}, sharded=("q", "k"), args=("q", "k", "ts"))
        add("supremix", {"type": "supremix", "temperature": 0.2, "num_negatives": 2, "num_positives": 2},
            inputs={"z": q, "y": y_float, "plan": plan}, sharded=("z", "y"), args=("z", "y"), kwargs={"plan": "plan"})
        add("triplet_all", {"type": "triplet_margin", "margin": 0.3, "reduction": "mean"},
            inputs={"z": q, "y": y3}, sharded=("z", "y"), args=("z", "y"))
        add("triplet_batch_hard", {"type": "triplet_margin", "margin": 0.3, "miner": {"type": "batch_hard_miner"}},
            inputs={"z": q, "y": y3}, sharded=("z", "y"), args=("z", "y"))
        add("multi_similarity_mined", {"type": "multi_similarity", "miner": {"type": "multi_similarity_miner"}},
            inputs={"z": q, "y": y3}, sharded=("z", "y"), args=("z", "y"))
        add("circle", {"type": "circle", "gamma": 16.0}, inputs={"z": q, "y": y3}, sharded=("z", "y"), args=("z", "y"))
        add("listwise_rank_udr", {"type": "listwise_rank", "rank_weight": 0.7},
            inputs={"q": q, "c": cands, "n": cand_len}, sharded=("q", "c", "n"), args=("q", "c"), kwargs={"lengths": "n"})
        # issue 15 (methods C)
        add("whitenedcse", {"type": "whitenedcse", "num_groups": 2},
            inputs={"v": views3, "p": perms3}, sharded=("v",), args=("v",), kwargs={"perms": "p"})
        add("ccp_groups", {"type": "ccp", "num_groups": 3, "dim": D, "queue_size": 4, "temperature": 0.2},
            inputs={"q": q, "k": k, "g": labels % 3}, sharded=("q", "k", "g"), args=("q", "k", "g"))
        add("nspt", {"type": "nspt", "temperature": 0.2},
            inputs={"s": q, "t": k, "y": labels}, sharded=("s", "t", "y"), args=("s", "t", "y"))
        add("collap", {"type": "collap", "dim": D, "attn_dim": 4, "learn_scale": True},
            inputs={"a": patches, "t": k, "m": seg_mask}, sharded=("a", "t", "m"), args=("a", "t"),
            kwargs={"segment_mask": "m"})
        add("masked_reconstruction", {"type": "masked_reconstruction", "norm_target": True},
            inputs={"p": patches, "t": patches.flip(0), "m": seg_mask}, sharded=("p", "t", "m"), args=("p", "t", "m"))
        add("multilabel_bce", {"type": "multilabel_bce"},
            inputs={"l": logits, "y": (teacher_logits > 0).long() - (teacher_logits < -1).long() * 2},
            sharded=("l", "y"), args=("l", "y"))
        add("sepclr", {"type": "sepclr", "salient_weight": 2.0, "reg_weight": 3.0, "mi_weight": 0.5},
            inputs={"c": views, "s": views[..., :4], "tg": labels % 2 == 0}, sharded=("c", "s", "tg"),
            args=("c", "s", "tg"))
    cases += [
        DDPCase("target_only_lm_packed", {"type": "target_only_lm"},
                inputs={"l": lm_logits, "y": lm_labels, "s": lm_segments}, sharded=("l", "y", "s"), args=("l", "y", "s")),
        DDPCase("siglip_ring", {"type": "siglip", "chunk_size": 5, "dist_impl": "ring"},
                inputs={"q": q, "k": k}, sharded=("q", "k"), args=("q", "k"), even=True),
        DDPCase("large_vocab_sampled", {"type": "large_vocab_classifier", "num_classes": 40, "dim": D,
                                        "num_sampled": 16, "learn_scale": True},
                inputs={"x": q, "y": cls_labels}, sharded=("x", "y"), args=("x", "y")),
        DDPCase("cross_entropy_soft", {"type": "cross_entropy", "label_smoothing": 0.1},
                inputs={"l": logits, "t": teacher_logits.softmax(-1)}, sharded=("l", "t"), args=("l", "t")),
        DDPCase("distill", {"type": "distill", "alpha": 0.3},
                inputs={"s": logits, "t": teacher_logits, "y": cls_labels % 7}, sharded=("s", "t", "y"),
                args=("s", "t", "y")),
        DDPCase("uniter_wra", {"type": "uniter_wra", "iterations": 20},
                inputs={"w": words, "r": regions, "y": labels % 2, "l": logits[:, :2]}, sharded=("w", "r", "y", "l"),
                args=("w", "r", "y"), kwargs={"itm_logits": "l"}),
        DDPCase("pixpro", {"type": "pixpro"}, inputs={"q": fmap_q, "k": fmap_k, "bq": boxes_q, "bk": boxes_k},
                sharded=("q", "k", "bq", "bk"), args=("q", "k", "bq", "bk")),
        DDPCase("matryoshka_infonce", {"type": "matryoshka", "loss": {"type": "infonce", "learn_scale": True},
                                       "dims": [6, 4, 2], "weights": [1.0, 0.5, 0.25]},
                inputs={"q": q, "k": k}, sharded=("q", "k"), args=("q", "k")),
    ]
    return cases


# ---------------------------------------------------------------- special checks


def gather_checks(rank: int, world: int) -> dict:
    """Uneven gather: exact rank-order concatenation, offsets, gradient routing, bool tensors."""
    sizes = uneven_sizes(3 * world, world)
    x = (torch.arange(sizes[rank], dtype=torch.float64) + 100 * rank).unsqueeze(1).repeat(1, 2).requires_grad_(True)
    g = gather(x, GatherSpec())
    (g.tensor * (torch.arange(g.total, dtype=torch.float64) + 1).unsqueeze(1)).sum().backward()
    labels = rank_offset_labels(sizes[rank])
    flags = gather(torch.tensor([rank % 2 == 0] * sizes[rank])).tensor
    return {"tensor": g.tensor.detach(), "sizes": g.sizes, "offset": g.offset, "grad": x.grad, "labels": labels,
            "flags": flags}


class MoEModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        from representation.blocks.task_moe import TaskRoutedResidualMLP

        self.block = TaskRoutedResidualMLP(8, 2, hidden=16)

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return self.block(x, task)


def moe_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(12, 8, generator=_g(1))
    task = torch.tensor([0] * 6 + [0, 1, 1, 0, 1, 1])  # rank 0 sees only task 0
    return x, task, torch.where(task[:, None] == 0, x, -x)


def rank_rows(rank: int, world: int, n: int = 12) -> slice:
    """This rank's rows of an n-row batch split with :func:`uneven_sizes`."""
    sizes = uneven_sizes(n, world) if world > 1 else [n]
    return slice(sum(sizes[:rank]), sum(sizes[:rank + 1]))


def train_moe(rank: int = 0, world: int = 1, steps: int = 3) -> dict[str, torch.Tensor]:
    """A model with an expert unused on one rank, trained under DistributedDataParallel."""
    model = MoEModel()
    run = DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model
    x, task, y = moe_data()
    sl = rank_rows(rank, world)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        out = run(x[sl], task[sl])
        # sum over this rank's rows / global rows, x W: DDP's average gives the full-batch mean
        (F.mse_loss(out, y[sl], reduction="sum") * world / (12 * 8)).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class HydraTower(nn.Module):
    """Encoder + Hydra loss in one DDP module (the loss's gate and scale are trained too)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        from representation.losses.hydra import HydraLoss

        self.enc = nn.Linear(6, 8)
        self.loss = HydraLoss(4, 8, temperature=0.2, gate_style="mlp", gate_embed_dim=8, gate_hidden=8)

    def forward(self, x: torch.Tensor, y: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        return self.loss(self.enc(x), y, partner_labels=y2)


def hydra_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.randn(12, 6, generator=_g(2)), torch.arange(4).repeat(3), torch.randint(0, 4, (12,), generator=_g(3))


def train_hydra(rank: int = 0, world: int = 1, steps: int = 3) -> dict[str, torch.Tensor]:
    model = HydraTower()
    run = DistributedDataParallel(model) if world > 1 else model
    x, y, y2 = hydra_data()
    sl = rank_rows(rank, world)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        run(x[sl], y[sl], y2[sl]).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def xbm_steps(rank: int = 0, world: int = 1) -> dict:
    """Two steps of a cross-batch memory around SupCon: the memory is identical on every rank and
    the second step (scored against the memory) equals the full batch."""
    from representation.memory import CrossBatchMemory

    torch.manual_seed(0)
    xbm = CrossBatchMemory({"type": "supcon", "temperature": 0.2}, embedding_size=D, memory_size=16).double()
    out = []
    for step in range(2):
        z = torch.randn(N, D, generator=_g(10 + step), dtype=torch.float64)
        y = torch.randint(0, 4, (N,), generator=_g(20 + step))
        sl = rank_rows(rank, world, N)
        zl = z[sl].clone().requires_grad_(True)
        loss = xbm(zl, y[sl])
        loss.backward()
        out.append({"loss": loss.detach(), "grad": zl.grad / world})
    return {"steps": out, "memory": xbm.memory()[0].clone(), "filled": int(xbm.memory_filled)}


def training_inputs() -> dict:
    """Inputs of the DDP-wrapped two-tower trainings (InfoNCE, SigLIP gathered and ring)."""
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(6, 12, 8, generator=g)
    return {"kinds": ["infonce", "siglip", "siglip_ring"], "xs": xs,
            "ys": xs[..., :5] + 0.3 * torch.randn(6, 12, 5, generator=g)}


def suite(rank: int, world: int, cases: list[DDPCase], sizes: dict[str, list[int]], trainer_dir: str) -> dict:
    """Everything the DDP tests need, in ONE spawn per world size (worker start-up dominates)."""
    import core_ddp_workers as core

    assert dist.get_world_size() == world
    train = training_inputs()
    return {"cases": _rank_worker(rank, world, cases, sizes), "gather": gather_checks(rank, world),
            "moe": train_moe(rank, world), "hydra": train_hydra(rank, world), "xbm": xbm_steps(rank, world),
            "info": core.rank_info_and_gather(rank, world, torch.arange(12.0).reshape(6, 2)),
            "two_tower": core.ddp_train_two_tower(rank, world, train["kinds"], train["xs"], train["ys"]),
            "trainer": core.ddp_trainer(rank, world, trainer_dir)}
