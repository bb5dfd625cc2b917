"""Self-supervised continued pretraining of backbones on the unlabelled pool."""
