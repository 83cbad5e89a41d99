"""Names the command line offers before anything heavy is imported (no torch, no Captum here)."""

# FER2013's expression classes, in the order of its label column
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# attribution methods of fer_lib.attribution, in the order the saliency chapter shows them
METHODS: tuple[str, ...] = (
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "smoothgrad",
    "guided_backprop",
    "gradcam",
    "guided_gradcam",
    "occlusion",
)
# test-time augmentation of fer_lib.evaluate: the face; it and its mirror image; ten crops
TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")
