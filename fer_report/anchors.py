"""The original report's numbers and the published results the book compares with."""

from __future__ import annotations

# The original report's final epoch (its question 2), quoted as the reference to compare with.
ORIGINAL_FINAL = {"loss": 0.6485, "acc": 0.7597, "val_loss": 1.0013, "val_acc": 0.6510}

# Khaireddin & Chen 2021, VGG variant with ten-crop TTA, tuned on PublicTest: the honest single-model mark
HONEST_MARK = 0.7328

REPRODUCED = ("report_cnn", "simple_cnn")  # the models whose target is the original's val_acc

# Published FER2013 numbers, each with the protocol its source states; None where a source gives none.
ANCHORS = [
    {
        "source": "the original report (Keras, 4-block CNN)",
        "PublicTest": 0.6510,
        "PrivateTest": None,
        "PrivateTest (TTA)": None,
        "protocol": "final epoch's validation accuracy; its validation split is not stated beyond 'val'",
    },
    {
        "source": "Goodfellow et al. 2013: human accuracy (estimate)",
        "PublicTest": None,
        "PrivateTest": 0.65,
        "PrivateTest (TTA)": None,
        "protocol": "estimated on a small sample, +-5%",
    },
    {
        "source": "Goodfellow et al. 2013: challenge winner (Tang, SVM-loss CNN)",
        "PublicTest": None,
        "PrivateTest": 0.7116,
        "PrivateTest (TTA)": None,
        "protocol": "competition: PrivateTest hidden until the end",
    },
    {
        "source": "Khaireddin & Chen 2021 (VGG variant)",
        "PublicTest": None,
        "PrivateTest": None,
        "PrivateTest (TTA)": HONEST_MARK,
        "protocol": "tuned on PublicTest, reported once on PrivateTest with ten-crop TTA",
    },
    # The two repositories' scripts average ten crops at test time and keep the checkpoint with the best
    # PrivateTest accuracy (WuJie1010's mainpro_FER.py; LetheSec's dataset.py validates on PrivateTest).
    {
        "source": "Wu 2018, GitHub (VGG19)",
        "PublicTest": None,
        "PrivateTest": None,
        "PrivateTest (TTA)": 0.731,
        "protocol": "ten-crop; the epoch with the best PrivateTest accuracy kept (chosen on the test split)",
    },
    {
        "source": "Yuan 2021, GitHub (ResNet18)",
        "PublicTest": None,
        "PrivateTest": None,
        "PrivateTest (TTA)": 0.737,
        "protocol": (
            "ten-crop; PrivateTest is the validation split that chose the epoch (chosen on the test split)"
        ),
    },
]

# The comparison table's short names and what chose each number, in the order of ``ANCHORS``.
SHORT = {
    "the original report (Keras, 4-block CNN)": ("original report", "not stated"),
    "Goodfellow et al. 2013: human accuracy (estimate)": ("human (estimate)", "—"),
    "Goodfellow et al. 2013: challenge winner (Tang, SVM-loss CNN)": (
        "challenge winner (Tang)",
        "PublicTest",
    ),
    "Khaireddin & Chen 2021 (VGG variant)": ("Khaireddin & Chen (VGG)", "PublicTest"),
    "Wu 2018, GitHub (VGG19)": ("Wu (VGG19)", "PrivateTest"),
    "Yuan 2021, GitHub (ResNet18)": ("Yuan (ResNet18)", "PrivateTest"),
}
