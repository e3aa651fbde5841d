"""Neural-network building blocks as graphs: layers, activations, losses, regularizers, initializers.

Everything is built from op-table builders, so every derivative order works and all of it compiles.
Parameters are named input tensors (``dense1_W``); ``model.parameters`` lists them and
``model.init(seed)`` draws their starting values, ready to feed to ``sd.evaluate``.
"""

from . import init
from .activations import (
    ACTIVATIONS,
    elu,
    get_activation,
    identity,
    l2_normalize,
    leaky_relu,
    prelu,
    register_activation,
    relu,
)
from .conv import AvgPool1D, AvgPool2D, Conv1D, Conv2D, Flatten, GlobalAvgPool2D, MaxPool1D, MaxPool2D, Reshape
from .custom import Elementwise, elementwise
from .dropout import Dropout, dropout_seed
from .init import Initializer, get_initializer
from .layers import Activation, Dense, Maxout, Model, PReLU, Sequential, as_module
from .losses import (
    batch_mean,
    binary_cross_entropy,
    check_labels,
    multiclass_hinge,
    softmax_cross_entropy,
    sparsemax_loss,
    squared_error,
    triplet_loss,
)
from .module import Module, ParameterSpec, initial_values, parameter, parameter_spec, parameters_of
from .normalization import BatchNorm, LayerNorm
from .rbf import RBF, kmeans
from .recurrent import GRU, LSTM, SimpleRNN
from .regularizers import elastic_net, l1, l2
from .sparsemax import sparsemax, sparsemax_threshold

__all__ = [
    "ACTIVATIONS", "AvgPool1D", "AvgPool2D", "BatchNorm", "Conv1D", "Conv2D", "Flatten", "GRU", "GlobalAvgPool2D",
    "LSTM", "LayerNorm", "MaxPool1D", "MaxPool2D", "RBF", "Reshape", "SimpleRNN", "Activation", "Dense", "Dropout",
    "Elementwise", "Initializer", "Maxout", "Model", "Module", "PReLU", "ParameterSpec", "Sequential", "as_module",
    "batch_mean", "binary_cross_entropy", "check_labels", "dropout_seed", "elastic_net", "elementwise", "elu",
    "get_activation", "get_initializer", "identity", "init", "initial_values", "kmeans", "l1", "l2", "l2_normalize",
    "leaky_relu", "multiclass_hinge", "parameter", "parameter_spec", "parameters_of", "prelu",
    "register_activation", "relu", "softmax_cross_entropy", "sparsemax", "sparsemax_loss", "sparsemax_threshold",
    "squared_error", "triplet_loss",
]
