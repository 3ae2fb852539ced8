"""rpsbook.report: the printed line and the JSON-lines records behind the Results page."""

from __future__ import annotations

import importlib.metadata
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import rpsbook
from rpsbook.report import (
    FIGURES_FILE,
    LINE_WIDTH,
    RESULTS_DIR_ENV,
    book_figure,
    book_figure_label,
    compare_with_book,
    compare_with_page,
    describe_environment,
    environment,
    format_comparison,
    format_value,
    read_records,
    recorded,
    section_slug,
)


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    monkeypatch.setenv(RESULTS_DIR_ENV, str(folder))
    return folder


def test_line_and_no_file_without_env(tmp_path, monkeypatch):
    monkeypatch.delenv(RESULTS_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    line = compare_with_book("dropout sum (eval)", 6.6, "6.6", section="Dropout")
    assert line == "dropout sum (eval): 6.6 | book: 6.6"
    assert list(tmp_path.iterdir()) == []


def test_records_appended_per_section(results_dir):
    mean = torch.tensor([0.84891, 0.81982, 0.80976])
    line = compare_with_book(
        "normalizer mean", mean, "[0.8502, 0.8215, 0.8116]", section="6.1 Data preparation"
    )
    assert line == "normalizer mean: [0.8489, 0.8198, 0.8098] | book: [0.8502, 0.8215, 0.8116]"
    compare_with_book("train batches", 158, "158", section="6.1 Data preparation")
    compare_with_book("val accuracy", "330/372 (88.7%)", "313/372 (84.1%)", section="Training")

    assert sorted(p.name for p in results_dir.iterdir()) == [
        "6-1-data-preparation.jsonl",
        "training.jsonl",
    ]
    lines = (results_dir / "6-1-data-preparation.jsonl").read_text(encoding="utf-8")
    assert lines.endswith("\n")
    assert [json.loads(x) for x in lines.splitlines()] == [
        {
            "section": "6.1 Data preparation",
            "quantity": "normalizer mean",
            "ours": "[0.8489, 0.8198, 0.8098]",
            "book": "[0.8502, 0.8215, 0.8116]",
        },
        {
            "section": "6.1 Data preparation",
            "quantity": "train batches",
            "ours": "158",
            "book": "158",
        },
    ]
    assert json.loads((results_dir / "training.jsonl").read_text(encoding="utf-8")) == {
        "section": "Training",
        "quantity": "val accuracy",
        "ours": "330/372 (88.7%)",
        "book": "313/372 (84.1%)",
    }


def test_format_value():
    assert format_value(0.012589254117941673) == "0.01259"
    assert format_value(0.012589254117941673, digits=8) == "0.012589254"
    assert format_value(np.float32(8.8)) == "8.8"
    assert format_value(torch.tensor(6823)) == "6823"
    assert format_value(np.array([[1.0, 2.5], [3.0, 4.0]])) == "[[1, 2.5], [3, 4]]"
    assert format_value("9.02E-03") == "9.02E-03"
    assert format_value(float("nan")) == "nan"


def test_section_slug_and_bad_section(results_dir):
    assert section_slug("  Learning rates: LR range test! ") == "learning-rates-lr-range-test"
    with pytest.raises(ValueError, match="section='!!'"):
        compare_with_book("x", 1, "1", section="!!")
    assert not results_dir.exists()


def test_long_comparison_prints_one_value_a_line(results_dir):
    book = "336/372 = 90.3% (book) / 341/372 = 91.7% (notebook on this 28x28 copy, torch 2.1)"
    text = compare_with_book(
        "validation accuracy, CNN2(5, p=0.5)", "336/372 (90.3%)", book, section="Together"
    )
    assert text.splitlines() == [
        "validation accuracy, CNN2(5, p=0.5)",
        "  rpsbook: 336/372 (90.3%)",
        "  book:    336/372 = 90.3% (book) / 341/372 = 91.7% (notebook on this 28x28 copy, torch",
        "           2.1)",
    ]
    assert max(len(line) for line in text.splitlines()) <= LINE_WIDTH
    # what is recorded does not depend on how it prints
    record = json.loads((results_dir / "together.jsonl").read_text(encoding="utf-8"))
    assert record == {
        "section": "Together",
        "quantity": "validation accuracy, CNN2(5, p=0.5)",
        "ours": "336/372 (90.3%)",
        "book": book,
    }


def test_comparison_that_fits_stays_on_one_line():
    line = format_comparison("q", "1", "x" * (LINE_WIDTH - len("q: 1 | book: ")))
    assert line.count("\n") == 0 and len(line) == LINE_WIDTH
    assert (
        format_comparison("q", "1", "x" * (LINE_WIDTH + 1 - len("q: 1 | book: "))).count("\n") == 2
    )


def test_book_figure_labels_and_records(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path))
    fig, axes = plt.subplots(1, 3)
    axes[0].plot([1, 2])
    fig.colorbar(axes[1].imshow([[0, 1]]), ax=axes[1])  # a colorbar is not a panel
    try:
        # nothing returned: as a cell's last value the figure would be shown twice
        assert book_figure(fig, "6.21", " Loss against the learning rate. ") is None
        assert fig.get_label() == "Figure 6.21 in the book: Loss against the learning rate."
        book_figure(fig, None, "Thread counts.", verdict="differs: not in the book")
        assert fig.get_label() == "Not in the book: Thread counts."
    finally:
        plt.close(fig)
    lines = (tmp_path / FIGURES_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "figure": "6.21",
            "alt": "Loss against the learning rate.",
            "verdict": "same",
            "panels": 2,
        },
        {
            "figure": None,
            "alt": "Thread counts.",
            "verdict": "differs: not in the book",
            "panels": 2,
        },
    ]


