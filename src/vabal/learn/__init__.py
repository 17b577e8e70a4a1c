"""Learning: the classifiers (torchvision's ResNet with the CIFAR stem), their training loop
with on-device data and augmentation, CUDA graphs, evaluation and feature extraction."""
