"""Training of the bundled MNIST models (`python -m app.train --help`)."""
