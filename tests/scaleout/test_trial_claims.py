"""Two invocations of one file claiming the same trial: at most one goes ahead, whatever
the order in which their runs reached the store and their clients stamped them."""

from __future__ import annotations

import threading
import time

import pytest
from mlflow.tracking import MlflowClient

import clusterlab.tracking.tags as tags_
from clusterlab.tracking import Tracker
from clusterlab.tracking.owner import owner_tags

HASH = "0123456789abcdef"


def _invocation(store: str) -> tuple[Tracker, str]:
    """A tracker and a live parent run, as one invocation of the experiment has."""
    tracker = Tracker(store, "claims")
    parent = tracker.start_run(
        "claims · parent", {tags_.KIND: tags_.KIND_EXPERIMENT, **owner_tags()}
    )
    return tracker, parent


def _claim(tracker: Tracker, parent: str, start_time: int | None = None) -> str:
    """A trial run of HASH under ``parent``; ``start_time`` as its client stamped it."""
    run_tags = {tags_.KIND: tags_.KIND_TRIAL, tags_.TRIAL_HASH: HASH, tags_.PARENT: parent}
    if start_time is None:
        return tracker.start_run("trial", run_tags, parent_run_id=parent)
    client = MlflowClient(tracking_uri=tracker.uri)
    run = client.create_run(tracker.experiment_id, start_time=start_time, tags=run_tags)
    return run.info.run_id


def _stamped_after(tracker: Tracker, parent: str, other: str, offset_ms: int) -> str:
    """A claim under ``parent`` that its client stamped ``offset_ms`` after claim
    ``other`` (before it, where negative), created now."""
    stamp = MlflowClient(tracking_uri=tracker.uri).get_run(other).info.start_time
    return _claim(tracker, parent, start_time=stamp + offset_ms)


@pytest.fixture
def invocations(store: str) -> tuple[tuple[Tracker, str], tuple[Tracker, str]]:
    """Two live invocations of one experiment in ``store``."""
    return _invocation(store), _invocation(store)


def _go_ahead(tracker: Tracker, run_id: str) -> None:
    """What a claim that found no rival does next: it logs its data."""
    tracker.log_dataset(run_id, "blobs", "d" * 16, "{}", {})


def test_a_claim_stamped_earlier_but_stored_later_yields_to_one_that_went_ahead(invocations):
    (tracker_a, parent_a), (tracker_b, parent_b) = invocations
    first = _claim(tracker_a, parent_a)
    assert tracker_a.claimed_elsewhere(HASH, first) is None  # no rival yet: it goes ahead
    _go_ahead(tracker_a, first)
    # The second client stamped its run before the first, but it reached the store after
    # the first had looked: by start times alone it would go ahead too.
    second = _stamped_after(tracker_b, parent_b, first, -1000)
    assert tracker_b.claimed_elsewhere(HASH, second) == first


def test_a_later_rival_that_withdraws_meanwhile_leaves_the_trial_to_this_claim(store, invocations):
    (tracker_a, parent_a), (tracker_b, parent_b) = invocations
    mine = _claim(tracker_a, parent_a)
    rival = _stamped_after(tracker_b, parent_b, mine, 1000)
    # The rival saw this earlier claim and withdraws while this one asks about it.
    timer = threading.Timer(0.3, tracker_b.withdraw_run, args=(rival,))
    timer.start()
    began = time.monotonic()
    assert tracker_a.claimed_elsewhere(HASH, mine) is None
    waited = time.monotonic() - began
    timer.join()
    assert waited >= 0.25  # it waited for the rival's outcome
    assert MlflowClient(tracking_uri=store).get_run(rival).info.lifecycle_stage == "deleted"


def test_an_earlier_live_claim_is_yielded_to_without_waiting(invocations):
    (tracker_a, parent_a), (tracker_b, parent_b) = invocations
    first = _claim(tracker_a, parent_a)
    second = _stamped_after(tracker_b, parent_b, first, 1000)
    began = time.monotonic()
    assert tracker_b.claimed_elsewhere(HASH, second) == first
    assert time.monotonic() - began < 5
