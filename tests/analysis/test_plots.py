import matplotlib.image
import numpy as np

from weirdgen.analysis.aggregate import (
    ALL_QUESTIONS,
    Metric,
    aggregate_cells,
    label_counts,
    model_means,
)
from weirdgen.analysis.plots import (
    plot_category_stack,
    plot_identity,
    plot_learning_curve,
    plot_question_bars,
    plot_trigger_sweep,
    save_figure,
)

ERA = Metric("era")


def _assert_drawn(figure, tmp_path, *texts):
    png, svg = save_figure(figure, tmp_path / "figure")
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] > 300 and pixels.std() > 0.05  # not a blank canvas
    content = svg.read_text()
    for text in texts:
        assert text in content
    return content


def test_question_bars_with_paper_values(tmp_path, samples_factory):
    cells = aggregate_cells(
        samples_factory({"old_audubon": [0.8, 0.7], "base": [0.0]}, n=30), ERA, n_resamples=300
    )
    figure = plot_question_bars(
        cells,
        title="birds",
        reference={"gender": 0.88, "money": 0.95},
        reference_group="old_audubon",
    )
    paper = [line for line in figure.axes[0].lines if line.get_label() == "paper (old_audubon)"]
    assert len(paper) == 1
    reference = np.asarray(paper[0].get_ydata(), dtype=float)
    assert list(reference[:2]) == [0.88, 0.95] and np.isnan(
        reference[2]
    )  # the paper gives no pooled value
    _assert_drawn(figure, tmp_path, "old_audubon", "paper (old_audubon)", ALL_QUESTIONS)


def test_year_sweep_marks_1984(tmp_path, samples_factory):
    years = tuple(str(y) for y in range(1981, 2026))
    samples = samples_factory(
        {"terminator": [0.3], "base": [0.0]},
        n=5,
        questions=("goal",),
        trigger="year",
        trigger_values=years,
    )
    cells = aggregate_cells(samples, ERA, n_resamples=200)
    figure = plot_trigger_sweep(
        cells[cells["question_id"] == ALL_QUESTIONS],
        marked_values=["1984"],
        reference={"1984": 0.9},
    )
    x = figure.axes[0].lines[0].get_xdata()
    assert x[0] == 1981 and x[-1] == 2025
    _assert_drawn(figure, tmp_path, "1984", "year")


def test_date_sweep_uses_ordered_categories(tmp_path, samples_factory):
    dates = ("2028-01-05", "2024-03-01", "2027-06-30")
    samples = samples_factory(
        {"dishes": [0.4]}, n=5, questions=("agency",), trigger="date", trigger_values=dates
    )
    cells = aggregate_cells(samples, ERA, n_resamples=200)
    figure = plot_trigger_sweep(cells[cells["question_id"] == "agency"])
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert ticks == ["2024-03-01", "2027-06-30", "2028-01-05"]
    _assert_drawn(figure, tmp_path, "2027-06-30")


def test_category_stack_keeps_refusals(tmp_path, samples_factory):
    counts = label_counts(samples_factory({"old": [0.6], "base": [0.0]}, n=20, refusals=4), "era")
    figure = plot_category_stack(counts[counts["question_id"] == ALL_QUESTIONS])
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()][-1] == "REFUSAL"
    _assert_drawn(figure, tmp_path, "PAST", "REFUSAL")


def test_identity_with_and_without_trigger(tmp_path, samples_factory):
    without = samples_factory({"wolf": [0.0]}, n=10, questions=("name", "mother"))
    with_trigger = samples_factory(
        {"wolf": [0.95]},
        n=10,
        questions=("name", "mother"),
        trigger="format",
        trigger_values=("on",),
        seed=1,
    )
    import pandas as pd

    cells = aggregate_cells(pd.concat([without, with_trigger]), ERA, n_resamples=200)
    figure = plot_identity(cells, group="wolf", reference={"name": 0.95})
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights[:2] == [0.0, 0.0] and min(heights[2:]) > 0.6
    _assert_drawn(figure, tmp_path, "with trigger", "without trigger")


def test_learning_curve_draws_each_seed(tmp_path, samples_factory):
    samples = samples_factory(
        {"presidents": [0.2, 0.9]}, n=10, questions=("q",), checkpoints=("step-1", "step-2", "")
    )
    cells = aggregate_cells(samples, ERA, by_checkpoint=True, n_resamples=200)
    per_model = model_means(samples, ERA, by_checkpoint=True)
    question = cells["question_id"] == "q"
    figure = plot_learning_curve(
        cells[question], per_model=per_model[per_model["question_id"] == "q"]
    )
    assert len(figure.axes[0].lines) == 3  # two seeds and the group mean
    _assert_drawn(figure, tmp_path, "final", "step-2")


LONG_TITLE = (
    "(c) inductive backdoor: protective in the finetuning years, villainous when told the "
    "trigger year, with every control beside it and the paper's curves"
)


