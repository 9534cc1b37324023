"""The paper's metrics against hand-computed values, and Table 2 from synthetic records."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from skanchor.experiments.metrics import (
    auc,
    classification_metrics,
    common_round,
    majority_f1,
    median_iqr,
    minority_f1,
    run_summary,
)
from skanchor.experiments.report import format_table, groups, summary_table


def test_minority_and_majority_f1_by_hand():
    y_true = ["min", "min", "min", "maj", "maj", "maj", "maj", "maj"]
    y_pred = ["min", "min", "maj", "min", "maj", "maj", "maj", "maj"]
    # minority: tp 2, fp 1, fn 1 -> P = R = 2/3 -> F1 2/3; majority: tp 4, fp 1, fn 1 -> 4/5
    assert minority_f1(y_true, y_pred, ["min"]) == pytest.approx(2 / 3)
    assert majority_f1(y_true, y_pred, ["maj"]) == pytest.approx(4 / 5)
    scores = classification_metrics(y_true, y_pred, ("min",), ("maj", "min"))
    assert scores["accuracy"] == pytest.approx(6 / 8)
    assert scores["f1_per_class"] == {"maj": pytest.approx(0.8), "min": pytest.approx(2 / 3)}


def test_minority_f1_is_macro_over_minority_classes_and_zero_when_never_predicted():
    y_true = ["a", "a", "b", "b", "o", "o"]
    y_pred = ["a", "o", "o", "o", "o", "o"]
    # a: P 1, R 1/2 -> F1 2/3; b: never predicted -> 0; macro = 1/3
    assert minority_f1(y_true, y_pred, ["a", "b"]) == pytest.approx(1 / 3)
    assert minority_f1([0, 1], [0, 1], ["1"]) == 1.0  # labels compare as strings


def test_auc_is_the_trapezoidal_rule_with_one_unit_per_round():
    assert auc([0.2, 0.4, 0.8]) == pytest.approx((0.2 + 0.4) / 2 + (0.4 + 0.8) / 2)
    assert auc([1.0] * 11) == pytest.approx(10.0)  # T rounds at F1 = 1 score T (Table 2 units)
    assert auc([0.2, 0.4, 0.8], upto=1) == pytest.approx(0.3)
    assert auc([0.5]) == 0.0


def test_median_iqr_and_common_round():
    assert median_iqr([1, 2, 3, 4, 100]) == (3.0, 2.0)
    assert median_iqr([7.0]) == (7.0, 0.0)
    med, iqr = median_iqr([])
    assert math.isnan(med) and math.isnan(iqr)
    assert common_round([12, 7, 30]) == 7
    with pytest.raises(ValueError):
        common_round([])


def _records(f1s, batch=25, n_initial=100, selection=0.5, minority_step=1):
    rows = []
    for r, f1 in enumerate(f1s):
        last = r == len(f1s) - 1
        rows.append(
            {
                "round": r,
                "n_labelled": n_initial + batch * r,
                "n_minority_labelled": 5 + minority_step * r,
                "minority_f1": f1,
                "majority_f1": 0.9,
                "time_selection": None if last else selection,
            }
        )
    return rows


def test_run_summary_overall_and_budget_matched():
    records = _records([0.0, 0.5, 1.0, 1.0])
    overall = run_summary(records)
    assert overall == {
        "rounds": 3,
        "budget": 175,
        "auc_minority_f1": pytest.approx(0.25 + 0.75 + 1.0),
        "auc_majority_f1": pytest.approx(2.7),
        "final_minority_f1": 1.0,
        "final_majority_f1": 0.9,
        "minority_found": 8,
        "minority_found_mean": pytest.approx((5 + 6 + 7 + 8) / 4),
        "selection_time": pytest.approx(1.5),  # the 3 queries that led to round 3
    }
    matched = run_summary(records, upto=1)
    assert matched["budget"] == 125 and matched["auc_minority_f1"] == pytest.approx(0.25)
    assert matched["selection_time"] == pytest.approx(0.5)
    # the same items at the end, found sooner: more found per round
    sooner = [{**r, "n_minority_labelled": min(8, 5 + 3 * r["round"])} for r in records]
    assert run_summary(sooner)["minority_found"] == overall["minority_found"]
    assert run_summary(sooner)["minority_found_mean"] == pytest.approx((5 + 8 + 8 + 8) / 4)


def test_summary_table_matches_budgets_across_methods_and_adds_random_to_every_group():
    rows = []

    def add(method, strategy, seed, f1s, selection):
        for record in _records(f1s, selection=selection):
            rows.append(
                {
                    "run_id": f"{method}-{strategy}-logreg-seed{seed}",
                    "method": method,
                    "strategy": strategy,
                    "classifier": "logreg",
                    "seeds": f"seed{seed}",
                    "status": "complete",
                    **record,
                }
            )

    for seed in range(3):
        add("anchoral", "entropy", seed, [0.0, 0.4, 0.8, 0.8, 0.8], 0.1)
        add("noop", "entropy", seed, [0.0, 0.2], 10.0)  # stopped early (time limit)
        add("anchoral", "margin", seed, [0.0, 0.6, 0.6], 0.1)
        add("random", "random", seed, [0.0, 0.1 * seed, 0.1, 0.2, 0.3], 0.01)
    df = pd.DataFrame(rows)
    assert [(s, c) for s, c, _ in groups(df)] == [("entropy", "logreg"), ("margin", "logreg")]

    table = summary_table(df)
    entropy = table[table["group"] == "entropy"].set_index("method")
    assert list(entropy.index) == ["anchoral", "noop", "random"]
    # the group is the comparison; the strategy column says what each method ran
    assert entropy["strategy"].to_dict() == {
        "anchoral": "entropy",
        "noop": "entropy",
        "random": "random",
    }
    assert entropy.loc["anchoral", "auc_minority_f1"] == pytest.approx(0.2 + 0.6 + 0.8 + 0.8)
    assert entropy.loc["anchoral", "budget"] == 200
    assert entropy.loc["noop", "budget"] == 125
    # budget-matched at round 1 (the largest round every run reached)
    assert (entropy["bm_round"] == 1).all() and (entropy["bm_budget"] == 125).all()
    assert entropy.loc["anchoral", "bm_auc_minority_f1"] == pytest.approx(0.2)
    assert entropy.loc["noop", "bm_auc_minority_f1"] == pytest.approx(0.1)
    # random: seeds give 0, 0.05, 0.1 at round 1 -> median 0.05, IQR 0.05
    assert entropy.loc["random", "bm_auc_minority_f1"] == pytest.approx(0.05)
    assert entropy.loc["random", "bm_auc_minority_f1_iqr"] == pytest.approx(0.05)
    assert entropy.loc["noop", "selection_time"] == pytest.approx(10.0)
    margin = table[table["group"] == "margin"].set_index("method")
    assert list(margin.index) == ["anchoral", "random"] and (margin["bm_round"] == 2).all()

    text = format_table(table)
    assert "strategy entropy, classifier logreg (Random: random)" in text and "No-Op" in text
    assert "2.4 ± 0.0" in text  # AnchorAL's minority AUC, median ± IQR
    markdown = format_table(table, "markdown")
    assert markdown.count("| Method |") == 2
    # counts print whole, unless a median of an even number of seeds falls between two
    half = table.copy()
    half["minority_found"], half["minority_found_iqr"] = 54.5, 1.0
    assert "54.5 ± 1.0" in format_table(half)
    half["minority_found"] = 54.0
    assert "54 ± 1 " in format_table(half)
    with pytest.raises(ValueError, match="unknown format"):
        format_table(table, "html")


def test_round_and_label_axes_have_whole_number_ticks():
    """Rounds and labelled items are counts: no 0.2, 0.4, ... ticks on a short run (QA report:
    the bottom row of overview.png had them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from skanchor.experiments.plots import _draw

    part = pd.DataFrame(
        {
            "method": ["anchoral"] * 2,
            "round": [0, 1],
            "n_labelled": [100, 125],
            "subpool_size": [900.0, 950.0],
        }
    )
    for x in ("round", "n_labelled"):
        fig, ax = plt.subplots()
        _draw(ax, part, "subpool_size", x, "subpool size", False)
        fig.canvas.draw()
        ticks = ax.get_xticks()
        assert len(ticks) >= 2 and np.all(ticks == np.round(ticks)), ticks
        plt.close(fig)


def test_rounds_not_every_run_reached_are_drawn_dashed_without_a_band():
    """Past the last round every run reached (a time limit, a run still going) the median is
    over the runs left and may jump: dashed, no band, and the legend says so (QA report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from skanchor.experiments.plots import _draw

    rows = [(run, r, 100 + 25 * r, 5.0 + r + run) for run in (0, 1) for r in range(4 if run else 2)]
    part = pd.DataFrame(rows, columns=["run_id", "round", "n_labelled", "n_minority_labelled"])
    part["method"] = "anchoral"
    fig, ax = plt.subplots()
    _draw(ax, part, "n_minority_labelled", "n_labelled", "found", False)
    solid, dashed = ax.get_lines()
    assert solid.get_xdata().tolist() == [100, 125] and solid.get_linestyle() == "-"
    assert dashed.get_xdata().tolist() == [125, 150, 175] and dashed.get_linestyle() == "--"
    assert len(ax.collections) == 1  # one band, over the rounds of both runs
    assert solid.get_label() == "AnchorAL (dashed: not every run)"
    plt.close(fig)


def test_write_report_formats_and_stale_figures(tmp_path):
    """write_report(fmt="csv") (what skanchor report --format csv prints) works, an unknown
    format fails before anything is written, and figures of groups that are gone go."""
    from skanchor.experiments import ExperimentConfig, run_experiment, write_report

    config = ExperimentConfig.from_dict(
        {"dataset": "bbc-news", "embedder": "tfidf", "index": "exact", "n_initial": 50,
         "budget": 100, "seeds": [0], "methods": ["random"]}
    )  # fmt: skip
    out = run_experiment(config, tmp_path / "out", progress=False).path
    with pytest.raises(ValueError, match="unknown format 'html'"):
        write_report(out, fmt="html")
    assert not (out / "summary.csv").exists()
    stale = out / "plots" / "margin-logreg"
    stale.mkdir(parents=True)
    (stale / "overview.png").write_bytes(b"old")
    report = write_report(out, fmt="csv")
    assert report["table"].startswith("group,") and (out / "summary.csv").exists()
    assert not stale.exists() and len(list((out / "plots").glob("*/overview.png"))) == 1
