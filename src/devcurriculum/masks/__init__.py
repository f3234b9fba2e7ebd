"""Token masks of the masked learners: VideoMAE tube masks and V-JEPA context / target block masks."""
