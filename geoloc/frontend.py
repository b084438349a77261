"""What the command-line front ends share.

* The model-source options (``--model``, ``--zero-shot``, ``--pretrained``, ``--clip-checkpoint``, ``--cells``,
  ``--calibration``) and :func:`source_from_options` turning them into a :class:`geoloc.sources.ModelSource`:
  ``geoloc predict``, ``eval``, ``serve``, ``app``, ``bot play`` and ``bot serve-model`` declare them with
  these constants, so their help and behaviour cannot drift apart.
* :func:`format_prediction`: the text lines ``geoloc predict`` prints for one prediction.
* :func:`command_line`: this invocation as a ``geoloc ...`` command, for model cards.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from geoloc.sources import ModelSource

MODEL_HELP = ("Model: a bundle folder, or hf-hub:ORG/NAME[@REVISION] (a published bundle, downloaded once into the "
              "Hugging Face cache); default: $GEOLOC_MODEL, else synthworld-tiny.")
MODEL_OPT = typer.Option(None, "--model", "-m", help=MODEL_HELP)
ZERO_SHOT_OPT = typer.Option(None, "--zero-shot", metavar="CLIP_NAME",
                             help="No trained model: CLIP text prompts per geocell, admin-1 unit and country, fused "
                                  "with a geographic prior (open_clip architecture, or hf-hub:ORG/REPO).")
PRETRAINED_OPT = typer.Option(None, "--pretrained", help="--zero-shot: open_clip pretrained tag (e.g. openai; "
                              "downloaded once into the Hugging Face cache).")
CLIP_CHECKPOINT_OPT = typer.Option(None, "--clip-checkpoint", help="--zero-shot: local full CLIP checkpoint file.")
CELLS_OPT = typer.Option(None, "--cells", help="--zero-shot: geocell file or bundle (default: the default model's).")
CALIBRATION_OPT = typer.Option(None, "--calibration", help="--zero-shot: fusion weights fitted by "
                               "`geoloc zeroshot calibrate` (default: uncalibrated, density prior).")


def source_from_options(model: str | None, zero_shot: str | None, pretrained: str | None,
                        clip_checkpoint: str | None, cells: str | None, calibration: str | None) -> ModelSource:
    """:meth:`ModelSource.from_options` in the order the options are declared."""
    return ModelSource.from_options(model, zero_shot=zero_shot, pretrained=pretrained, clip_checkpoint=clip_checkpoint,
                                    cells=cells, calibration=calibration)


def command_line(group: str = "") -> str:
    """This invocation as ``geoloc ...`` (the command a model card records). Run through the ``geoloc``
    entry point, it is argv as given; run as ``python -m geoloc.<group>.cli`` (e.g. under torchrun), the
    sub-command ``group`` (``train``, ``refine``) is put back in front."""
    argv = list(sys.argv)
    rest = [shlex.quote(a) for a in argv[1:]]
    if argv and Path(argv[0]).name == "geoloc":
        return " ".join(["geoloc", *rest])
    return " ".join(["geoloc", *([group] if group else []), *rest])


def format_prediction(p) -> list[str]:
    """Text lines for one :class:`geoloc.predict.Prediction`: the guess, its country and nearest place, then
    the top-k cells; a zero-shot prediction adds the country prompts' own pick."""
    if not p.ok:
        return [f"{p.source}: error: {p.error}"]
    country = p.countries[0].name if p.countries else "?"
    place = p.top_k[0].place.name if p.top_k and p.top_k[0].place else ""
    ms = f"{p.timings_ms.get('total', 0.0):.0f} ms"
    texts = getattr(p, "countries_text", None)
    tail = f"country prompts: {texts[0].name} {texts[0].probability:.3f}; {ms}" if texts else ms
    lines = [f"{p.source}: {p.lat:.4f}, {p.lon:.4f}  {country}  {place}  ({tail})"]
    lines += [f"  {rank}. cell {t.cell} {t.cell_name}  {t.lat:.3f}, {t.lon:.3f}  p={t.probability:.3f}"
              for rank, t in enumerate(p.top_k, 1)]
    return lines


__all__ = [
    "CALIBRATION_OPT",
    "CELLS_OPT",
    "CLIP_CHECKPOINT_OPT",
    "MODEL_HELP",
    "MODEL_OPT",
    "PRETRAINED_OPT",
    "ZERO_SHOT_OPT",
    "format_prediction",
    "source_from_options",
]
