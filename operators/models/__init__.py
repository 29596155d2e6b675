"""The architectures, one module each; a module registers its builder (``@register``) where it defines it,
with the setup ``pdeop bench`` trains it with (``bench=``) beside the registration.

Importing this package registers them all; ``operators.build`` and ``operators.available`` see them.
"""

from operators.models import autoencoder, dit, fno, localno, mgno, observer, sinenet, stagger, unet, vit

__all__ = ["autoencoder", "dit", "fno", "localno", "mgno", "observer", "sinenet", "stagger", "unet", "vit"]
