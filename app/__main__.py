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
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--log-level", default="info")
    precompute = commands.add_parser("filters", help="precompute filter atlases into the cache")
    precompute.add_argument("model", help="model id")
    precompute.add_argument("--layer", action="append", help="layer name (repeatable; default: every layer with channels)")
    precompute.add_argument("--steps", type=int, default=128)
    precompute.add_argument("--seed", type=int, default=0)
    precompute.add_argument("--models-dir", help="folder of .keras/.h5 models (default: ./models)")
    args = parser.parse_args(argv)

    if args.models_dir:
        os.environ["CONVNET_VIS_MODELS_DIR"] = os.path.abspath(args.models_dir)
    if args.command == "filters":
        precompute_filters(args)
        return
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # Activation frames are base64 floats that barely compress: deflate costs more than it saves.
        ws_per_message_deflate=False,
    )


def precompute_filters(args: argparse.Namespace) -> None:
    """Fill the on-disk cache, so the page shows these atlases instantly."""
    import time

    from app.cache import ArrayCache
    from app.config import Settings
    from app.registry import ModelRegistry
    from app.viz import filter_service

    settings = Settings()
    served = ModelRegistry.from_settings(settings).get(args.model)
    cache = ArrayCache(settings.cache_dir / "filters")
    for layer in args.layer or filter_service.filter_layers(served):
        filter_service.check_layer(served, layer)
        options = filter_service.make_options(served, args.steps, args.seed, None, 0.05, 2, 0.05)
        started = time.perf_counter()
        result = filter_service.atlas(served, layer, options, cache)
        print(f"{served.id} {layer}: {len(result['activations'])} patterns in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
