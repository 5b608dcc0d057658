"""`Executors.quick`: a quick, lone one-pass explanation runs on the event loop, anything else on
the drawing path's threads; and the answers are the same either way."""

import asyncio
import concurrent.futures
import threading
import time

import numpy as np
from app.executors import Executors
from tests.conftest import MODELS_DIR, client_for


def run(coroutine):
    """On a thread of its own: in the whole suite, Playwright's sync API keeps a loop running on this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def where(executors: Executors, key, seconds: float = 0.0):
    """Which thread ran the work: "loop" or "thread"."""

    async def go():
        loop_thread = threading.get_ident()

        def work():
            time.sleep(seconds)
            return "loop" if threading.get_ident() == loop_thread else "thread"

        return await executors.quick(key, work)

    return go()


def test_a_quick_key_runs_on_the_loop_after_its_first_run_on_a_thread():
    executors = Executors(1, inline_budget=0.05)
    try:
        # never seen: its time is unknown (it may compile), so a thread
        assert run(where(executors, "a")) == "thread"
        assert run(where(executors, "a")) == "loop"
        assert run(where(executors, "b")) == "thread"  # each key is measured on its own
    finally:
        executors.shutdown()


def test_slow_work_goes_back_to_the_threads():
    executors = Executors(1, inline_budget=0.01)
    try:
        assert run(where(executors, "a")) == "thread"
        assert run(where(executors, "a", seconds=0.05)) == "loop"  # measured over the budget...
        assert run(where(executors, "a")) == "thread"  # ...so the next run hops
        assert run(where(executors, "a")) == "loop"
    finally:
        executors.shutdown()


def test_a_zero_budget_always_hops():
    executors = Executors(1, inline_budget=0.0)
    try:
        assert [run(where(executors, "a")) for _ in range(3)] == ["thread"] * 3
    finally:
        executors.shutdown()


def test_nothing_runs_on_the_loop_while_another_quick_job_runs():
    executors = Executors(1, inline_budget=0.05)
    try:

        async def together():
            await where(executors, "a")  # measured: quick from now on
            slow = asyncio.ensure_future(where(executors, "slow-first", seconds=0.2))  # on a thread
            await asyncio.sleep(0.05)
            return await where(executors, "a"), await slow

        assert run(together()) == ("thread", "thread")
        assert run(where(executors, "a")) == "loop"  # alone again
    finally:
        executors.shutdown()


def test_answers_are_the_same_on_the_loop_and_on_a_thread(mnist, client):
    """Budget 0: every answer hops; a huge budget: every answer after the first runs on the loop.
    Both equal the answer of the session's app (default settings), which checks against Keras."""
    x = (mnist[0][5] / 255.0).tolist()
    url = "/api/models/mnist-convnet/gradcam"
    answers = {}
    for budget_ms, inline in ((0.0, 0), (1e6, 2)):
        with client_for(MODELS_DIR, inline_budget_ms=budget_ms) as app_client:
            answers[budget_ms] = [app_client.post(url, json={"pixels": x}).json() for _ in range(3)]
            assert app_client.app.state.executors.inline_runs == inline
    reference = client.post(url, json={"pixels": x}).json()
    for runs in answers.values():
        assert runs == [reference] * 3
    assert reference["class_index"] == int(np.argmax(reference["prediction"]["probabilities"]))