@pytest.mark.parametrize(
    ("number", "alt", "verdict", "match"),
    [
        ("6.32", "x", "same", "6.1"),
        ("6.0", "x", "same", "6.1"),
        ("5.3", "x", "same", "6.1"),
        ("6.3", "  ", "same", "alt is empty"),
        ("6.3", "x", "differs", "differs: "),
    ],
)
def test_book_figure_rejects(number, alt, verdict, match):
    fig = plt.figure()
    try:
        with pytest.raises(ValueError, match=match):
            book_figure(fig, number, alt, verdict=verdict)
        assert fig.get_label() == ""
    finally:
        plt.close(fig)


def test_book_figure_label_only_for_book_figure_labels():
    fig = plt.figure()
    try:
        assert book_figure_label(fig) is None
        fig.set_label("Figure 6.2 ")  # a label of another kind, not book_figure's
        assert book_figure_label(fig) is None
        book_figure(fig, "6.31", "Losses of the final model.")
        assert book_figure_label(fig) == "Figure 6.31 in the book: Losses of the final model."
        book_figure(fig, None, "Paths on the loss surface.")
        assert book_figure_label(fig) == "Not in the book: Paths on the loss surface."
    finally:
        plt.close(fig)


def test_compare_with_book_is_recorded_in_memory_without_env(monkeypatch):
    monkeypatch.delenv(RESULTS_DIR_ENV, raising=False)
    before = len(recorded())
    compare_with_book("q", 0.123456, "0.12", section="Memory")
    records = recorded()
    assert len(records) == before + 1
    assert records[-1] == {"section": "Memory", "quantity": "q", "ours": "0.1235", "book": "0.12"}
    records[-1]["ours"] = "changed"  # copies: the kept record does not change
    assert recorded()[-1]["ours"] == "0.1235"


