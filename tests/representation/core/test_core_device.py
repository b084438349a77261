"""Issue 18: device choice under torchrun and without usable CUDA.

* the CUDA ordinal of a process: LOCAL_RANK where every process sees every GPU, 0 where each sees only
  its own (SLURM-style), an error where processes outnumber GPUs;
* ``device="auto"`` falls back to the CPU, loudly on a machine that has an NVIDIA GPU (an old driver
  must never mean a silent CPU run); ``"cuda"`` without usable CUDA fails with one line.
"""

from __future__ import annotations

import pytest
import torch

from representation.distributed import launch
from representation.errors import DeviceError


@pytest.mark.parametrize(("local_rank", "local_world", "visible", "expect"), [
    (0, 1, 1, 0), (3, 8, 8, 3), (7, 8, 8, 7), (1, 2, 4, 1),   # every process sees every GPU
    (3, 8, 1, 0), (1, 2, 1, 0),                              # each process sees its own one GPU
    (5, None, 8, 5), (5, None, 1, 0),                        # no LOCAL_WORLD_SIZE (other launchers)
])
def test_cuda_ordinal(local_rank, local_world, visible, expect):
    assert launch.local_cuda_ordinal(local_rank, local_world, visible) == expect


@pytest.mark.parametrize(("local_rank", "local_world", "visible"), [(0, 8, 4), (5, 8, 4), (2, None, 2), (0, 1, 0)])
def test_more_processes_than_gpus_is_an_error(local_rank, local_world, visible):
    with pytest.raises(DeviceError):
        launch.local_cuda_ordinal(local_rank, local_world, visible)


def test_auto_without_cuda_is_loud_only_where_a_gpu_was_expected(monkeypatch, capsys):
    monkeypatch.setattr(launch, "cuda_problem", lambda: "an NVIDIA driver is present but torch cannot use it")
    monkeypatch.setattr(launch, "gpu_expected", lambda: True)
    with pytest.warns(UserWarning, match="CUDA is not usable .*driver.*running on the CPU"):
        assert launch.resolve_device("auto") == torch.device("cpu")
    assert "WARNING" in capsys.readouterr().err
    monkeypatch.setattr(launch, "gpu_expected", lambda: False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert launch.resolve_device(None) == torch.device("cpu")


def test_cuda_without_cuda_fails_in_one_line(monkeypatch):
    monkeypatch.setattr(launch, "cuda_problem", lambda: "no NVIDIA GPU found")
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(DeviceError, match="CUDA is not usable: no NVIDIA GPU found") as info:
            launch.resolve_device(spec)
        assert "\n" not in str(info.value)
    with pytest.raises(DeviceError, match="unknown device"):
        launch.resolve_device("tpu")
    assert launch.resolve_device("cpu") == torch.device("cpu")


def test_cuda_problem_names_a_reason():
    problem = launch.cuda_problem()
    assert (problem is None) == torch.cuda.is_available()
    if problem is not None:
        assert problem and "\n" not in problem
