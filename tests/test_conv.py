"""Convolutions, pooling and layer normalization (issue 16 points 1-3, 7): values against independent NumPy loops,
gradients and second derivatives against central differences, compiled kernels on both backends against the
reference, and a Hessian-vector product of a small CNN against finite differences of its gradient."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order

R = np.random.default_rng(0)


def _conv_loop(x, w, stride, pads, dilation):
    """The definition: out[n, i, j, o] = sum over (a, b, c) of x_padded[n, i*s + a*d, j*s + b*d, c] w[a, b, c, o]."""
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, _, co = w.shape
    oh = (x.shape[1] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (x.shape[2] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    out = np.zeros((x.shape[0], oh, ow, co))
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        pixel = x[n, i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]]
                        out[n, i, j] += pixel @ w[a, b]
    return out


CASES = [((1, 1), "valid", (1, 1), ((0, 0), (0, 0))), ((2, 1), "same", (1, 1), ((1, 1), (0, 1))),
         ((1, 2), ((1, 0), (2, 1)), (2, 1), ((1, 0), (2, 1)))]


@pytest.mark.parametrize("stride, padding, dilation, pads", CASES, ids=["valid", "same stride 2", "explicit dilated"])
def test_conv2d_matches_the_definition_and_its_derivatives(stride, padding, dilation, pads):
    x, w = sd.tensor("x", ("batch", 5, 6, 2)), sd.tensor("w", (3, 2, 2, 3))
    X, W = R.standard_normal((2, 5, 6, 2)), R.standard_normal((3, 2, 2, 3))
    y = sd.conv2d(x, w, stride, padding, dilation)
    want = _conv_loop(X, W, stride, pads, dilation)
    np.testing.assert_allclose(sd.evaluate([y], {x: X, w: W})[0], want, rtol=1e-12, atol=1e-12)
    loss = sd.sum(sd.tanh(y))
    sd.check_grad(loss, [x, w], {x: X, w: W})
    check_second_order(loss, [w], {x: X, w: W})


def test_conv1d_and_pooling_match_numpy_loops():
    x, w = sd.tensor("x", ("batch", 7, 2)), sd.tensor("w", (3, 2, 4))
    X, W = R.standard_normal((2, 7, 2)), R.standard_normal((3, 2, 4))
    got = sd.evaluate([sd.conv1d(x, w, stride=2, padding="same")], {x: X, w: W})[0]
    want = _conv_loop(X[:, None], W[None], (1, 2), ((0, 0), (1, 1)), (1, 1))[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    image = sd.tensor("image", ("batch", 4, 6, 3))
    data = R.standard_normal((2, 4, 6, 3))
    pooled_max, pooled_avg, overlapping, global_avg = sd.evaluate(
        [sd.max_pool2d(image, 2), sd.avg_pool2d(image, (2, 3)), sd.max_pool2d(image, 3, stride=1),
         sd.global_avg_pool2d(image)], {image: data})
    np.testing.assert_array_equal(pooled_max, data.reshape(2, 2, 2, 3, 2, 3).max(axis=(2, 4)))
    np.testing.assert_allclose(pooled_avg, data.reshape(2, 2, 2, 2, 3, 3).mean(axis=(2, 4)), rtol=1e-14)
    np.testing.assert_array_equal(overlapping, np.array(
        [[[[data[n, i:i + 3, j:j + 3, c].max() for c in range(3)] for j in range(4)] for i in range(2)]
         for n in range(2)]))
    np.testing.assert_allclose(global_avg, data.mean(axis=(1, 2)), rtol=1e-14)
    sd.check_grad(sd.sum(sd.max_pool2d(image, 2) ** 2) + sd.sum(sd.avg_pool2d(image, 2) ** 3), image, {image: data})


def test_1d_pooling_matches_numpy_and_its_modules_and_spec_layers():
    x = sd.tensor("x", ("batch", 6, 2))
    data = R.standard_normal((3, 6, 2))
    pooled_max, pooled_avg, strided = sd.evaluate([sd.max_pool1d(x, 2), sd.avg_pool1d(x, 3), sd.max_pool1d(x, 3, 1)],
                                                  {x: data})
    np.testing.assert_array_equal(pooled_max, data.reshape(3, 3, 2, 2).max(axis=2))
    np.testing.assert_allclose(pooled_avg, data.reshape(3, 2, 3, 2).mean(axis=2), rtol=1e-14)
    np.testing.assert_array_equal(strided, np.stack([data[:, i:i + 3].max(axis=1) for i in range(4)], axis=1))
    sd.check_grad(sd.sum(sd.max_pool1d(x, 2) ** 2) + sd.sum(sd.avg_pool1d(x, 2) ** 3), x, {x: data})
    assert nn.MaxPool1D(2, name="mp1")(x).shape == ("batch", 3, 2)
    assert nn.AvgPool1D(3, name="ap1")(x).shape == ("batch", 2, 2)
    spec = sd.load_spec({"name": "pool1d_spec", "inputs": 12, "layers": [
        {"type": "reshape", "shape": [6, 2]}, {"type": "conv1d", "filters": 4, "kernel": 3, "padding": "same"},
        {"type": "maxpool1d"}, {"type": "avgpool1d", "window": 3}, {"type": "flatten"}, {"type": "dense", "units": 2}],
        "loss": {"type": "softmax_cross_entropy"}})
    assert spec.outputs == 2
    with pytest.raises(sd.ShapeError, match=r"\(N, L, C\)"):
        sd.max_pool1d(sd.tensor("flat", ("batch", 6)), 2)


def test_layer_norm_matches_numpy():
    layer = nn.LayerNorm(4, name="ln_test")
    x = sd.tensor("x", ("batch", 4))
    X = R.standard_normal((3, 4)) * 5 + 2
    params = {layer.gamma: np.array([1.0, 2.0, 0.5, -1.0]), layer.beta: np.array([0.0, 1.0, -1.0, 0.5])}
    got = sd.evaluate([layer(x)], {x: X, **params})[0]
    normal = (X - X.mean(1, keepdims=True)) / np.sqrt(X.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(got, normal * params[layer.gamma] + params[layer.beta], rtol=1e-12)
    sd.check_grad(sd.sum(sd.tanh(layer(x))), [x, layer.gamma], {x: X, **params})


def _tiny_cnn(name):
    x = sd.tensor("x", ("batch", 6, 6, 1))
    model = nn.Sequential([nn.Conv2D(1, 3, 3, padding="same", activation="tanh", name=f"{name}_c1"),
                           nn.MaxPool2D(2, name=f"{name}_p"), nn.Conv2D(3, 2, 2, activation="tanh", name=f"{name}_c2"),
                           nn.Flatten(name=f"{name}_f"), nn.LayerNorm(8, name=f"{name}_ln"),
                           nn.Dense(8, 2, name=f"{name}_d")], name=name)
    return model, x


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_small_cnn_compiles_to_the_reference_on_both_backends(backend):
    model, x = _tiny_cnn(f"cnn_{backend}")
    y = sd.tensor("y", ("batch",), "int64")
    params = model.parameters
    values = nn.initial_values(params.values(), seed=1)
    loss = nn.softmax_cross_entropy(model(x), y)
    outputs = [loss] + sd.grad(loss, list(params.values()))
    inputs = [x, y, *params.values()]
    args = [R.standard_normal((3, 6, 6, 1)), np.array([0, 1, 1]), *values.values()]
    got = sd.compile(inputs, outputs, backend=backend)(*args)
    for g, w in zip(got, sd.evaluate(outputs, dict(zip(inputs, args)))):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13)


def test_hessian_vector_product_of_a_small_cnn_matches_finite_differences_of_its_gradient():
    model, x = _tiny_cnn("cnn_hvp")
    kernel = model.parameters["cnn_hvp_c1_W"]
    values = nn.initial_values(model.parameters.values(), seed=2)
    feed = {x: R.standard_normal((2, 6, 6, 1)), **{model.parameters[k]: v for k, v in values.items()}}
    loss = sd.sum(model(x) ** 2)
    direction = R.standard_normal(kernel.shape)
    hv = sd.evaluate([sd.hvp(loss, kernel, sd.constant(direction))], feed)[0]
    gradient = sd.grad(loss, kernel)
    eps = 1e-5
    plus, minus = (sd.evaluate([gradient], {**feed, kernel: feed[kernel] + s * eps * direction})[0] for s in (1, -1))
    np.testing.assert_allclose(hv, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_layouts_and_shapes_are_named():
    with pytest.raises(sd.ShapeError, match=r"channels-last \(N, H, W, C\)"):
        sd.conv2d(sd.tensor("x", (2, 3, 4)), sd.tensor("w", (1, 1, 4, 2)))
    with pytest.raises(sd.ShapeError, match="C_in = 3"):
        sd.conv2d(sd.tensor("x", (2, 5, 5, 3)), sd.tensor("w", (2, 2, 4, 2)))
    # a channels-first image (its axis 1 holds w's C_in): the error says it is that layout and how to transpose
    with pytest.raises(sd.ShapeError, match=r"x looks like \(N, C, H, W\).*transpose"):
        sd.conv2d(sd.tensor("x", ("batch", 3, 8, 8)), sd.tensor("w", (3, 3, 3, 4)))
    with pytest.raises(sd.ShapeError, match=r"x looks like \(N, C, L\).*transpose"):
        sd.conv1d(sd.tensor("x", (2, 3, 8)), sd.tensor("w", (3, 3, 4)))
    with pytest.raises(sd.ShapeError, match="does not fit"):
        sd.conv2d(sd.tensor("x", (2, 2, 2, 1)), sd.tensor("w", (3, 3, 1, 1)))
    with pytest.raises(ValueError, match="padding must be"):
        sd.conv2d(sd.tensor("x", (2, 5, 5, 1)), sd.tensor("w", (3, 3, 1, 1)), padding="full")


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_max_pooling_ties_share_the_gradient_equally(backend):
    # Each window has three tied maxima: a third each (nested pairwise maximums would give 1/4, 1/4, 1/2).
    image = sd.tensor("tied_image", (1, 2, 4, 1))
    data = np.array([1.0, 1.0, 2.0, 0.0, 1.0, 0.5, 2.0, 2.0]).reshape(1, 2, 4, 1)
    grad = sd.grad(sd.sum(sd.max_pool2d(image, 2)), image)
    want = np.array([1 / 3, 1 / 3, 1 / 3, 0.0, 1 / 3, 0.0, 1 / 3, 1 / 3]).reshape(1, 2, 4, 1)
    np.testing.assert_allclose(sd.evaluate(grad, {image: data}), want, rtol=1e-15)
    np.testing.assert_allclose(sd.compile([image], grad, backend=backend)(data), want, rtol=1e-15)


def test_a_kernel_of_size_zero_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"Conv2D\('conv_k0'\): kernel_size must be a positive int or a pair of "
                                         r"them, got 0"):
        nn.Conv2D(2, 2, 0, name="conv_k0")
    with pytest.raises(ValueError, match=r"Conv1D\('conv1_k0'\): kernel_size must be a positive int or a tuple "
                                         r"of one, got \(0,\)"):
        nn.Conv1D(2, 2, (0,), name="conv1_k0")
    with pytest.raises(sd.ShapeError, match=r"conv2d: the kernel size \(0, 3\) \(w's shape\[:2\]\) must be "
                                            r"positive, got w of shape \(0, 3, 2, 1\)"):
        sd.conv2d(sd.tensor("x", ("batch", 4, 4, 2)), sd.tensor("w", (0, 3, 2, 1)))
    with pytest.raises(sd.ShapeError, match=r"conv1d: the kernel size \(0,\) \(w's shape\[:1\]\) must be "
                                            r"positive, got w of shape \(0, 2, 1\)"):
        sd.conv1d(sd.tensor("x", ("batch", 4, 2)), sd.tensor("w", (0, 2, 1)))


def test_sizes_may_be_numpy_integers_but_not_bools():
    x, w = sd.tensor("x", ("batch", 6, 6, 2)), sd.tensor("w", (3, 3, 2, 1))
    two = np.int64(2)
    assert sd.conv2d(x, w, stride=two) is sd.conv2d(x, w, stride=2)
    assert sd.conv2d(x, w, dilation=(two, 1), padding=((two, 0), (0, 1))) is \
        sd.conv2d(x, w, dilation=(2, 1), padding=((2, 0), (0, 1)))
    assert sd.max_pool2d(x, two) is sd.max_pool2d(x, 2)
    assert sd.avg_pool2d(x, np.array([2, 3])) is sd.avg_pool2d(x, (2, 3))
    layer = nn.Conv2D(np.int64(2), np.int32(4), np.int64(3), stride=np.int64(1), name="conv_np")
    assert layer.W.shape == (3, 3, 2, 4) and layer(x).shape == ("batch", 4, 4, 4)
    seq, kernel = sd.tensor("seq", ("batch", 7, 2)), sd.tensor("k", (3, 2, 1))
    assert sd.conv1d(seq, kernel, stride=two, padding=(two, 0)) is sd.conv1d(seq, kernel, stride=2, padding=(2, 0))
    assert sd.max_pool1d(seq, two) is sd.max_pool1d(seq, 2)
    assert nn.MaxPool1D(np.int64(3), name="pool_np")(seq).shape == ("batch", 2, 2)
    with pytest.raises(ValueError, match=r"conv2d: stride must be a positive int or a pair of them, got True"):
        sd.conv2d(x, w, stride=True)
    with pytest.raises(ValueError, match=r"MaxPool2D\('pool_bool'\): window must be .*, got \(2, False\)"):
        nn.MaxPool2D((2, False), name="pool_bool")


def test_1d_ops_name_themselves_and_the_value_given():
    x = sd.tensor("x", ("batch", 6, 2))
    assert sd.max_pool1d(x, (2,)) is sd.max_pool1d(x, 2)
    assert sd.avg_pool1d(x, (3,), (1,)) is sd.avg_pool1d(x, 3, 1)
    with pytest.raises(ValueError, match=r"^max_pool1d: window must be a positive int or a tuple of one, "
                                         r"got \(2, 2\)$"):
        sd.max_pool1d(x, (2, 2))
    with pytest.raises(ValueError, match=r"^avg_pool1d: stride must be a positive int or a tuple of one, got 0$"):
        sd.avg_pool1d(x, 2, 0)
    with pytest.raises(sd.ShapeError, match=r"^max_pool1d: a window of \(7,\) \(dilation \(1,\)\) does not fit "
                                            r"in \(6,\)"):
        sd.max_pool1d(x, 7)
    w = sd.tensor("w", (3, 2, 4))
    with pytest.raises(ValueError, match=r"^conv1d: dilation must be a positive int or a tuple of one, "
                                         r"got \(1, 2\)$"):
        sd.conv1d(x, w, dilation=(1, 2))
    with pytest.raises(ValueError, match=r"^conv1d: padding must be 'valid', 'same' or \(before, after\) of "
                                         r"ints >= 0, got 1$"):
        sd.conv1d(x, w, padding=1)
    layer = nn.Conv1D(2, 4, (3,), name="conv1_tuple")
    assert layer.W.shape == (3, 2, 4) and layer(x).shape == ("batch", 4, 4)
    with pytest.raises(ValueError, match=r"Conv1D\('conv1_pair'\): kernel_size must be a positive int or a tuple "
                                         r"of one, got \(3, 3\)"):
        nn.Conv1D(2, 4, (3, 3), name="conv1_pair")
