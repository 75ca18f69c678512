"""CIFAR-100 with the CIFAR ResNets (He et al.'s CIFAR-10 schedule, 100 classes).

    python recipes/cifar100_resnet.py --data-dir DIR --model resnet56   # DIR holds cifar-100-python/
    python recipes/cifar100_resnet.py --smoke --data-dir DIR

Reference: ResNet-20 68.8%, ResNet-56 72.6% (common PyTorch reference repositories).
Measured: not measured here (full CIFAR-100 is not available on this project's machines).
"""


TARGET = "ResNet-20 68.8%, ResNet-56 72.6% (common PyTorch reference repositories)"

CONFIG = dict(
    name="cifar100_resnet",
    model="resnet20",
    dataset="cifar100",
    epochs=164,
    batch_size=128,
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="step",
    milestones=(82, 123),
    gamma=0.1,
    augment=("crop", "flip"),
    crop_padding=4,
    mean=(0.5071, 0.4865, 0.4409),  # CIFAR-100 training-set channel statistics
    std=(0.2673, 0.2564, 0.2762),
    seed=0,
    smoke=dict(epochs=1, train_examples=256, test_examples=128),
)
