"""MAC counting against hand-computed arithmetic and the ResNet paper's count."""

import keras
import pytest

from tfvideo import profile


def test_conv_depthwise_dense_macs_match_arithmetic():
    model = keras.Sequential(
        [
            keras.Input((10, 12, 3)),
            keras.layers.Conv2D(8, 3, strides=2, padding="same"),  # 5x6 outputs
            keras.layers.DepthwiseConv2D((3, 1), padding="same"),  # 5x6x8 outputs, 3 taps
            keras.layers.Conv2D(6, 1, groups=2),  # 5x6x6 outputs, 4 inputs each
            keras.layers.Flatten(),
            keras.layers.Dense(7),
        ]
    )
    expected = 5 * 6 * 8 * (3 * 3 * 3) + 5 * 6 * 8 * 3 + 5 * 6 * 6 * 4 + (5 * 6 * 6) * 7
    assert profile.count_macs(model) == expected


def test_conv3d_and_einsum_dense_are_counted():
    model = keras.Sequential(
        [
            keras.Input((4, 6, 6, 2)),
            keras.layers.Conv3D(3, (3, 3, 3), padding="valid"),  # 2x4x4x3 outputs
            keras.layers.EinsumDense("btxyc,cd->btxyd", output_shape=(2, 4, 4, 5)),
        ]
    )
    expected = 2 * 4 * 4 * 3 * (27 * 2) + 2 * 4 * 4 * 3 * 5
    assert profile.count_macs(model) == expected


def test_resnet50_matches_the_resnet_paper():
    # He et al. 2016, Table 1: ResNet-50 has 3.8e9 FLOPs (multiply-adds) at 224x224.
    macs = profile.count_macs(keras.applications.ResNet50(weights=None))
    assert 3.8e9 <= macs <= 3.9e9


def test_counting_leaves_ops_unpatched():
    original = keras.ops.conv
    profile.count_macs(keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3)]))
    assert keras.ops.conv is original


def test_unknown_input_shape_is_a_clear_error():
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="fixed input shape"):
        profile.count_macs(model)


def test_params_exclude_batch_norm_running_statistics_even_when_frozen():
    model = keras.Sequential(
        [
            keras.Input((4, 4, 3)),
            keras.layers.Conv2D(2, 3, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
    )
    model.trainable = False
    # conv 3*3*3*2 = 54, BN gamma + beta = 4; the moving mean/variance (4) are not parameters.
    assert profile.count_params(model) == 58
    assert model.count_params() == 62
