"""The U-Net of the paper, exactly: 268x268 in -> 148x148 out, 128,633 parameters.

Input scaling (x / 255) and the input batch-normalisation are layers of the model, so the
preprocessing is the same at training and at prediction. Every convolution is 'valid' except
the bottleneck's, so any input of size n = 16k + 12 gives an output of n - 120.
"""

from __future__ import annotations

from . import PATCH

DOWN = (20, 25, 30, 45)
BOTTLENECK = 40
UP = (20, 20, 20, 10)
# centre-crop of each shortcut, the same for every valid input size (see test_model.py)
SKIP_CROP = (56, 24, 8, 0)  # for the shortcuts of down blocks 1..4


def build_unet(bn_momentum: float = 0.9, dropout: float = 0.5, name: str = "steatosis_unet", input_size=None):
    """The network. ``bn_momentum`` 0.9, not Keras' 0.99: the moving statistics must settle in a
    short CPU training run, or inference mode predicts nothing (see DESIGN.md, Pitfalls)."""
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    def conv_bn_relu(x, filters, tag):
        x = layers.Conv2D(filters, 3, padding="valid", name=f"{tag}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{tag}_bn")(x)
        return layers.ReLU(name=f"{tag}_relu")(x)

    inputs = keras.Input(shape=(input_size, input_size, 3), name="rgb")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    x = layers.BatchNormalization(momentum=bn_momentum, name="input_bn")(x)
    skips = []
    for i, f in enumerate(DOWN, start=1):
        x = conv_bn_relu(x, f, f"down{i}a")
        x = conv_bn_relu(x, f, f"down{i}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{i}_pool")(x)
    x = layers.Conv2D(BOTTLENECK, 3, padding="same", activation="relu", name="bottleneck_conv3")(x)
    x = layers.Dropout(dropout, name="bottleneck_drop1")(x)
    x = layers.Conv2D(BOTTLENECK, 1, activation="relu", name="bottleneck_conv1a")(x)
    x = layers.Dropout(dropout, name="bottleneck_drop2")(x)
    x = layers.Conv2D(BOTTLENECK, 1, activation="relu", name="bottleneck_conv1b")(x)
    for j, f in enumerate(UP, start=1):
        level = len(DOWN) - j  # 3, 2, 1, 0
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{j}_upsample")(x)
        c = SKIP_CROP[level]
        skip = layers.Cropping2D(c, name=f"up{j}_crop")(skips[level]) if c else skips[level]
        x = layers.Concatenate(name=f"up{j}_concat")([x, skip])
        x = conv_bn_relu(x, f, f"up{j}a")
        x = conv_bn_relu(x, f, f"up{j}b")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="probability")(x)
    return keras.Model(inputs, outputs, name=name)


def conv_flops(n: int) -> float:
    """Multiply-adds x 2 of every convolution for one n x n input (forward pass)."""
    model = build_unet(input_size=n)
    total = 0.0
    import keras  # noqa: PLC0415

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            k = layer.kernel_size[0] * layer.kernel_size[1]
            cin = layer.input.shape[-1]
            total += 2.0 * k * cin * cout * h * w
    return total


__all__ = ["build_unet", "PATCH"]
