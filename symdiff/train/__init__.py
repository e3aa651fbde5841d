"""Training: optimizers compiled into the step, the fit loop, built-in data sets and loss curves.

```python
opt = sd.train.Adam(lr=1e-3)
trainer = sd.train.Trainer(model, x, y, nn.softmax_cross_entropy, opt, regularizer=nn.l2(model, 1e-4))
history = trainer.fit(X, Y, epochs=30, batch_size=32, validation_split=0.2, patience=5)
```
"""

from .checks import TrainingInputError
from .chunks import open_chunked, save_chunks
from .data import DATASETS, Dataset, load_dataset
from .history import INTERRUPTED, History, Monitor
from .metrics import METRICS
from .optimizers import OPTIMIZERS, SGD, Adagrad, Adam, Optimizer, RMSprop, Slot, get_optimizer, learning_rate
from .step import TrainStep
from .trainer import Trainer

__all__ = [
    "DATASETS", "INTERRUPTED", "METRICS", "OPTIMIZERS", "SGD", "Adagrad", "Adam", "Dataset", "History", "Monitor",
    "Optimizer", "RMSprop", "Slot", "TrainStep", "Trainer", "TrainingInputError", "get_optimizer", "learning_rate",
    "load_dataset", "open_chunked", "save_chunks",
]
