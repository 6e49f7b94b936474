"""The model's picture: its autograd graph, drawn by torchviz and rendered by Graphviz's `dot`.

One forward pass of a sample batch, traced back through autograd: every operation and every
weight (named as in the state dict, with its shape), as an SVG that a browser shows and the
report embeds. Graphviz is a system package (apt-get install graphviz); without it there is no
picture, and the caller says so.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from torchsweep.trainer.atomic import write_text_atomic
from torchsweep.trainer.files import PICTURE


def graphviz_missing() -> str | None:
    """Why no picture can be drawn here, or None."""
    if shutil.which("dot") is None:
        return "Graphviz's dot is not installed (apt-get install graphviz)"
    return None


def draw_export(directory: Path) -> Path:
    """Draw the model exported in `directory` as `directory/model.svg`; returns its path."""
    import torch
    from torchviz import make_dot

    from torchsweep.trainer.checkpoint import load_exported_model

    model, _, input_shape = load_exported_model(directory)
    sample = torch.zeros((1, *input_shape))
    with warnings.catch_warnings():   # torchviz compares versions with distutils: noise
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = make_dot(model(sample), params=dict(model.named_parameters()))
    path = Path(directory) / PICTURE
    write_text_atomic(path, graph.pipe(format="svg").decode("utf-8"))
    return path
