"""infir-recipes: the InfiR small-reasoning-model recipe, end to end (curation -> data -> training -> eval)."""

__version__ = "0.1.0"
