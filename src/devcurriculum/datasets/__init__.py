"""The training corpus: manifests, the video index, decoding, clip and frame-pair caches, clip datasets."""
