"""Sequential (pixel-by-pixel) MNIST with a temporal convolutional network.

    python recipes/seq_mnist_1d.py --data-dir ../shared/data
    python recipes/seq_mnist_1d.py --smoke

Each 28x28 image is read as a 784 x 1 sequence; the TCN (cnnzoo.tcn: 8 causal residual
levels, 25 channels, kernel 7, dilations 1..128, receptive field 3,067 steps) classifies
from its last step. Reference: TCN 99.0% (Bai, Kolter, Koltun 2018).
Measured (2 CPU cores, seed 0): 98.89% after 8 epochs, 38.5 minutes (about 290 s an epoch),
0.11 points short of the paper's 99.0%; the curve was still rising (98.55, 98.83, 98.83,
98.89% over the last four epochs): more epochs (--epochs 20) should close the gap, not measured.
"""


TARGET = "TCN 99.0% on pixel-by-pixel MNIST (Bai, Kolter, Koltun 2018)"

CONFIG = dict(
    name="seq_mnist_1d",
    model="tcn",
    dataset="mnist",
    sequence=True,  # 28x28x1 -> 784x1
    epochs=8,  # about 4 minutes each on 2 CPU cores
    batch_size=64,
    optimizer="adamw",
    lr=2e-3,  # the paper's Adam learning rate
    weight_decay=0.0,
    schedule="cosine",
    warmup_epochs=0.5,
    seed=0,
    smoke=dict(epochs=1, train_examples=256, test_examples=128, model_kwargs=dict(levels=2, channels=8)),
)