def test_environment_names_this_process():
    env = environment()
    assert env["rpsbook"] == rpsbook.__version__
    assert env["torch"] == torch.__version__
    assert env["torchvision"] == importlib.metadata.version("torchvision")
    assert env["threads"] == torch.get_num_threads()
    assert env["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
    assert describe_environment(env) == (
        f"rpsbook {rpsbook.__version__}, torch {env['torch']}, torchvision "
        f"{env['torchvision']}, {env['device']}, {env['threads']} threads, "
        f"{env['cpu_kernels']} kernels"
    )
    # a page built before environment() named rpsbook
    del env["rpsbook"]
    assert describe_environment(env).startswith(f"torch {env['torch']}, ")


_PAGE_ENV = {
    "torch": "2.14.1",
    "torchvision": "0.29.1",
    "device": "cpu",
    "threads": 2,
    "cpu_kernels": "AVX512",
}


def _page(*values):
    return {
        "environment": _PAGE_ENV,
        "values": [{"section": "S", "quantity": q, "ours": v} for q, v in values],
    }


def test_compare_with_page_all_same_uses_the_last_record_of_a_value():
    page = _page(("accuracy", "336/372"), ("loss", "0.2576"))
    yours = [
        {"section": "S", "quantity": "accuracy", "ours": "330/372"},  # a cell run twice
        {"section": "S", "quantity": "accuracy", "ours": "336/372"},
        {"section": "S", "quantity": "loss", "ours": "0.2576"},
    ]
    lines = compare_with_page(page, yours=yours).splitlines()
    assert lines[0] == "Your run vs this page"
    assert lines[1] == f"  your run:  {describe_environment(environment())}"
    assert (
        lines[2] == "  this page: torch 2.14.1, torchvision 0.29.1, cpu, 2 threads, AVX512 kernels"
    )
    assert lines[3:] == [
        "same      accuracy: 336/372",
        "same      loss: 0.2576",
        "2 of 2 values equal the page's.",
    ]


def test_compare_with_page_shows_differences_and_points_to_the_table():
    page = _page(("accuracy", "336/372"), ("loss", "0.2576"), ("lr", "1.0e-02"))
    yours = [
        {"section": "S", "quantity": "accuracy", "ours": "347/372"},
        {"section": "Other", "quantity": "loss", "ours": "0.2576"},  # another section's
        {"section": "S", "quantity": "lr", "ours": "1.0e-02"},
    ]
    text = compare_with_page(page, yours=yours, table_url="https://x.org/results.html#t")
    assert text.splitlines()[3:] == [
        "DIFFERS   accuracy",
        "  your run:  347/372",
        "  this page: 336/372",
        "DIFFERS   loss",
        "  your run:  not measured (run every cell above)",
        "  this page: 0.2576",
        "same      lr: 1.0e-02",
        "1 of 3 values equal the page's; 1 differ, 1 not measured.",
        "Counts and losses depend on torch's version, its thread count, the CPU kernels and the",
        "device; how much they move: https://x.org/results.html#t",
    ]


def test_compare_with_page_names_another_build_of_rpsbook():
    built = "0.1.0+b0123456789ab"
    page = {"environment": {**_PAGE_ENV, "rpsbook": built}, "values": []}
    lines = compare_with_page(page, yours=[]).splitlines()
    assert lines[2].startswith(f"  this page: rpsbook {built}, torch 2.14.1, ")
    said = " ".join(lines[3:-1])
    assert said == (
        f"Your rpsbook {rpsbook.__version__} is not the build this page ran, {built}: the "
        "notebook's first cell installs that one."
    )
    same = {"environment": {**_PAGE_ENV, "rpsbook": rpsbook.__version__}, "values": []}
    assert "is not the build" not in compare_with_page(same, yours=[])


def test_compare_with_page_without_values():
    text = compare_with_page({"environment": _PAGE_ENV, "values": []}, yours=[])
    assert text.splitlines()[-1] == "This page records no values to compare."


def test_checked_against_book_prints_and_records_every_row(capsys):
    from rpsbook.report import checked_against_book

    before = len(recorded())
    checked_against_book("Dropout", [("sum (eval)", 6.6, "6.6"), ("kept", "5/11", "6/11")])
    assert capsys.readouterr().out == "sum (eval): 6.6 | book: 6.6\nkept: 5/11 | book: 6/11\n"
    assert [r["quantity"] for r in recorded()[before:]] == ["sum (eval)", "kept"]
    with pytest.raises(ValueError, match="rows is empty"):
        checked_against_book("Dropout", [])
    with pytest.raises(ValueError, match="triple"):
        checked_against_book("Dropout", [("sum", 6.6)])


def test_records_read_back_as_written_file_by_file_and_bad_lines_name_the_file(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path))
    compare_with_book("loss", 0.25, "0.2", section="B section")
    compare_with_book("accuracy", "336/372", "339/372", section="A section")
    compare_with_book("epochs", 10, "10", section="B section")
    assert read_records(tmp_path) == [  # a-section.jsonl before b-section.jsonl
        {"section": "A section", "quantity": "accuracy", "ours": "336/372", "book": "339/372"},
        {"section": "B section", "quantity": "loss", "ours": "0.25", "book": "0.2"},
        {"section": "B section", "quantity": "epochs", "ours": "10", "book": "10"},
    ]
    assert read_records(tmp_path / "absent") == []
    (tmp_path / "c.jsonl").write_text('{"section": "C"}\n')
    with pytest.raises(ValueError, match=r"c.jsonl:1: not a compare_with_book record"):
        read_records(tmp_path)
