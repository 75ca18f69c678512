"""CIFAR-10 with VGG16-BN (conv stages of the ImageNet network at 32x32).

    python recipes/cifar10_vgg16_bn.py --data-dir DIR     # DIR holds cifar-10-batches-py/
    python recipes/cifar10_vgg16_bn.py --smoke --data-dir DIR

Reference: ~94.0% (common PyTorch reference repositories).
Measured: not measured here (full CIFAR-10 is not available on this project's machines).
"""


TARGET = "~94.0% (common PyTorch reference repositories)"

CONFIG = dict(
    name="cifar10_vgg16_bn",
    model="vgg16_bn",
    model_kwargs=dict(include_top=True, dropout=0.5),
    dataset="cifar10",
    epochs=200,
    batch_size=128,
    optimizer="sgd",
    lr=0.05,  # peak after 1 warm-up epoch; cosine to 0
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=1,
    augment=("crop", "flip"),
    crop_padding=4,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    seed=0,
    smoke=dict(epochs=1, train_examples=256, test_examples=128, model_kwargs=dict(width=0.125)),
)
