import torch

from representation.similarity import CosineSimilarity, DotSimilarity, pairwise_cosine, pairwise_similarity
from representation.testing.reference import naive_cosine


def test_cosine_matches_loops_and_is_scale_invariant():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(4, 7, generator=g, dtype=torch.float64)
    s = pairwise_cosine(q, k)
    torch.testing.assert_close(s, naive_cosine(q, k))
    torch.testing.assert_close(pairwise_cosine(3.0 * q, 0.5 * k), s)
    assert s.shape == (5, 4) and bool((s.abs() <= 1 + 1e-12).all())
    torch.testing.assert_close(CosineSimilarity()(q, k), s)


def test_dot_is_matmul_and_zero_vector_cosine_is_zero():
    q, k = torch.randn(3, 4), torch.randn(2, 4)
    torch.testing.assert_close(DotSimilarity()(q, k), q @ k.T)
    torch.testing.assert_close(pairwise_similarity(q, k, "dot"), q @ k.T)
    q[0] = 0
    assert bool((pairwise_cosine(q, k)[0] == 0).all())


def test_bad_shapes_and_kind_raise():
    import pytest

    with pytest.raises(ValueError):
        pairwise_cosine(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError):
        pairwise_similarity(torch.randn(3, 4), torch.randn(3, 4), "l2")
