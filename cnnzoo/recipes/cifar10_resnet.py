"""CIFAR-10 with the CIFAR ResNets of He et al. 2016 (section 4.2), their schedule.

    python recipes/cifar10_resnet.py --data-dir DIR --model resnet56   # DIR holds cifar-10-batches-py/
    python recipes/cifar10_resnet.py --smoke --data-dir DIR

Paper (Table 6): ResNet-20/32/44/56/110 91.25 / 92.49 / 92.83 / 93.03 / 93.39% test accuracy.
Schedule: SGD 0.1, momentum 0.9, weight decay 1e-4, batch 128, 64k iterations (164 epochs),
/10 at 32k and 48k iterations (epochs 82 and 123), pad-4 crop + flip, per-channel normalization.
Measured: not measured here (full CIFAR-10 is not available on this project's machines).
"""


TARGET = "ResNet-20/56/110 91.25 / 93.03 / 93.39% (He et al. 2016, Table 6)"

CONFIG = dict(
    name="cifar10_resnet",
    model="resnet20",  # --model resnet32 / resnet44 / resnet56 / resnet110
    dataset="cifar10",
    epochs=164,  # 64k iterations of 128 images over 50,000 images
    batch_size=128,
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    weight_decay=1e-4,  # Keras decouples it (times lr); He et al.'s is L2 in the gradient
    schedule="step",
    milestones=(82, 123),  # epochs: 32k and 48k iterations
    gamma=0.1,
    augment=("crop", "flip"),
    crop_padding=4,  # pixels
    mean=(0.4914, 0.4822, 0.4465),  # CIFAR-10 training-set channel statistics
    std=(0.2470, 0.2435, 0.2616),
    seed=0,
    smoke=dict(epochs=1, train_examples=256, test_examples=128),
)
