"""The lesson mode's course (static/lessons/course.json) is data a teacher edits: check that every
step has its text, that what it shows and sets up names things the page has, and that each
`layer:` reference finds a layer in both bundled models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = json.loads((ROOT / "static" / "lessons" / "course.json").read_text())
PAGE = (ROOT / "templates" / "index.html").read_text() + (ROOT / "templates" / "lessons.html").read_text()
LESSON_JS = (ROOT / "static" / "js" / "lesson.js").read_text()
SECTIONS = set(re.findall(r'data-lesson="(\w+)"', PAGE))


def test_eight_to_twelve_steps_in_fifty_minutes():
    steps = COURSE["steps"]
    assert 8 <= len(steps) <= 12
    assert sum(step["minutes"] for step in steps) == COURSE["minutes"] == 50
    assert len({step["title"] for step in steps}) == len(steps)


@pytest.mark.parametrize("number", range(1, len(COURSE["steps"]) + 1))
def test_step_text_targets_and_setup(number, client):
    step = COURSE["steps"][number - 1]
    for field in ("title", "look", "ask"):
        assert step[field].strip(), field
    assert step["ask"].endswith("?")
    assert step["show"]
    for reference in step["show"]:
        if reference.startswith("layer:"):
            kind, _, which = reference[6:].partition(".")
            for model_id in ("mnist-convnet", "mnist-lenet"):
                layers = [layer for layer in client.get(f"/api/models/{model_id}").json()["layers"] if layer["kind"] == kind]
                assert reference[6:] in ("input", "output") or (layers and (which == "all" or -len(layers) <= int(which) < len(layers))), (model_id, reference)
        else:
            anchor = re.fullmatch(r"#([\w-]+)|\.([\w-]+)|\[data-lesson=(\w+)\]", reference)
            assert anchor, reference
            ident, cls, section = anchor.groups()
            assert (ident and f'id="{ident}"' in PAGE) or (cls and re.search(rf'class="[^"]*\b{cls}\b', PAGE)) or section in SECTIONS, reference
    for action in step.get("do", []):
        (name, argument), = action.items()
        assert re.search(rf"^\s+{name}: ", LESSON_JS, re.M), f"lesson.js has no action {name}"
        if name == "open":
            assert set([argument] if isinstance(argument, str) else argument) <= SECTIONS
