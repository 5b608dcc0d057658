"""Compute the bundled models' t-SNE maps and write them beside the models (`models/<id>.map.npz`).

The server loads them at start, so the map card answers at once instead of after 13-90 s of
t-SNE. It computes them exactly as the server would: the same reference set (the card's
`reference`, committed in models/), the same features (`ReferenceStore`) and `app.viz.dataset.embed`.
Run it again after retraining a model: a map whose model or reference file changed is ignored.

    .venv/bin/python scripts/make_maps.py [--models-dir models] [MODEL_ID ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> None:
    from app.config import PROJECT_ROOT, Settings
    from app.reference import ReferenceStore
    from app.registry import ModelRegistry
    from app.services import map_files
    from app.services.dataset import DatasetViews
    from app.viz import dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model ids (default: every model with a reference set)")
    parser.add_argument("--models-dir", default=str(PROJECT_ROOT / "models"))
    args = parser.parse_args(argv)
    registry = ModelRegistry.from_settings(Settings(models_dir=Path(args.models_dir)))
    references = ReferenceStore()
    for served in registry:
        if (args.models and served.id not in args.models) or not served.card.extra.get("reference"):
            continue
        started = time.perf_counter()
        layer = DatasetViews.map_layer(served)
        points = dataset.embed(references.features(served, layer, "flat"))
        path = map_files.write(served, layer, points)
        print(f"{served.id}: {len(points)} points in {layer} -> {path} ({path.stat().st_size:,} bytes, {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
