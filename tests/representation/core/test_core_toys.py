"""Toy "beats its baseline" runs (slow; numbers recorded in benchmarks/RESULTS.md).

Both use noisy observations (noise 1.0) of a smooth random map of the sphere, so many
predictions are far off and the geographic structure of the targets matters."""

import pytest
import torch

from representation.testing.toys import geo_retrieval_toy, geocell_toy


@pytest.mark.slow
def test_haversine_soft_targets_cut_gross_errors_of_hard_infonce():
    torch.set_num_threads(1)
    res = {"untrained": geo_retrieval_toy("untrained", noise=1.0),
           "hard": geo_retrieval_toy("hard", noise=1.0),
           "geo": geo_retrieval_toy("geo", noise=1.0, tau_km=600.0),
           "siglip": geo_retrieval_toy("siglip", noise=1.0)}
    for kind, r in res.items():
        print(f"geo retrieval {kind:10s} median {r['median_km']:8.1f} km  mean {r['mean_km']:8.1f} km  "
              f"<500 km {r['within_500km']:.3f}")
    assert res["hard"]["mean_km"] < res["untrained"]["mean_km"]
    assert res["siglip"]["mean_km"] < res["untrained"]["mean_km"]
    # soft in-batch km targets trade a little fine resolution for fewer continent-scale errors
    assert res["geo"]["mean_km"] < 0.95 * res["hard"]["mean_km"]


@pytest.mark.slow
def test_pigeon_haversine_smoothing_beats_one_hot_on_km_error():
    torch.set_num_threads(1)
    onehot = geocell_toy(False, n_cells=500, noise=1.0)
    smooth = geocell_toy(True, n_cells=500, noise=1.0, tau_km=150.0)
    for name, r in (("one-hot CE", onehot), ("PIGEON smoothing", smooth)):
        print(f"geocells {name:17s} median {r['median_km']:8.1f} km  mean {r['mean_km']:8.1f} km  "
              f"cell acc {r['cell_acc']:.3f}")
    assert smooth["median_km"] < onehot["median_km"]
    assert smooth["mean_km"] < 0.95 * onehot["mean_km"]
