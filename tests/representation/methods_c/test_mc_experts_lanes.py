"""Issue 15, rows 20 (TaskExpert) and 31 (MULTI-LANE)."""

import torch

from representation.adapters import MultiLaneAdapter, TaskIdentifier
from representation.blocks import TaskExpertBlock


def test_task_expert_gates_sum_to_one_and_mix_the_experts():
    torch.manual_seed(0)
    blk = TaskExpertBlock(dim=6, num_experts=3, num_tasks=2).double()
    x = torch.randn(5, 4, 6, dtype=torch.float64)
    g1 = blk.gates(x)
    torch.testing.assert_close(g1.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    assert float(g1[..., -1].detach().abs().max()) == 0.0  # no memory expert in the first layer
    feats, mem = blk(x)
    experts = [e(x) for e in blk.experts]
    for t in range(2):
        for b in range(5):
            expect = sum(g1[t, b, k] * experts[k][b] for k in range(3))
            torch.testing.assert_close(feats[t, b], expect)
    torch.testing.assert_close(mem, blk.memory_norm(feats))
    feats2, mem2 = blk(x, mem)  # second layer: the memory is an extra expert
    g2 = blk.gates(x, mem)
    torch.testing.assert_close(g2.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    expect = sum(g2[0, 1, k] * experts[k][1] for k in range(3)) + g2[0, 1, 3] * mem[0, 1]
    torch.testing.assert_close(feats2[0, 1], expect)
    torch.testing.assert_close(mem2, blk.memory_norm(mem + feats2))


def test_one_expert_without_memory_is_a_shared_decoder():
    blk = TaskExpertBlock(dim=4, num_experts=1, num_tasks=3, memory=False)
    x = torch.randn(7, 4)
    feats, mem = blk(x)
    assert mem is None and feats.shape == (3, 7, 4)
    for t in range(3):
        torch.testing.assert_close(feats[t], blk.experts[0](x))


def _lane_model():
    torch.manual_seed(1)
    return MultiLaneAdapter(dim=8, depth=2, heads=2, num_tasks=3, num_selectors=2, num_prompts=2).double()


def test_multi_lane_backbone_gets_no_gradient():
    model = _lane_model()
    patches = torch.randn(4, 5, 8, dtype=torch.float64, requires_grad=True)
    model(patches, torch.tensor([0, 1, 2, 1])).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert patches.grad is None
    assert model.tokens.grad.abs().sum() > 0 and model.prompts.grad.abs().sum() > 0
    assert float(model.tokens.grad[0].abs().sum()) > 0 and float(model.tokens.grad[2].abs().sum()) > 0


def test_multi_lane_tasks_are_independent():
    model = _lane_model()
    patches = torch.randn(3, 5, 8, dtype=torch.float64)
    before = model.lanes(patches).detach()
    with torch.no_grad():
        model.tokens[1] += torch.randn(3, 8, dtype=torch.float64)
        model.prompts[:, :, 1] += torch.randn(2, 2, 2, 8, dtype=torch.float64)
    after = model.lanes(patches).detach()
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]])
    assert float((after[1] - before[1]).abs().max()) > 1e-3


def test_multi_lane_selector_summary_is_a_softmax_average_of_patches():
    model = _lane_model()
    model.prompts = None  # no prompts: the first layer is checked by hand
    patches = torch.randn(2, 5, 8, dtype=torch.float64)
    layer = model.backbone[0]
    xn = layer.norm1(patches)
    sel = model.tokens[0, 1:]
    w = torch.softmax(layer.norm1(sel) @ xn[0].T / 8 ** 0.5, dim=-1)
    lane = torch.cat([layer.norm1(model.tokens[0, :1]), w @ xn[0]])
    cls = model.tokens[0, :1] + layer.attend(lane.unsqueeze(0))[0, :1]
    cls = cls + layer.mlp(layer.norm2(cls))
    single = MultiLaneAdapter(dim=8, depth=1, heads=2, num_tasks=3, num_selectors=2, num_prompts=0).double()
    single.backbone[0].load_state_dict(layer.state_dict())
    with torch.no_grad():
        single.tokens.copy_(model.tokens)
    torch.testing.assert_close(single.lanes(patches)[0, 0], cls[0])


def test_task_identifier_picks_the_nearest_key_and_learns_keys():
    ident = TaskIdentifier(num_tasks=3, dim=4)
    with torch.no_grad():
        ident.keys.copy_(torch.eye(3, 4))
    task, sim = ident(torch.tensor([[0.1, 0.0, 2.0, 0.3], [3.0, 0.2, 0.0, 0.0]]))
    assert task.tolist() == [2, 0] and bool((sim > 0.9).all())
    feats = torch.randn(64, 4) + torch.tensor([0.0, 0.0, 0.0, 4.0])
    opt = torch.optim.SGD(ident.parameters(), lr=0.5)
    first = float(ident.key_loss(feats, torch.full((64,), 1)))
    for _ in range(30):
        loss = ident.key_loss(feats, torch.full((64,), 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first - 0.3 and (ident(feats)[0] == 1).float().mean() > 0.9
