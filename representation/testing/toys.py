"""Small synthetic geolocation problems for the "beats its baseline" toy runs.

Locations are observed through a smooth random map of the unit-sphere position (random
Fourier features, spatial frequency ``freq`` per radian) plus Gaussian noise, so nearby
places look alike and exact instances are ambiguous, as in photo geolocation.
"""

from __future__ import annotations

import math

import torch

from representation.geodesy import haversine_km_torch


def random_locations(n: int, seed: int, lat_max: float = 60.0) -> tuple[torch.Tensor, torch.Tensor]:
    """[n] latitudes / longitudes (degrees), uniform on the sphere band |lat| <= lat_max."""
    g = torch.Generator().manual_seed(seed)
    z_max = math.sin(math.radians(lat_max))
    z = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * z_max
    lon = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 180.0
    return torch.rad2deg(torch.asin(z)), lon


def unit_vectors(lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
    """[n, 3] Cartesian unit vectors of degree coordinates."""
    p, lam = torch.deg2rad(lat), torch.deg2rad(lon)
    return torch.stack([torch.cos(p) * torch.cos(lam), torch.cos(p) * torch.sin(lam), torch.sin(p)], dim=1)


class GeoObserver:
    """``observe(lat, lon, seed) -> [n, dim]`` float32 features: cos(W u + b) mixed linearly, plus noise."""

    def __init__(self, dim: int = 32, n_fourier: int = 64, freq: float = 6.0, noise: float = 0.3,
                 seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(3, n_fourier, generator=g, dtype=torch.float64) * freq
        self.b = torch.rand(n_fourier, generator=g, dtype=torch.float64) * 2 * math.pi
        self.mix = torch.randn(n_fourier, dim, generator=g, dtype=torch.float64) / math.sqrt(n_fourier)
        self.noise = noise

    def observe(self, lat: torch.Tensor, lon: torch.Tensor, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        clean = torch.cos(unit_vectors(lat, lon) @ self.w + self.b) @ self.mix
        clean = clean / clean.std()
        return (clean + self.noise * torch.randn(clean.shape, generator=g, dtype=torch.float64)).float()


def nearest_neighbour_km(query_emb: torch.Tensor, gallery_emb: torch.Tensor, q_lat: torch.Tensor,
                         q_lon: torch.Tensor, g_lat: torch.Tensor, g_lon: torch.Tensor) -> torch.Tensor:
    """[n_q] km error when each query takes the location of its cosine-nearest gallery item."""
    qn = torch.nn.functional.normalize(query_emb, dim=1)
    gn = torch.nn.functional.normalize(gallery_emb, dim=1)
    idx = (qn @ gn.T).argmax(dim=1)
    return haversine_km_torch(q_lat, q_lon, g_lat[idx], g_lon[idx])


def _mlp(d_in: int, d_out: int, hidden: int = 128) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, hidden),
                               torch.nn.GELU(), torch.nn.Linear(hidden, d_out))


def geo_retrieval_toy(kind: str, *, steps: int = 300, batch: int = 256, tau_km: float = 1000.0,
                      n_train: int = 4000, n_query: int = 1000, noise: float = 0.3, seed: int = 0
                      ) -> dict[str, float]:
    """Siamese encoder trained on two noisy views per location, then nearest-neighbour
    geolocation of NEW places against the training gallery.

    ``kind``: "hard" (CLIP InfoNCE, identity targets), "geo" (same loss with in-batch
    haversine-kernel soft targets, ``tau_km``), "siglip" (SigLIP), "untrained".
    Returns median / mean km error and the share within 500 km.
    """
    from representation.losses import InfoNCELoss, SigLIPLoss
    from representation.targets import haversine_kernel_targets

    obs = GeoObserver(noise=noise, seed=seed)
    lat, lon = random_locations(n_train, seed + 1)
    torch.manual_seed(seed)
    enc = _mlp(32, 64)
    if kind != "untrained":
        loss_fn: torch.nn.Module = (SigLIPLoss(chunk_size=128) if kind == "siglip"
                                    else InfoNCELoss(temperature=0.1, symmetric=True))
        opt = torch.optim.AdamW([*enc.parameters(), *loss_fn.parameters()], lr=2e-3)
        g = torch.Generator().manual_seed(seed + 2)
        for step in range(steps):
            idx = torch.randperm(n_train, generator=g)[:batch]
            v1 = obs.observe(lat[idx], lon[idx], seed=10 * step + 3)
            v2 = obs.observe(lat[idx], lon[idx], seed=10 * step + 4)
            kw = {}
            if kind == "geo":
                kw["targets"] = haversine_kernel_targets(lat[idx], lon[idx], lat[idx], lon[idx], tau_km).float()
            loss = loss_fn(enc(v1), enc(v2), **kw)
            opt.zero_grad()
            loss.backward()
            opt.step()
    q_lat, q_lon = random_locations(n_query, seed + 5)
    with torch.no_grad():
        gallery = enc(obs.observe(lat, lon, seed=999_001))
        queries = enc(obs.observe(q_lat, q_lon, seed=999_002))
    km = nearest_neighbour_km(queries, gallery, q_lat, q_lon, lat, lon)
    return {"median_km": float(km.median()), "mean_km": float(km.mean()),
            "within_500km": float((km < 500).double().mean())}


def geocell_toy(smoothing: bool, *, n_cells: int = 200, tau_km: float = 450.0, steps: int = 400,
                batch: int = 256, n_train: int = 6000, n_test: int = 2000, noise: float = 0.3, seed: int = 0
                ) -> dict[str, float]:
    """Geocell classifier on noisy observations: one-hot CE vs PIGEON haversine smoothing
    (paper form, un-normalised targets, ``tau_km``). Cells are the Voronoi regions of
    ``n_cells`` random centroids; the prediction is the centroid of the arg-max cell.
    Returns median / mean km error and cell accuracy on new locations."""
    from representation.functional import soft_cross_entropy
    from representation.targets import pigeon_geocell_targets

    obs = GeoObserver(noise=noise, seed=seed)
    c_lat, c_lon = random_locations(n_cells, seed + 7)
    lat, lon = random_locations(n_train, seed + 1)

    def cell_of(la: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
        d = haversine_km_torch(la[:, None], lo[:, None], c_lat[None], c_lon[None])
        return d.argmin(dim=1)

    cell = cell_of(lat, lon)
    torch.manual_seed(seed)
    clf = _mlp(32, n_cells, hidden=256)
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed + 2)
    for step in range(steps):
        idx = torch.randperm(n_train, generator=g)[:batch]
        logits = clf(obs.observe(lat[idx], lon[idx], seed=10 * step + 3))
        if smoothing:
            d = haversine_km_torch(lat[idx][:, None], lon[idx][:, None], c_lat[None], c_lon[None])
            y = pigeon_geocell_targets(d, cell[idx], tau_km, form="paper").float()
            loss = soft_cross_entropy(logits, y, normalize_targets=False)
        else:
            loss = torch.nn.functional.cross_entropy(logits, cell[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    t_lat, t_lon = random_locations(n_test, seed + 5)
    with torch.no_grad():
        pred = clf(obs.observe(t_lat, t_lon, seed=999_003)).argmax(dim=1)
    km = haversine_km_torch(t_lat, t_lon, c_lat[pred], c_lon[pred])
    return {"median_km": float(km.median()), "mean_km": float(km.mean()),
            "cell_acc": float((pred == cell_of(t_lat, t_lon)).double().mean())}
