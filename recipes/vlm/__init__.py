"""InfiR-VL-1.6B: image-text cleaning, GUI coordinates, three-stage recipes, a tiny CPU twin, ScreenSpot.

docs/PAPER.md section 5: SigLIP-So400m + MLP projector + InfiR-1B-Base; stage 1 trains the projector, stage 2
the ViT + projector, stage 3 everything. Heavy modules (torch, transformers, Megatron-Bridge) are imported
by the submodules that need them, never here.
"""
