"""The three parts together: GeoModel -> prototypes -> refinement -> metrics.

The quick test checks the chain's shapes and contracts on a random model; the slow one trains
the tiny model on coloured-noise "places" and checks that the loss falls and that refinement to
the nearest training image beats the cell centroid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoloc.eval import geolocation_metrics
from geoloc.model import GeoModel, GeoModelConfig, geocell_loss
from geoloc.refine import Refiner, build_prototypes

CELL_CENTROIDS = np.array([[48.0, 2.0], [40.0, -3.0], [52.0, 13.0], [41.0, 12.0]])


def _places(n_per_cell: int, seed: int):
    """Images whose colour encodes the cell and whose brightness pattern encodes a place within it."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.float32)
    imgs, cells, lat, lon = [], [], [], []
    for c in range(4):
        for i in range(n_per_cell):
            place = i % 3
            img = 0.3 * torch.randn(2, 3, 64, 64, generator=g) + colours[c][None, :, None, None]
            img[:, :, place * 20:(place + 1) * 20, :] += 1.5  # a band marks the place
            imgs.append(img)
            cells.append(c)
            lat.append(CELL_CENTROIDS[c, 0] + 0.5 * (place - 1))
            lon.append(CELL_CENTROIDS[c, 1] + 0.5 * (place - 1))
    return torch.stack(imgs), torch.tensor(cells), torch.tensor(lat), torch.tensor(lon)


def test_chain_contracts():
    torch.manual_seed(0)
    model = GeoModel(GeoModelConfig(num_cells=4)).eval()
    x, cells, lat, lon = _places(4, seed=0)  # x [16, 2 views, 3, 64, 64]
    with torch.no_grad():
        out = model(x)
    protos = build_prototypes(cells.numpy(), lat.numpy(), lon.numpy(), out["embedding"].numpy(), 4,
                              progress=False)
    res = Refiner(protos, cell_centroids=CELL_CENTROIDS, top_k=2).refine(
        out["embedding"], torch.softmax(out["geocell"], 1))
    assert res.lat.shape == (16,) and np.isfinite(res.lat).all()
    m = geolocation_metrics(res.lat, res.lon, lat.numpy(), lon.numpy())
    assert m["n"] == 16 and 0 <= m["acc@2500km"] <= 1


@pytest.mark.slow
def test_tiny_training_and_refinement_improve():
    torch.manual_seed(0)
    model = GeoModel(GeoModelConfig(num_cells=4))
    x, cells, lat, lon = _places(9, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cent = torch.tensor(CELL_CENTROIDS, dtype=torch.float32)
    losses = []
    for step in range(60):
        idx = torch.randperm(len(cells))[:12]
        loss = geocell_loss(model(x[idx])["geocell"], lat[idx].float(), lon[idx].float(), cells[idx], cent,
                            tau_km=75.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    model.eval()
    xt, ct, latt, lont = _places(3, seed=2)
    with torch.no_grad():
        train_out, test_out = model(x), model(xt)
    assert (test_out["geocell"].argmax(1) == ct).float().mean() >= 0.75
    protos = build_prototypes(cells.numpy(), lat.numpy(), lon.numpy(), train_out["embedding"].numpy(), 4,
                              progress=False)
    res = Refiner(protos, cell_centroids=CELL_CENTROIDS, top_k=2).refine(
        test_out["embedding"], torch.softmax(test_out["geocell"], 1))
    top = test_out["geocell"].argmax(1).numpy()
    refined = geolocation_metrics(res.lat, res.lon, latt.numpy(), lont.numpy())
    centroid = geolocation_metrics(CELL_CENTROIDS[top, 0], CELL_CENTROIDS[top, 1], latt.numpy(), lont.numpy())
    assert refined["median_km"] < centroid["median_km"]
