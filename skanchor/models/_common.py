"""What the text classifiers of :mod:`skanchor.models` share: the text-input check, the device
resolved at initialisation, seeding, parameter validation and quiet Hugging Face loading."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_parameter_constraints

from skanchor._hf import torch_device
from skanchor._validation import check_texts as _check_texts
from skanchor._validation import describe

__all__ = [
    "AUTO_DEVICE",
    "NetMixin",
    "check_max_length",
    "check_no_fit_params",
    "check_texts",
    "resolve_device",
]

#: The default ``device`` of the classifiers: CUDA when the machine has it, else the CPU,
#: decided when the net is initialised (``fit``), never at import, so ``get_params`` is the
#: same on every machine. The device in use is the fitted attribute ``device_``.
AUTO_DEVICE = "auto"


def check_texts(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a 1-d object array of ``str``, by :func:`skanchor._validation.check_texts`.

    The classifiers also take one column of a 2-d input (an ``(n, 1)`` array or a one-column
    DataFrame, as a scikit-learn ``ColumnTransformer`` hands it on); anything else follows
    the library's one rule for texts.
    """
    if getattr(X, "ndim", None) == 2 and X.shape[1] == 1:
        X = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X, dtype=object)[:, 0]
    return np.asarray(_check_texts(X, name), dtype=object)


def resolve_device(device: Any) -> Any:
    """``"auto"``: ``"cuda"`` if ``torch.cuda.is_available()``, else ``"cpu"``; None stays None
    (skorch then leaves tensors where they are); any other value (``"cpu"``, ``"cuda:1"``, a
    ``torch.device``) as a checked torch device string (``"gpu"``, or CUDA on a machine
    without it, is a ValueError naming the value)."""
    if isinstance(device, str) and device.strip().lower() == AUTO_DEVICE:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return None if device is None else torch_device(device)


class NetMixin:
    """Mixed into a skorch ``NeuralNet`` subclass (before it): ``device="auto"`` resolved at
    initialisation into ``device_``, seeding from ``random_state``/``data_random_state``, and
    ``_validate_params`` from the class's ``_parameter_constraints`` (scikit-learn's
    machinery).

    skorch reads ``self.device`` wherever it moves modules and tensors; while it does, the
    resolved ``device_`` stands in for ``"auto"`` (:meth:`_on_device`), so the parameter itself
    keeps its machine-independent value.
    """

    _parameter_constraints: ClassVar[dict] = {}

    @property
    def classes_(self) -> np.ndarray:
        """The classes of the last fit (``classes``, or the labels of ``y``), in the order of
        ``predict_proba``'s columns. skorch reads the ``classes`` parameter live; here a
        ``set_params(classes=...)`` takes effect at the next fit, as parameters do."""
        try:
            return self.classes_inferred_
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_': it is not fitted yet"
            ) from None

    def _validate_params(self) -> None:
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )

    # -- device ----------------------------------------------------------------------------
    @property
    def _device(self) -> Any:
        """The device in use: ``device_`` once initialised, else ``device`` resolved now."""
        return getattr(self, "device_", None) or resolve_device(self.device)

    @contextlib.contextmanager
    def _on_device(self) -> Iterator[None]:
        device = self.device
        self.device = self._device
        try:
            yield
        finally:
            self.device = device

    def initialize(self) -> Any:
        self.device_ = resolve_device(self.device)
        with self._on_device():
            return super().initialize()

    def infer(self, x: Any, **fit_params: Any) -> Any:
        with self._on_device():
            return super().infer(x, **fit_params)

    def get_loss(self, *args: Any, **kwargs: Any) -> Any:
        with self._on_device():
            return super().get_loss(*args, **kwargs)

    def load_params(self, *args: Any, **kwargs: Any) -> Any:
        with self._on_device():
            return super().load_params(*args, **kwargs)

    def __setstate__(self, state: dict) -> None:
        # skorch maps the saved tensors to ``state["device"]`` (or the CPU when that device is
        # missing) and stores the device it used; "auto" maps to the device it had resolved.
        device = state.get("device")
        auto = isinstance(device, str) and device.strip().lower() == AUTO_DEVICE
        if auto:
            state["device"] = state.get("device_") or resolve_device(device)
        super().__setstate__(state)
        if auto:
            self.device_, self.device = self.device, device

    # -- seeding -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """Fork torch's RNG and seed it (init, dropout) and the batch order from
        ``random_state`` (the order from ``data_random_state`` when given); the order's
        generator is ``data_generator_`` for the duration (None when unseeded)."""
        model_seed = data_seed = None
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            model_seed, data_seed = (int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2))
        if getattr(self, "data_random_state", None) is not None:
            data_rng = check_random_state(self.data_random_state)
            data_seed = int(data_rng.randint(np.iinfo(np.int32).max))
        if model_seed is None and data_seed is None:
            self.data_generator_ = None
            yield
            return
        on_cuda = torch.cuda.is_available() and str(self._device).startswith("cuda")
        devices = list(range(torch.cuda.device_count())) if on_cuda else []
        with torch.random.fork_rng(devices=devices, enabled=model_seed is not None):
            if model_seed is not None:
                torch.manual_seed(model_seed)
            if data_seed is not None:
                self.data_generator_ = torch.Generator().manual_seed(data_seed)
            else:
                self.data_generator_ = None
            try:
                yield
            finally:
                self.data_generator_ = None


def check_max_length(max_length: int, config: Any, checkpoint: Any) -> None:
    """``max_length`` within the model's token positions (``max_position_embeddings``, where
    its config says): refused at fit, not at the first long text of a later round."""
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and 0 < positions < max_length:
        raise ValueError(
            f"max_length={max_length} is more than the {positions} token positions of "
            f"checkpoint={describe(str(checkpoint), 300)}: pass max_length <= {positions}"
        )


def check_no_fit_params(estimator: Any, fit_params: dict) -> None:
    """The text models' networks take texts only: a fit parameter (``sample_weight``, ...)
    is an error naming it here, not deep inside the module's ``forward``."""
    if fit_params:
        raise TypeError(
            f"{type(estimator).__name__}.fit takes no fit parameters (its network reads texts "
            f"only), got {', '.join(sorted(fit_params))}"
        )
