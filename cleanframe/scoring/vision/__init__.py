"""Vision kernels: object-detection box scores (ObjectLab) and semantic-segmentation pixel scores.

Pure numpy on arrays; boxes arrive as one row per box with an integer image code, masks and
probabilities arrive as batches of images.
"""
