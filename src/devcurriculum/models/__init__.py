"""The self-supervised learners (VideoMAE, V-JEPA, SimCLR) behind one Objective contract, their losses, the registry."""
