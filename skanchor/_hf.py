"""What the text models and the sentence embedder share: the torch device check and quiet
Hugging Face loading."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def torch_device(device: Any) -> str:
    """``device`` as a torch device string, checked: not a torch device, or CUDA on a machine
    without it, is a ValueError naming the value (not torch's error at the first tensor)."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine")
    return str(parsed)


@contextlib.contextmanager
def quiet_transformers(quiet: bool) -> Iterator[None]:
    """Silence transformers' load report and progress bars (printed on every re-init)."""
    if not quiet:
        yield
        return
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
