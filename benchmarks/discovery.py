"""Which configuration finds the most minority items for the same labels? (issue 12)

The tasks and their split into a **tuning half** and a **report half** are fixed here, before
any tuning (commit "discovery: fix the task list and its split before tuning"). Configurations
are chosen on the tuning half only; the report half is run once per candidate configuration
that is reported, and its results are never used to change a configuration.

The split was drawn with ``numpy.random.default_rng(20261202)``, stratified so that each half
holds one multiclass task (several minority classes) and one task with a 2,000-label budget:
per stratum (multiclass; budget 2,000; the eight one-vs-rest tasks), a permutation, the first
half to tuning.
"""

from __future__ import annotations

#: Every task: a dataset of ``skanchor.experiments.loaders`` and the options of ``build_task``.
#: ``rate=None`` keeps Reuters' natural rates (0.4%-2.7% of the LEWISSPLIT train pool); the
#: others downsample the minority class(es) to 1% of the pool (never the test set).
TASKS: dict[str, dict] = {
    "reuters-coffee": {"dataset": "reuters", "minority": ["coffee"], "rate": "natural"},
    "reuters-gold": {"dataset": "reuters", "minority": ["gold"], "rate": "natural"},
    "reuters-ship": {"dataset": "reuters", "minority": ["ship"], "rate": "natural"},
    "reuters-sugar": {"dataset": "reuters", "minority": ["sugar"], "rate": "natural"},
    "reuters-crude": {"dataset": "reuters", "minority": ["crude"], "rate": "natural"},
    "reuters-multi": {
        "dataset": "reuters",
        "minority": ["cocoa", "copper", "cotton"],
        "rate": "natural",
    },
    "imdb-pos": {
        "dataset": "imdb",
        "minority": ["pos"],
        "rate": 0.01,
        "max_test_majority": 5000,
        "budget": 2000,
    },
    "sst2-neg": {"dataset": "sst2", "minority": ["negative"], "rate": 0.01, "budget": 2000},
    "sms-spam": {"dataset": "sms-spam", "minority": ["spam"], "rate": 0.01},
    "20ng-space": {"dataset": "20newsgroups", "minority": ["sci.space"], "rate": 0.01},
    "20ng-religion": {"dataset": "20newsgroups", "minority": ["talk.religion.misc"], "rate": 0.01},
    "20ng-multi": {
        "dataset": "20newsgroups",
        "minority": ["comp.graphics", "sci.med", "rec.sport.hockey"],
        "rate": 0.01,
    },
}

#: Settings every task shares (ExperimentConfig fields). MiniLM-L6-v2 embeds the first 128
#: word pieces of each text (the length it was trained at; its default of 256 doubles the
#: embedding cost of long documents for no measured gain here).
PROTOCOL: dict = {"embedder_params": {"max_seq_length": 128}}

#: Configurations are tuned on these tasks only.
TUNING = ("20ng-multi", "imdb-pos", "reuters-ship", "reuters-crude", "sms-spam", "reuters-gold")
#: The targets are reported on these tasks; nothing is tuned on them.
REPORT = (
    "reuters-multi",
    "sst2-neg",
    "reuters-sugar",
    "20ng-space",
    "reuters-coffee",
    "20ng-religion",
)

assert sorted(TUNING + REPORT) == sorted(TASKS) and not set(TUNING) & set(REPORT)
