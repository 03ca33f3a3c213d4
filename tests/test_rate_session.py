"""The rating session behind the page: label, skip, undo, resume, refused actions (store only, no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness.config import ProjectConfig
from evalharness.rating.scheme import rating_scheme
from evalharness.rating.session import ActionRefused, RatingSession
from evalharness.store import Store, rating
from evalharness.store.labels import labels_for, put_labels


def _item(i: int, query: str) -> rating.RatingItem:
    return rating.RatingItem(i, query, query.lower(), f"D{i}", "head", "", "head|-", "agree", 1.0, 0.5, 2.0, "g",
                             {"doc_id": f"D{i}", "title": f"<b>T{i}</b>", "attributes": {"degradation": "blur", "size": "M"}},
                             {"offline": "relevant"})


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'cache.db'}")
    sample = rating.RatingSample("s", "test", {}, 1, 3, 0, [], "")
    rating.create_sample(s, sample, [_item(0, "Red Shoes"), _item(1, "lamp"), _item(2, "lamp")], {})
    rating.join_open_sample(s, "s", "ann", [2, 0, 1])
    yield s
    s.close()


def test_label_skip_undo_and_resume(store: Store) -> None:
    session = RatingSession(store, "s", "ann", rating_scheme(ProjectConfig()))
    state = session.state()
    assert state["pair"]["item"] == 2 and state["total"] == 3 and not state["can_undo"]
    assert "degradation" not in state["pair"]["attributes"] and "judges" not in state["pair"]
    state = session.label(2, "relevant", " close enough ")
    assert state["pair"]["item"] == 0 and state["labelled"] == 1
    assert labels_for(store, "human:ann", ["lamp"]) == {("lamp", "D2"): "relevant"}
    state = session.skip(0)
    assert state["pair"]["item"] == 1 and state["skipped"] == 1
    state = session.label(1, "irrelevant")
    assert state["pair"]["item"] == 0  # the skipped pair comes back at the end
    state = session.undo()
    assert state["pair"]["item"] == 1 and state["labelled"] == 1
    assert labels_for(store, "human:ann", ["lamp"]) == {("lamp", "D2"): "relevant"}  # withdrawn
    # a new session (a reload, or the command started again) continues where the rater stopped
    again = RatingSession(store, "s", "ann", rating_scheme(ProjectConfig()), show_judge=True)
    assert again.state()["pair"]["item"] == 1 and again.state()["pair"]["judges"] == {"offline": "relevant"}


def test_undo_puts_back_a_label_the_rater_had_before(store: Store) -> None:
    put_labels(store, "human:ann", [{"query": "lamp", "doc_id": "D2", "label": "substitute", "origin": "file"}])
    session = RatingSession(store, "s", "ann", rating_scheme(ProjectConfig()))
    session.label(2, "irrelevant")
    assert labels_for(store, "human:ann", ["lamp"])[("lamp", "D2")] == "irrelevant"
    session.undo()
    assert labels_for(store, "human:ann", ["lamp"])[("lamp", "D2")] == "substitute"


def test_refused_actions_change_nothing(store: Store) -> None:
    session = RatingSession(store, "s", "ann", rating_scheme(ProjectConfig()))
    with pytest.raises(ActionRefused):
        session.label(2, "great")
    with pytest.raises(ActionRefused):
        session.label(99, "relevant")
    with pytest.raises(ActionRefused):
        session.undo()
    bob = RatingSession(store, "s", "bob", rating_scheme(ProjectConfig()))
    with pytest.raises(ActionRefused):
        bob.label(2, "relevant")  # bob never joined: nothing assigned
    assert labels_for(store, "human:ann", ["lamp", "red shoes"]) == {} and session.state()["labelled"] == 0


def test_the_page_uses_the_projects_label_scheme(store: Store) -> None:
    from evalharness.config import LabelsConfig

    scheme = rating_scheme(ProjectConfig(labels=LabelsConfig(scheme="graded-0-3")))
    assert [b["key"] for b in scheme.to_json()] == ["1", "2", "3", "4"]
    assert scheme.names[-1] == "perfectly" and len(scheme.middle) == 2
    session = RatingSession(store, "s", "ann", scheme)
    with pytest.raises(ActionRefused):
        session.label(2, "relevant")
    session.label(2, "perfectly")
    assert labels_for(store, "human:ann", ["lamp"]) == {("lamp", "D2"): "perfectly"}
