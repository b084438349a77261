import pytest
import torch
import torch.nn.functional as F

from representation.augment.embedding import GaussianNoise, MeanShift


def test_gaussian_noise_train_eval_and_norm():
    x = F.normalize(torch.randn(2000, 64), dim=1)
    noise = GaussianNoise(std=0.1, generator=torch.Generator().manual_seed(0))
    y = noise(x)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2000))
    raw = GaussianNoise(std=0.1, renormalize=False, generator=torch.Generator().manual_seed(0))(x)
    assert (raw - x).std().item() == pytest.approx(0.1, rel=0.03)
    torch.testing.assert_close(F.normalize(raw, dim=1), y)
    noise.eval()
    assert noise(x) is x
    assert GaussianNoise(std=0.0)(x).sub(x).abs().max() < 1e-6
    with pytest.raises(ValueError):
        GaussianNoise(std=-1)


def test_mean_shift_fit_and_modes():
    g = torch.Generator().manual_seed(1)
    gap = torch.zeros(8)
    gap[0] = 3.0
    text = F.normalize(torch.randn(500, 8, generator=g), dim=1)
    image = F.normalize(torch.randn(500, 8, generator=g) + gap, dim=1)
    ms = MeanShift(8).fit(text, image)
    torch.testing.assert_close(ms.shift, image.mean(0) - text.mean(0))
    shifted = ms(text)
    torch.testing.assert_close(shifted.norm(dim=1), torch.ones(500))
    # the shift moves text toward the image modality
    assert (shifted.mean(0) - image.mean(0)).norm() < (text.mean(0) - image.mean(0)).norm()
    ms.eval()
    assert ms(text) is text
    assert MeanShift(8, apply_in_eval=True).fit(text, image).eval()(text) is not text
    with pytest.raises(ValueError):
        MeanShift(4).fit(text, image)


def _two_modalities(n_cls=30, d=64, per=40, gap_norm=1.5, seed=0):
    """Class prototypes on the sphere; 'text' = prototype + small noise; 'image' = prototype +
    larger noise + a constant modality gap vector, all renormalised."""
    g = torch.Generator().manual_seed(seed)
    protos = F.normalize(torch.randn(n_cls, d, generator=g), dim=1)
    gap = F.normalize(torch.randn(d, generator=g), dim=0) * gap_norm
    y = torch.arange(n_cls).repeat_interleave(per)
    text = F.normalize(protos[y] + 0.05 * torch.randn(len(y), d, generator=g), dim=1)
    image = F.normalize(protos[y] + 0.25 * torch.randn(len(y), d, generator=g) + gap, dim=1)
    return text, image, y


def _train_head(text, y, aug, steps=300, seed=0):
    torch.manual_seed(seed)
    head = torch.nn.Linear(text.shape[1], int(y.max()) + 1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    aug.train()
    for _ in range(steps):
        loss = F.cross_entropy(head(aug(text)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    aug.eval()
    return head


@pytest.mark.slow
def test_noisy_text_head_transfers_to_images_better():
    """CLOSE toy: a constant gap separates the modalities; training on noisy text
    embeddings transfers to image embeddings better than training on clean text."""
    accs = {}
    for std in (0.0, 0.08, 0.12):
        runs = []
        for seed in range(3):
            text, image, y = _two_modalities(seed=seed)
            head = _train_head(text, y, GaussianNoise(std=std, generator=torch.Generator().manual_seed(seed)),
                               seed=seed)
            runs.append((head(image).argmax(1) == y).float().mean().item())
        accs[std] = sum(runs) / len(runs)
    print("CLOSE toy image accuracy by train noise std:", accs)
    assert accs[0.08] > accs[0.0] + 0.03 and accs[0.12] > accs[0.0] + 0.03
