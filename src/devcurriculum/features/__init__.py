"""Clip features for the difficulty scores: the extractors (random ViT, DINOv2 from ONNX) and sharded extraction."""
