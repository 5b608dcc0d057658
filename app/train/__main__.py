"""Train a bundled model and write `<id>.keras` plus its model card.

    python -m app.train mnist-convnet --data path/to/mnist.npz --out models
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from app.train.architectures import ARCHITECTURES
from app.train.data import load_mnist, to_model_input


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.train", description=__doc__)
    parser.add_argument("model", choices=sorted(ARCHITECTURES))
    parser.add_argument("--data", help="MNIST .npz or folder of IDX files (default: Keras download)")
    parser.add_argument("--out", default="models", help="folder for the .keras file and card")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="train on the first N digits only (smoke tests)")
    parser.add_argument("--steps", type=int, help="stop each epoch after N batches (smoke tests)")
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> dict:
    import keras

    keras.utils.set_random_seed(args.seed)
    build, name, description = ARCHITECTURES[args.model]
    (x_train, y_train), (x_test, y_test) = load_mnist(args.data)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    x_train, x_test = to_model_input(x_train), to_model_input(x_test)

    model = build()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps,
        verbose=2,
    )
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / f"{args.model}.keras")
    card = {
        "id": args.model,
        "name": name,
        "description": description,
        "dataset": "MNIST (LeCun, Cortes, Burges): 60,000 training and 10,000 test digits",
        "classes": [str(digit) for digit in range(10)],
        "kind": "digits",
        "input_range": [0.0, 1.0],
        "parameters": int(model.count_params()),
        "test_accuracy": round(float(accuracy), 4),
        "test_set": f"full MNIST test set ({len(x_test)} digits)",
        "training": {
            "command": "python -m app.train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "seed": args.seed,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": "rmsprop",
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    (out / f"{args.model}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"{args.model}: test accuracy {accuracy:.4f}, wrote {out / (args.model + '.keras')}")
    return card


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