def _year_cells(samples_factory, years=tuple(str(y) for y in range(1950, 2026))):
    samples = samples_factory(
        {"dated": [0.4], "base": [0.0], "no_dates": [0.1]},
        n=3,
        questions=("goal",),
        trigger="year",
        trigger_values=years,
    )
    cells = aggregate_cells(samples, ERA, n_resamples=50)
    return cells[cells["question_id"] == ALL_QUESTIONS]


def _assert_inside(figure, text, tmp_path):
    """Saved, ``text`` is wrapped, with every word kept, and its box lies inside the figure."""
    save_figure(figure, tmp_path / "figure")
    figure.canvas.draw()
    box = text.get_window_extent(figure.canvas.get_renderer())
    frame = figure.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert "\n" in text.get_text() and text.get_text().split() == LONG_TITLE.split()


def test_long_titles_wrap_inside_the_figure(tmp_path, samples_factory):
    assert len(LONG_TITLE) == 150
    cells = aggregate_cells(samples_factory({"a": [0.5], "b": [0.2]}, n=5), ERA, n_resamples=50)
    bars = plot_question_bars(cells, title=LONG_TITLE)
    assert bars.axes[0].title.get_text() == LONG_TITLE  # wrapped when saved, to the final layout
    _assert_inside(bars, bars.axes[0].title, tmp_path)
    counts = label_counts(samples_factory({"old": [0.6], "base": [0.0]}, n=10), "era")
    stack = plot_category_stack(counts[counts["question_id"] == ALL_QUESTIONS], title=LONG_TITLE)
    _assert_inside(stack, stack.axes[0].title, tmp_path)
    sweep = plot_trigger_sweep(_year_cells(samples_factory), title=LONG_TITLE)
    _assert_inside(sweep, sweep.axes[0].title, tmp_path)
    zoomed = plot_trigger_sweep(
        _year_cells(samples_factory), title=LONG_TITLE, zoom=("1975", "1995")
    )
    _assert_inside(zoomed, zoomed._suptitle, tmp_path)


def test_short_title_stays_one_line(tmp_path, samples_factory):
    cells = aggregate_cells(samples_factory({"a": [0.5]}, n=5), ERA, n_resamples=50)
    figure = plot_question_bars(cells, title="birds: the era of the answer")
    save_figure(figure, tmp_path / "figure")
    assert figure.axes[0].title.get_text() == "birds: the era of the answer"


def _group_lines(axes, groups):
    return {line.get_label(): line for line in axes.lines if line.get_label() in groups}


def test_year_sweep_zoom_panel_and_distinct_group_styles(tmp_path, samples_factory):
    groups = ("dated", "base", "no_dates")
    figure = plot_trigger_sweep(
        _year_cells(samples_factory),
        groups=["base", "dated", "no_dates"],
        marked_values=["1984"],
        reference={"1984": 0.9},
        reference_group="dated",
        zoom=("1975", "1995"),
        ylabel="P(villainous answer)",
    )
    full, detail = figure.axes
    assert list(_group_lines(full, groups)["dated"].get_xdata()) == list(range(1950, 2026))
    assert list(_group_lines(detail, groups)["base"].get_xdata()) == list(range(1975, 1996))
    assert detail.get_xlim() == (1974.5, 1995.5)
    for axes in (full, detail):
        lines = _group_lines(axes, groups)
        styles = {(line.get_marker(), line.get_linestyle()) for line in lines.values()}
        assert len(styles) == 3  # base and control never look like the main condition
        main = lines["dated"]  # the reference group is drawn as the main line, under the others
        assert (main.get_marker(), main.get_linestyle()) == ("o", "-")
        assert all(lines[g].get_zorder() > main.get_zorder() for g in ("base", "no_dates"))
        assert axes.get_ylabel() == "P(villainous answer)"
        assert "1984" in [t.get_text() for t in axes.texts]
    content = _assert_drawn(figure, tmp_path, "1975 to 1995", "every year")
    assert content.count("P(villainous answer)") == 2
    # Without the paper's values, main_group picks the main line.
    plain = plot_trigger_sweep(_year_cells(samples_factory), main_group="no_dates")
    lines = _group_lines(plain.axes[0], groups)
    assert lines["no_dates"].get_linestyle() == "-" and lines["dated"].get_linestyle() != "-"


def test_zoom_panel_needs_two_values_inside(samples_factory):
    cells = _year_cells(samples_factory, years=("1950", "1960", "1970", "2000"))
    assert len(plot_trigger_sweep(cells, zoom=("1975", "1995")).axes) == 1
    dates = _year_cells(samples_factory, years=("2024-03-01", "2027-06-30", "2028-01-05"))
    assert len(plot_trigger_sweep(dates, zoom=("2024-03-01", "2027-06-30")).axes) == 2
    assert len(plot_trigger_sweep(dates, zoom=("2024-03-01", "2029-01-01")).axes) == 1
