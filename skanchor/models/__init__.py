"""Text classifiers for the active-learning loop: skorch estimators on raw texts.

========================== ===================================================================
:class:`TransformerClassifier` the paper's protocol: the whole encoder fine-tuned every round
                               (any ``AutoModelForSequenceClassification``; minutes per round
                               on a CPU)
:class:`TopLayersClassifier`   the top layer(s) and a head fine-tuned over cached frozen states
                               (seconds per round on a CPU: 18.7 s at 1,000 labels
                               on 2 idle cores, see the user guide)
:class:`IdsToTexts`            ids → texts, the first step of a pipeline on an ids pool
========================== ===================================================================

Both classifiers take texts (a list, a 1-d array or a pandas Series of ``str``), work on their
own, as the last step of a scikit-learn ``Pipeline`` and as modAL's
``ActiveLearner(estimator=...)``, and expose ``predict_proba``, ``represent(X)`` (the input of
the classification layer, for BADGE and FT-BERTKM) and both from one pass
(``predict_proba_and_represent``). Their ``device`` defaults to ``"auto"``: CUDA when the
machine has it, decided at ``fit`` (``device_``), so ``get_params`` is the same everywhere.

In modAL's loop (both pool identities work with ``AnchoredQueryStrategy``)::

    from modAL.models import ActiveLearner
    from sklearn.pipeline import make_pipeline
    from skanchor.integrations.modal import patch_modal

    patch_modal()
    # ids (recommended): X_pool is an array of corpus ids, the pipeline turns ids into texts
    learner = ActiveLearner(
        estimator=make_pipeline(IdsToTexts(corpus), TopLayersClassifier()),
        query_strategy=AnchoredQueryStrategy(AnchorSubpool(index), strategy="badge"),
        X_training=initial_ids, y_training=labels,
    )
    # raw texts (array, list or pandas Series): the strategy hashes them back to ids
    learner = ActiveLearner(
        estimator=TransformerClassifier(checkpoint),
        query_strategy=AnchoredQueryStrategy(AnchorSubpool(index), lookup=RowLookup().fit(corpus)),
        X_training=corpus[initial_ids], y_training=labels,
    )

torch, transformers and skorch are imported by this package only; ``import skanchor`` stays
light (``skanchor.TransformerClassifier`` loads it on first use).
"""

from skanchor.models._common import AUTO_DEVICE, check_texts, resolve_device
from skanchor.models.ids import IdsToTexts
from skanchor.models.states import (
    FrozenEncoder,
    StateCache,
    StateCacheWarning,
    clear_state_caches,
)
from skanchor.models.top_layers import TopLayersClassifier, TopLayersModule
from skanchor.models.transformer import (
    MinStepsEarlyStopping,
    SequenceClassificationModule,
    TextCollator,
    TransformerClassifier,
    train_minority_f1,
)

__all__ = [
    "AUTO_DEVICE",
    "FrozenEncoder",
    "IdsToTexts",
    "MinStepsEarlyStopping",
    "SequenceClassificationModule",
    "StateCache",
    "StateCacheWarning",
    "TextCollator",
    "TopLayersClassifier",
    "TopLayersModule",
    "TransformerClassifier",
    "check_texts",
    "clear_state_caches",
    "resolve_device",
    "train_minority_f1",
]
