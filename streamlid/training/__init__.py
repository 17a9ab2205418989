"""Training a model: manifests, the data bank, augmentation, the teacher and the training loop (`streamlid train`)."""
