"""convnet-vis from Python: a client for a running server, and `show(model)` for notebooks.

    from convnet_vis import Client, show
    client = Client("http://127.0.0.1:8000")
    client.activations("mnist-convnet", digit)["outputs"]["conv1"]   # numpy, [26, 26, 32]
    show(my_keras_model)                                             # the page, inline in Jupyter

The server itself is the checkout's `app` package (`python -m app serve`); see README
"Python client and notebooks".
"""

from convnet_vis.client import Client
from convnet_vis.errors import ConvnetVisError
from convnet_vis.live import LiveChannel
from convnet_vis.notebook import serve, show

__all__ = ["Client", "ConvnetVisError", "LiveChannel", "serve", "show"]
