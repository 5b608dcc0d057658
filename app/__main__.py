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
    args = parser.parse_args(argv)

    if args.models_dir:
        os.environ["CONVNET_VIS_MODELS_DIR"] = os.path.abspath(args.models_dir)
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


if __name__ == "__main__":
    main()
