"""`python -m app serve [--host H] [--port P] [--models-dir DIR] [--workers N]`."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description="convnet-vis server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API and the page with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--models-dir", help="folder of .keras/.h5 models (default: ./models)")
    serve.add_argument("--model", help="serve this one .keras/.h5 file (with its card and reference set, if any)")
    serve.add_argument(
        "--workers", type=int, default=int(os.environ.get("CONVNET_VIS_WORKERS", "1")),
        help="uvicorn worker processes (default: CONVNET_VIS_WORKERS or 1)",
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--http", choices=["limited", "httptools"], default="limited",
        help="HTTP/1.1 protocol: limited (default: h11 with the head and pipelining limits of app/http_protocol.py) "
        "or httptools (uvicorn's default, without them; for benchmark comparisons only)",
    )
    precompute = commands.add_parser("filters", help="precompute filter atlases into the cache")
    precompute.add_argument("model", help="model id")
    precompute.add_argument("--layer", action="append", help="layer name (repeatable; default: every layer with channels)")
    precompute.add_argument("--steps", type=int, default=128)
    precompute.add_argument("--seed", type=int, default=0)
    precompute.add_argument("--models-dir", help="folder of .keras/.h5 models (default: ./models)")
    reference = commands.add_parser("reference", help="reference sets: build one from a folder, or precompute a model's views")
    reference_commands = reference.add_subparsers(dest="reference_command", required=True)
    build = reference_commands.add_parser("build", help="make a reference .npz from FOLDER/<label>/<image files>")
    build.add_argument("folder")
    build.add_argument("--out", required=True, help="the .npz to write, in the models folder")
    build.add_argument("--size", default="28x28", help="HxW the images are stored at (default 28x28)")
    build.add_argument("--gray", action="store_true", help="store grayscale images")
    warm = reference_commands.add_parser("precompute", help="compute a model's top examples and map into the cache")
    warm.add_argument("model", help="model id")
    warm.add_argument("--models-dir", help="folder of .keras/.h5 models (default: ./models)")
    args = parser.parse_args(argv)

    if args.command == "serve" and args.model:  # `filters` and `reference precompute` take a model id
        args.models_dir = one_model_folder(args.model)
    if getattr(args, "models_dir", None):
        os.environ["CONVNET_VIS_MODELS_DIR"] = os.path.abspath(args.models_dir)
    if args.command == "filters":
        precompute_filters(args)
        return
    if args.command == "reference":
        (build_reference if args.reference_command == "build" else precompute_reference)(args)
        return
    import uvicorn

    from app import http_protocol
    from app.config import Settings
    from app.shutdown import FORCE_EXIT_SECONDS
    from app.ws_protocol import IMPORT_PATH

    settings = Settings()
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # Request heads bounded in size and time, pipelined requests in bytes (app/http_protocol.py).
        http=http_protocol.IMPORT_PATH if args.http == "limited" else "httptools",
        # Activation frames are base64 floats that barely compress: deflate costs more than it saves.
        ws_per_message_deflate=False,
        ws=IMPORT_PATH,
        # A live message over the app's limit is refused by uvicorn before it is buffered (close 1009).
        ws_max_size=settings.live_max_message_bytes,
        # The app stops long jobs after the grace period (app/shutdown.py); uvicorn cancels whatever
        # request is left a moment later, and the process exits by FORCE_EXIT_SECONDS at the latest.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds + FORCE_EXIT_SECONDS / 2,
    )


def one_model_folder(model_file: str) -> str:
    """A temporary folder holding only links to that file and the files its card names, so the
    registry (which serves a folder) serves exactly that model; removed at exit."""
    import atexit
    import json
    import shutil
    import tempfile
    from pathlib import Path

    source = Path(model_file).resolve()
    if not source.is_file() or source.suffix not in (".keras", ".h5"):
        raise SystemExit(f"--model: {model_file} is not a .keras or .h5 file")
    folder = Path(tempfile.mkdtemp(prefix="convnet-vis-one-model-"))
    atexit.register(shutil.rmtree, folder, True)
    links = [source]
    card = source.with_suffix(".json")
    if card.is_file():
        links.append(card)
        reference = json.loads(card.read_text()).get("reference")
        if isinstance(reference, str) and (source.parent / reference).is_file():
            links.append(source.parent / reference)
    for path in links:
        (folder / path.name).symlink_to(path)
    return str(folder)


def precompute_filters(args: argparse.Namespace) -> None:
    """Fill the on-disk cache, so the page shows these atlases instantly."""
    import time

    from app.cache import ArrayCache
    from app.config import Settings
    from app.graph import LayerNeed
    from app.registry import ModelRegistry
    from app.services.filters import FilterPatterns, check
    from app.viz.filters import Options

    settings = Settings()
    served = ModelRegistry.from_settings(settings).get(args.model)
    patterns = FilterPatterns(ArrayCache(settings.cache_dir / "filters"))
    options = Options(steps=args.steps, seed=args.seed)
    for layer in args.layer or served.graph.layers.matching(LayerNeed.channels):
        check(served, layer)
        started = time.perf_counter()
        result = patterns.atlas(served, layer, options)
        print(f"{served.id} {layer}: {len(result['activations'])} patterns in {time.perf_counter() - started:.1f} s")


def build_reference(args: argparse.Namespace) -> None:
    """FOLDER/<label>/*.png|jpg|... -> x (uint8 images), y (label index, subfolders in sorted order)."""
    from pathlib import Path

    import numpy as np
    from PIL import Image, ImageOps

    height, width = (int(v) for v in args.size.lower().split("x"))
    folders = sorted(p for p in Path(args.folder).iterdir() if p.is_dir())
    images, labels = [], []
    for label, folder in enumerate(folders):
        for path in sorted(folder.iterdir()):
            try:
                with Image.open(path) as image:
                    picture = ImageOps.exif_transpose(image).convert("L" if args.gray else "RGB").resize((width, height))
            except OSError:
                print(f"skipped {path}: not an image")
                continue
            images.append(np.asarray(picture, np.uint8))
            labels.append(label)
    np.savez_compressed(args.out, x=np.stack(images), y=np.array(labels), indices=np.arange(len(labels)))
    print(f"wrote {args.out}: {len(labels)} images of {len(folders)} classes ({', '.join(f.name for f in folders)}).")
    print(f'Add "reference": "{Path(args.out).name}" to the model card, and the class names in this order.')


def precompute_reference(args: argparse.Namespace) -> None:
    import time

    from app.cache import ArrayCache
    from app.config import Settings
    from app.reference import ReferenceStore
    from app.registry import ModelRegistry
    from app.services.dataset import DatasetViews

    settings = Settings()
    served = ModelRegistry.from_settings(settings).get(args.model)
    views = DatasetViews(ReferenceStore(), ArrayCache(settings.cache_dir / "dataset"))
    views.load_shipped(served)  # a shipped map is not computed again
    started = time.perf_counter()
    count, mapped = views.precompute(served)
    print(f"{served.id}: top examples of every unit of {count} layers and the t-SNE map of {len(mapped['points'])} "
          f"reference images ({mapped['layer']}) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
