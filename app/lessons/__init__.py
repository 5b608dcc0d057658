"""The course's lessons on the user's own input and model (issue 16): pure numpy, no HTTP.

    kernels.py     hand-made and learned kernels, one kernel slid over one map (stride, padding)
    pooling.py     max, average and L2-norm pooling of one map, and the layer's own pooling
    transforms.py  rotation, shift, zoom, shear and flip as one affine map; sweeps of one of them
    summary.py     Keras's model.summary() numbers and each Conv2D's depthwise-separable cost
    source.py      the map a lab works on: an input channel or one channel of a layer's output

The router is app/api/lessons.py; request and response models are in schemas.py here.
"""
